"""``vaekit disentangle``: MIG, FactorVAE score, DCI and SAP against known factors of variation."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_run_and_data

if TYPE_CHECKING:
    from vaekit.latent.disentanglement import DisentanglementScores

ORDER = 54

DESCRIPTION = """\
Score how disentangled a model's code is: whether each known factor of variation of DATA
(position, size, shape...) is carried by a single latent dimension. Four standard metrics,
each 1 for a perfectly disentangled code:

  MIG        mutual information gap (0 for a code unrelated to the factors)
  FactorVAE  accuracy of predicting a fixed factor from the least-varying dimension
             (chance level, 1/number of factors, for an unrelated code)
  DCI        disentanglement and completeness from random-forest importances, and
             informativeness (their held-out accuracy)
  SAP        gap in predictability between the two best single dimensions (0 when unrelated)

The built-in `shapes` data set has its factors (shape, scale, rotation, x, y). For your own
data, pass --factors FILE with one row per example of DATA, in DATA's order:

  .csv / .parquet  a header row names the factors; numbers, or text for categories
                     pose,light,person
                     -30,0.8,alice
                     15,0.2,bob
  .npy             a numeric array (N,) or (N, K); the factors are named factor0, factor1...

Every example needs every factor (no empty cells). A factor with at most 64 distinct values
is a set of classes; one with more (a continuous factor) is cut into 20 equal-width bins.
--out draws the normalised mutual information of every dimension with every factor.

examples:
  vaekit disentangle runs/shapes shapes
  vaekit disentangle runs/shapes shapes --json --out mi.png
  vaekit disentangle runs/faces faces/ --factors faces_pose.csv
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "disentangle", "disentanglement metrics (MIG, FactorVAE, DCI, SAP)", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--factors", metavar="FILE",
                   help="known factors of DATA: .csv/.parquet/.npy, one row per example (see above)")
    p.add_argument("--seed", type=int, default=0, help="seed of the metrics' random splits and draws")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="FILE.png", help="also draw the dimension-by-factor mutual information")
    add_data_options(p)
    p.set_defaults(run=run_disentangle)


def format_scores(s: DisentanglementScores) -> str:
    chance = 1 / len(s.factor_names)
    lines = [
        f"MIG                  {s.mig:.3f}",
        f"FactorVAE score      {s.factor_vae:.3f}   (chance {chance:.3f})",
        f"DCI disentanglement  {s.dci_disentanglement:.3f}",
        f"DCI completeness     {s.dci_completeness:.3f}",
        f"DCI informativeness  {s.dci_informativeness:.3f}   (held-out accuracy)",
        f"SAP                  {s.sap:.3f}",
        "per factor           MIG    SAP   completeness  informativeness  best dimension",
    ]
    best = np.argmax(np.asarray(s.normalized_mi), axis=0)
    for k, name in enumerate(s.factor_names):
        p = {key: values[k] for key, values in s.per_factor.items()}
        lines.append(f"  {name:<18.18s} {p['mig']:.3f}  {p['sap']:.3f}  {p['completeness']:12.3f}  "
                     f"{p['informativeness']:15.3f}  z{best[k]}")
    return "\n".join(lines)


def run_disentangle(args: argparse.Namespace) -> int:
    from vaekit.latent.disentanglement import score_model
    from vaekit.latent.plots import plot_factor_matrix

    out = check_output(args.out, (".png",)) if args.out else None
    vae, data = load_run_and_data(args)
    scores = score_model(vae, data, args.seed)
    if out is not None:
        plot_factor_matrix(np.asarray(scores.normalized_mi), out, scores.factor_names,
                           "mutual information / factor entropy")
    print(json.dumps(scores.to_dict()) if args.json else format_scores(scores))
    return 0
