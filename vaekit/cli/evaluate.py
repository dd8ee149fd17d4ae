"""``vaekit evaluate``: the honest numbers of a trained model on some data."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, data_help, load_data
from vaekit.errors import VaekitError

ORDER = 20

DESCRIPTION = """\
Evaluate a trained run on DATA (usually held-out test data). Prints, per example in nats:
the ELBO and its two terms, the negative log-likelihood estimated with K importance samples
(the IWAE bound, which tightens towards -log p(x) as K grows; K=5000 is the usual standard),
bits per dimension (for discrete likelihoods), reconstruction MSE, KL per latent dimension and
the number of active units (latent dimensions whose posterior mean varies across the data:
Cov_x(E_q[z_u]) > 0.01, Burda et al. 2015).

examples:
  vaekit evaluate runs/digits digits
  vaekit evaluate runs/mnist t10k-images-idx3-ubyte.gz --iw-samples 5000 --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "evaluate", "test ELBO, importance-weighted NLL, bits/dim, active units", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--iw-samples", type=int, default=1000, metavar="K",
                   help="importance samples for the NLL estimate (memory stays bounded for any K)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_data_options(p)
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from vaekit.estimator import load

    if args.iw_samples < 1:
        raise VaekitError("--iw-samples must be at least 1")
    vae = load(args.run_dir)
    data = load_data(args.data, args)
    result = vae.evaluate(data, iw_samples=args.iw_samples, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps(result))
    else:
        print(format_report(result))
    return 0


def format_report(r: dict) -> str:
    lines = [
        f"examples            {r['n_examples']}",
        f"ELBO                {r['elbo']:.3f} nats  (reconstruction {r['recon']:.3f} + KL {r['kl']:.3f})",
        f"NLL (IWAE k={r['iw_samples']}) {r['nll']:.3f} nats",
    ]
    if r["bits_per_dim"] is not None:
        lines.append(f"bits per dim        {r['bits_per_dim']:.4f}")
    lines += [
        f"reconstruction MSE  {r['recon_mse']:.5f}  (model units)",
        f"active units        {r['active_units']} of {r['latent_dim']}",
    ]
    if r["kl_per_layer"] is not None:
        lines += [f"KL of layer {i + 1} (bottom first) {kl:.3f} nats" for i, kl in enumerate(r["kl_per_layer"])]
    if r["kl_per_dim"] is None:
        return "\n".join(lines + ["(this prior has no per-dimension KL)"])
    lines.append("KL per dimension (largest first):")
    for u in np.argsort(r["kl_per_dim"])[::-1]:
        marker = "active" if r["activity"][u] > 0.01 else "inactive"
        lines.append(f"  z{u:<3d} KL {r['kl_per_dim'][u]:7.3f}  Cov_x(E[z]) {r['activity'][u]:7.3f}  {marker}")
    return "\n".join(lines)
