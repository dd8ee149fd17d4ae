"""``vaekit traverse``: vary one latent dimension at a time and decode (the disentanglement picture)."""

from __future__ import annotations

import argparse

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_data
from vaekit.errors import VaekitError
from vaekit.latent.traversal import check_dims, traversal_values

ORDER = 53

DESCRIPTION = """\
Start from a base code (the origin, or the posterior mean of an example of DATA), set one
latent dimension at a time to --steps values over --range (in prior standard deviations)
and decode: one row per dimension. In a disentangled model each row changes one property
of the data (position, size, stroke width...) and leaves the rest alone; an inactive
dimension gives a row of identical pictures.

With DATA, dimensions are ordered by their KL to the prior over DATA, most informative
first, and the first --top are drawn; --dims picks dimensions explicitly.

Output: images as a .png grid or a .npy array [dims, steps, C, H, W]; tables as a .csv of
decoded rows in original units or a .png of how each column responds to each dimension.

examples:
  vaekit traverse runs/digits digits --out traverse.png
  vaekit traverse runs/digits --dims 0 3 5 --range -2 2 --out traverse.png
  vaekit traverse runs/shapes shapes --base 17 --steps 11 --out traverse.png
  vaekit traverse runs/wine wine --base 0 --out traverse.csv
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "traverse", "vary one latent dimension at a time", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", nargs="?",
                   help="optional: orders dimensions by KL and supplies --base examples; " + data_help())
    p.add_argument("--dims", type=int, nargs="+", metavar="U", help="latent dimensions to traverse, in order")
    p.add_argument("--top", type=int, default=10, help="without --dims: how many dimensions to draw")
    p.add_argument("--range", type=float, nargs=2, default=(-3.0, 3.0), metavar=("LOW", "HIGH"),
                   help="values each dimension takes")
    p.add_argument("--steps", type=int, default=9, help="values per dimension")
    p.add_argument("--base", default="origin", metavar="origin|EXAMPLE",
                   help="the code the traversal starts from: the origin, or an example of DATA (a number, "
                        "a name, or a file as in `vaekit interpolate --from`)")
    p.add_argument("--out", required=True, metavar="FILE", help=".png or .npy for images, .csv or .png for tables")
    add_data_options(p)
    p.set_defaults(run=run_traverse)


def run_traverse(args: argparse.Namespace) -> int:
    from vaekit.data.example_lookup import find_example
    from vaekit.estimator import load
    from vaekit.latent.dims import latent_dimensions
    from vaekit.latent.pictures import draw_traversal

    vae = load(args.run_dir)
    pre = vae.preprocessor_
    out = check_output(args.out, (".png", ".npy") if pre.kind == "image" else (".csv", ".png"))
    values = traversal_values(*args.range, args.steps)
    if args.top < 1:
        raise VaekitError(f"--top must be at least 1, got {args.top}")
    latent_dim = vae.module_.latent_dim
    stats = data = None
    if args.data is not None:
        data = pre.check(load_data(args.data, args))
        stats = latent_dimensions(vae, data)
    if args.dims:
        dims = check_dims(args.dims, latent_dim)
    else:
        dims = (stats.order if stats is not None else list(range(latent_dim)))[: args.top]
    if args.base == "origin":
        base, base_name = np.zeros(latent_dim, dtype=np.float32), "the origin"
    elif data is None:
        raise VaekitError(f"--base {args.base}: give DATA to take the base code from one of its examples")
    else:
        example, name = find_example(data, args.base, "--base", pre)
        base, base_name = vae.transform(example)[0], f"example {name}"
    draw_traversal(vae, base, base_name, dims, values, out, stats)
    if stats is None and not args.dims:
        print("dimensions in index order; give DATA to order them by KL")
    print(f"wrote {out}")
    return 0
