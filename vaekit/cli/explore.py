"""``vaekit explore``: an interactive latent-space explorer in the browser."""

from __future__ import annotations

import argparse
import sys

from vaekit.cli.common import add_data_options, add_parser, data_help, load_data
from vaekit.errors import VaekitError

ORDER = 55

DESCRIPTION = """\
Start a local web page for touching a trained model's latent space, and print its address.
Pictures in files show one view; here you move through the space and see what the decoder
makes of each place:

  - the 2-D latent map (PCA, t-SNE or UMAP), points coloured by label or by a table column;
    hovering a point shows the example and its reconstruction
  - clicking empty space decodes that location; picking two points draws the interpolation
  - sliders move the most informative latent dimensions (highest KL) of a base code
  - new samples at a chosen temperature, and each picked point's nearest neighbours

The server listens on 127.0.0.1 only (other machines cannot reach it) unless --host says
otherwise, needs no internet connection, and runs until Ctrl+C. At most --max-points
examples (a fixed random subset) are placed on the map.

examples:
  vaekit explore runs/digits digits
  vaekit explore runs/wine wine --port 8000
  vaekit explore runs/mnist mnist5k --max-points 3000
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "explore", "explore the latent space in the browser", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but 127.0.0.1 opens the page to your network")
    p.add_argument("--max-points", type=int, default=2000, help="most examples placed on the map")
    p.add_argument("--seed", type=int, default=0, help="random seed of the subset, t-SNE and UMAP")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no log of refused requests")
    add_data_options(p)
    p.set_defaults(run=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    from vaekit.estimator import load
    from vaekit.explorer import ExplorerServer, LatentExplorer

    if not 0 <= args.port <= 65535:
        raise VaekitError(f"--port must be between 0 and 65535, got {args.port}")
    vae = load(args.run_dir)
    data = load_data(args.data, args)
    explorer = LatentExplorer(vae, data, max_points=args.max_points, seed=args.seed,
                              progress=not args.quiet and sys.stderr.isatty())
    server = ExplorerServer(explorer, host=args.host, port=args.port, verbose=not args.quiet)
    print(f"vaekit explorer: {server.url}  ({explorer.n} examples; Ctrl+C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("vaekit explorer: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
