"""``vaekit latent``: a 2-D map of the latent space (PCA, t-SNE or UMAP)."""

from __future__ import annotations

import argparse
import sys

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_run_and_data
from vaekit.latent.maps import METHODS

ORDER = 50

DESCRIPTION = """\
Encode DATA to its posterior means E[z|x] and draw them in two dimensions, one dot per
example, coloured by the labels when DATA has them (or by --color-by). Writes the picture
FILE.png and, beside it, FILE.csv with each example's two coordinates (and label/colour),
for plotting elsewhere.

  pca   linear; distances and directions mean something; prints the share of the latent
        variance that each principal component explains, and writes it to FILE.variance.csv
  tsne  openTSNE's FFT-accelerated t-SNE: neighbourhoods and clusters, not distances
  umap  umap-learn: like t-SNE, often keeps more of the global layout

examples:
  vaekit latent runs/digits digits --out latent.png
  vaekit latent runs/digits digits --method tsne --out tsne.png
  vaekit latent runs/shapes shapes --method umap --color-by x --out umap_x.png
  vaekit latent runs/wine wine --color-by alcohol --out wine.png
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "latent", "2-D map of the latent codes (PCA, t-SNE, UMAP)", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--method", choices=METHODS, default="pca", help="how to map the codes to 2-D")
    p.add_argument("--color-by", metavar="labels|COLUMN",
                   help="labels, a table column or a known factor (default: labels, if DATA has them)")
    p.add_argument("--factors", metavar="FILE",
                   help="known factors of DATA, to colour by one (format: see `vaekit disentangle --help`)")
    p.add_argument("--seed", type=int, default=0, help="random seed of t-SNE and UMAP")
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="the picture; the coordinates go to FILE.csv, PCA's explained variance to "
                        "FILE.variance.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar or explained variance")
    add_data_options(p)
    p.set_defaults(run=run_latent)


def run_latent(args: argparse.Namespace) -> int:
    import torch

    from vaekit.latent.pictures import draw_latent_map

    out = check_output(args.out, (".png",))
    vae, data = load_run_and_data(args)
    info = draw_latent_map(vae, data, out, args.method, args.color_by, seed=args.seed,
                           n_jobs=torch.get_num_threads(), progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        if args.method == "pca":
            shares = ", ".join(f"PC{j + 1} {100 * r:.1f}%" for j, r in enumerate(info["explained_variance_ratio"]))
            print(f"explained variance per component: {shares}")
        print("wrote " + ", ".join(str(path) for path in info["files"]))
    return 0
