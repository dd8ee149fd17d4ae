"""``vaekit interpolate``: decode the path between the codes of two examples."""

from __future__ import annotations

import argparse

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_run_and_data
from vaekit.latent.interpolation import MODES, interpolate

ORDER = 52

DESCRIPTION = """\
Encode two examples to their posterior means, walk from one code to the other in --steps
steps and decode every point: a smooth strip means the latent space between them is
populated by plausible data. lerp walks the straight line; slerp walks along the sphere,
which is where codes drawn from the Gaussian prior lie (the straight line between two
typical codes passes closer to the origin than any of them).

--from and --to name an example of DATA by number (0 is the first), by file name (image
folders) or row label (tables), or give a file: any image (read at the model's size), or a
table or array holding one example, such as a one-row .csv with the training columns.

Output: images as a .png strip or a .npy array; tables as a .csv of decoded rows in the
original columns and units, or a .png of how each column moves along the path.

examples:
  vaekit interpolate runs/digits digits --from 0 --to 7 --out strip.png
  vaekit interpolate runs/digits digits --from 0 --to 7 --steps 16 --mode slerp --out strip.png
  vaekit interpolate runs/faces faces/ --from alice.png --to bob.png --out morph.png
  vaekit interpolate runs/wine wine --from 0 --to 150 --out path.csv
  vaekit interpolate runs/wine wine --from 0 --to my_wine.csv --out path.png
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "interpolate", "decode the path between two examples", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--from", dest="start", required=True, metavar="EXAMPLE",
                   help="where the path starts: a number, a name of DATA, or a file (an image, or one example)")
    p.add_argument("--to", dest="end", required=True, metavar="EXAMPLE", help="where the path ends")
    p.add_argument("--steps", type=int, default=10, help="decoded points, both ends included")
    p.add_argument("--mode", choices=MODES, default="lerp", help="straight line or along the sphere")
    p.add_argument("--out", required=True, metavar="FILE", help=".png or .npy for images, .csv or .png for tables")
    add_data_options(p)
    p.set_defaults(run=run_interpolate)


def run_interpolate(args: argparse.Namespace) -> int:
    from vaekit.data.example_lookup import find_example
    from vaekit.latent.pictures import draw_decoded

    vae, data = load_run_and_data(args)
    pre = vae.preprocessor_
    out = check_output(args.out, (".png", ".npy") if pre.kind == "image" else (".csv", ".png"))
    (start, start_name), (end, end_name) = (find_example(data, ref, option, pre)
                                            for ref, option in ((args.start, "--from"), (args.end, "--to")))
    codes = interpolate(vae.transform(start)[0], vae.transform(end)[0], args.steps, args.mode)
    label = f"{start_name} → {end_name}"
    draw_decoded(vae, codes[None], out, f"{args.mode} from {start_name} to {end_name}", [label],
                 np.linspace(0, 1, args.steps), "t", ("path", [label]))
    print(f"wrote {out}")
    return 0
