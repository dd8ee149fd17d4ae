"""``vaekit report``: one self-contained HTML page with every picture of a trained model."""

from __future__ import annotations

import argparse
import sys

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_run_and_data
from vaekit.errors import VaekitError
from vaekit.latent.maps import METHODS

ORDER = 56

DESCRIPTION = """\
Write one HTML file that shows what a trained model learned from DATA: a summary (model,
training, ELBO), training curves, reconstructions, samples from the prior, latent maps
(PCA with explained variance, t-SNE), traversals of the most informative dimensions,
KL and activity per dimension, and, where DATA has known factors of variation (the
built-in shapes data, or --factors FILE), the disentanglement metrics. Every figure is
embedded in the file, so it opens offline in any browser and can be sent as it is.
For a table, samples are histograms against the data's, reconstructions a scatter per
column, and traversals show how each column responds to each dimension.

examples:
  vaekit report runs/digits digits --out report.html
  vaekit report runs/shapes shapes --maps pca tsne umap --out shapes.html
  vaekit report runs/wine wine --maps pca --out wine.html
  vaekit report runs/faces faces/ --factors faces_pose.csv --out faces.html
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "report", "one self-contained HTML report of a run", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--out", required=True, metavar="FILE.html", help="the report to write")
    p.add_argument("--maps", nargs="+", choices=METHODS, default=["pca", "tsne"], help="latent maps to draw")
    p.add_argument("--max-points", type=int, default=5000, help="examples drawn in the latent maps (a random "
                                                                "subset beyond this)")
    p.add_argument("--factors", metavar="FILE",
                   help="known factors of DATA, for the metrics (format: see `vaekit disentangle --help`)")
    p.add_argument("--seed", type=int, default=0, help="seed of the map subset, t-SNE/UMAP and the metrics")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_options(p)
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from vaekit.report import write_report

    out = check_output(args.out, (".html", ".htm"))
    if args.max_points < 2:
        raise VaekitError(f"--max-points must be at least 2, got {args.max_points}")
    vae, data = load_run_and_data(args)
    write_report(vae, data, out, run_name=str(args.run_dir), maps=args.maps, max_points=args.max_points,
                 seed=args.seed, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"wrote {out}")
    return 0
