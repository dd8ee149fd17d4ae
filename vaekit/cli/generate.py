"""``vaekit sample`` and ``vaekit reconstruct``: data out of a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_data
from vaekit.errors import VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    from vaekit.estimator import VAE

ORDER = 30

SAMPLE_DESCRIPTION = """\
Draw codes from the prior, decode them and write the result: a picture grid (.png) or an array
(.npy) for images, a table in the original columns and units (.csv) for tables. --temperature
scales the prior's standard deviation (below 1 gives more typical, less varied samples; for a
mixture or ladder prior, around each component's or layer's mean).

examples:
  vaekit sample runs/digits -n 64 --out samples.png
  vaekit sample runs/digits -n 64 --temperature 0.7 --seed 1 --out typical.png
  vaekit sample runs/table -n 1000 --out synthetic.csv
"""

RECONSTRUCT_DESCRIPTION = """\
Encode DATA to its posterior mean and decode it again. Images: a .png of originals above their
reconstructions (first -n examples) or a .npy of all reconstructions; tables: a .csv of all rows.

examples:
  vaekit reconstruct runs/digits digits --out recon.png
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "sample", "generate new examples", SAMPLE_DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior's standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help=".png or .npy for images, .csv for tables")
    p.set_defaults(run=run_sample)

    p = add_parser(sub, "reconstruct", "encode and decode data", RECONSTRUCT_DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("-n", type=int, default=32, help="images: examples shown in a .png")
    p.add_argument("--out", required=True, metavar="FILE", help=".png or .npy for images, .csv for tables")
    add_data_options(p)
    p.set_defaults(run=run_reconstruct)


def _write_array(vae: VAE, values: np.ndarray, out: Path, index: list | None = None) -> None:
    if out.suffix == ".npy":
        with atomic.atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, values)
    elif out.suffix == ".csv":  # text, category and boolean columns as the values they stand for
        atomic.write_text(out, vae.to_frame(values, index).to_csv(index=index is not None))


def _outputs(vae: VAE) -> tuple[str, ...]:
    return (".png", ".npy") if vae.preprocessor_.kind == "image" else (".csv",)


def run_sample(args: argparse.Namespace) -> int:
    from vaekit.estimator import load
    from vaekit.pictures.plots import plot_images

    if args.n < 1:
        raise VaekitError(f"-n must be at least 1, got {args.n}")
    if not args.temperature > 0:
        raise VaekitError(f"--temperature must be positive, got {args.temperature}")
    vae = load(args.run_dir)
    out = check_output(args.out, _outputs(vae))
    values = vae.sample(args.n, temperature=args.temperature, seed=args.seed)
    if out.suffix == ".png":
        plot_images(vae.preprocessor_.transform(values), out, f"{args.n} samples, temperature {args.temperature}")
    else:
        _write_array(vae, values, out)
    print(f"wrote {out}")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    from vaekit.estimator import load
    from vaekit.pictures.plots import plot_reconstructions

    vae = load(args.run_dir)
    out = check_output(args.out, _outputs(vae))
    data = load_data(args.data, args)
    if out.suffix == ".png":
        shown = data.subset(np.arange(min(args.n, data.n)))
        pre = vae.preprocessor_
        plot_reconstructions(pre.transform(shown.x), pre.transform(vae.reconstruct(shown)), out)
    else:
        _write_array(vae, vae.reconstruct(data), out, data.index)
    print(f"wrote {out}")
    return 0
