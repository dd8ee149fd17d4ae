"""``vaekit inpaint``: fill damaged pixels of images from a trained model."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_data
from vaekit.errors import VaekitError
from vaekit.io import atomic

ORDER = 41

DESCRIPTION = """\
Damage IMAGES with a mask and fill the damaged pixels from a model trained by `vaekit train`, then
write the before/after picture: originals, damaged pixels in red, and the inpainted images.

The filled pixels are the importance-weighted conditional mean given the undamaged ones: K
(--iw-samples) codes are proposed by the encoder and weighted by p(x_kept|z) p(z) / q(z|x_kept),
so even a model trained on complete images conditions correctly; one trained on images with
gaps (NaN pixels, --allow-missing) also proposes better codes. Pixels already NaN in IMAGES
count as damaged too.

--mask rect hides the central block (half the height, half the width); random hides each pixel
with probability --rate; a FILE (.npy, or a black-and-white PNG: white = damaged) gives one mask
for all images (h, w) or one per image.

examples:
  vaekit inpaint runs/digits digits --mask rect --out inpainted.png
  vaekit inpaint runs/mnist t10k-images-idx3-ubyte.gz --mask random --rate 0.7 --out inpainted.png
  vaekit inpaint runs/faces photos/ --mask scratches.png --out after.png --save filled.npy
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "inpaint", "fill damaged pixels of images, with before/after pictures", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train` on images")
    p.add_argument("data", metavar="IMAGES", help=data_help())
    p.add_argument("--mask", required=True, metavar="rect|random|FILE", help="which pixels are damaged")
    p.add_argument("--rate", type=float, default=0.5, help="--mask random: share of pixels damaged")
    p.add_argument("--out", required=True, metavar="PNG", help="the before/after picture (.png)")
    p.add_argument("--save", metavar="NPY", help="also write all inpainted images (.npy, original units)")
    p.add_argument("-n", type=int, default=16, help="examples shown in the picture")
    p.add_argument("--iw-samples", type=int, default=1000, metavar="K", help="importance samples per image")
    p.add_argument("--seed", type=int, default=0, help="seed of the random mask and of the importance samples")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    p.set_defaults(run=run_inpaint)


def run_inpaint(args: argparse.Namespace) -> int:
    from vaekit.estimator import load
    from vaekit.missing_data.imputation import fill_values
    from vaekit.missing_data.inpainting import make_mask, plot_inpainting

    if args.n < 1 or args.iw_samples < 1:
        raise VaekitError("-n and --iw-samples must be at least 1")
    vae = load(args.run_dir)
    if vae.preprocessor_.kind != "image":
        raise VaekitError(f"{args.run_dir} models tables; fill missing cells with `vaekit impute`")
    out = check_output(args.out, (".png",))
    save = None if args.save is None else check_output(args.save, (".npy",))
    data = load_data(args.data, args, allow_missing=True)
    vae.preprocessor_.check(data)
    damaged_x = np.array(data.x, dtype=np.float32)
    damaged_x[make_mask(args.mask, damaged_x.shape, args.rate, args.seed)] = np.nan
    missing, (values,) = fill_values(vae, dataclasses.replace(data, x=damaged_x), iw_samples=args.iw_samples,
                                     seed=args.seed,
                                     progress=not args.quiet and sys.stderr.isatty())
    filled = np.where(missing, values, damaged_x)
    shown = slice(0, min(args.n, data.n))
    pre = vae.preprocessor_
    plot_inpainting(pre.transform(np.asarray(data.x[shown], np.float32)), pre.transform(damaged_x[shown]),
                    pre.transform(filled[shown]), out)
    if save is not None:
        with atomic.atomic_path(save) as tmp, open(tmp, "wb") as fh:
            np.save(fh, filled)
    if not args.quiet:
        print(f"inpainted {int(missing.sum())} pixel(s) in {int(missing.reshape(data.n, -1).any(1).sum())} "
              f"image(s); wrote {out}" + (f" and {save}" if save else ""))
    return 0
