"""``vaekit dims``: which latent dimensions carry information (KL per dimension, active units)."""

from __future__ import annotations

import argparse
import json

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_run_and_data

ORDER = 51

DESCRIPTION = """\
For each latent dimension u, over DATA: the KL divergence of q(z_u|x) from the prior p(z_u)
(nats, averaged over examples) and its activity Cov_x(E_q[z_u]). A dimension with KL near 0
and activity below 0.01 is inactive: it carries no information and the decoder ignores it
(posterior collapse). A strong beta or a large latent size leaves many dimensions inactive.
Writes a bar chart (--out) and prints one line per dimension, most informative first.

examples:
  vaekit dims runs/digits digits --out dims.png
  vaekit dims runs/digits digits --out dims.png --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "dims", "KL per latent dimension and active units, as a bar chart", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--out", required=True, metavar="FILE.png", help="the bar chart")
    p.add_argument("--json", action="store_true", help="print the per-dimension numbers as JSON")
    add_data_options(p)
    p.set_defaults(run=run_dims)


def run_dims(args: argparse.Namespace) -> int:
    from vaekit.latent.dims import latent_dimensions
    from vaekit.latent.plots import plot_dimensions

    out = check_output(args.out, (".png",))
    vae, data = load_run_and_data(args)
    dims = latent_dimensions(vae, data)
    plot_dimensions(dims, out)
    rows = dims.rows()
    if args.json:
        print(json.dumps({"active_units": int(dims.active.sum()), "latent_dim": len(rows), "dims": rows}))
        return 0
    print(f"active units: {int(dims.active.sum())} of {len(rows)} (Cov_x(E[z_u]) > 0.01)")
    for r in rows:
        print(f"  z{r['dim']:<3d} KL {r['kl']:7.3f} nats  activity {r['activity']:8.4f}  "
              f"{'active' if r['active'] else 'inactive'}")
    print(f"wrote {out}")
    return 0
