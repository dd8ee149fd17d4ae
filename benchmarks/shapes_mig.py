"""beta-VAE against the plain VAE (beta = 1) on the procedural shapes: which code is more disentangled?

Higgins et al. (2017) found that weighting the KL term by beta > 1 pushes a VAE towards
codes whose dimensions each follow one factor of variation. This script trains the same
MLP VAE on vaekit's built-in ``shapes`` images (factors shape, scale, rotation, x, y) with
each beta and seed, then scores the posterior means of held-out shapes (drawn with another
seed) with MIG, the FactorVAE score, DCI and SAP, and prints one markdown table: per beta
the mean over seeds (per-seed MIG in brackets), the test ELBO and active units.

    OMP_NUM_THREADS=1 python benchmarks/shapes_mig.py                       # beta 1, 4, 16; 3 seeds
    OMP_NUM_THREADS=1 python benchmarks/shapes_mig.py --betas 1 2 4 8 --epochs 30 --out runs/shapes_mig
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import vaekit
from vaekit.data.shapes import make_shapes
from vaekit.latent.dims import latent_dimensions
from vaekit.latent.disentanglement import score_model
from vaekit.latent.pictures import draw_traversal
from vaekit.latent.traversal import traversal_values

METRICS = ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "sap")


def train_and_score(args: argparse.Namespace, beta: float, seed: int, train: vaekit.Dataset,
                    test: vaekit.Dataset) -> dict:
    start, cpu_start = time.perf_counter(), time.process_time()
    vae = vaekit.VAE(model=args.model, hidden=tuple(args.hidden), channels=tuple(args.channels),
                     latent_dim=args.latent_dim, epochs=args.epochs,
                     batch_size=args.batch_size, beta=beta, seed=seed, patience=args.epochs,
                     kl_schedule="linear" if args.kl_warmup else "constant", kl_warmup=args.kl_warmup).fit(train)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    scores = score_model(vae, test, seed=seed)
    dims = latent_dimensions(vae, test)
    if args.out:
        folder = Path(args.out) / f"beta{beta:g}_seed{seed}"
        vae.save(folder)
        draw_traversal(vae, np.zeros(args.latent_dim, dtype=np.float32), "the origin", dims.order,
                       traversal_values(-3, 3, 9), folder / "traversal.png", dims)
    row = {key: getattr(scores, key) for key in METRICS}
    row.update(elbo=vae.score(test), active=int(dims.active.sum()), seconds=seconds, cpu_seconds=cpu_seconds)
    print(f"beta {beta:g} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 32, 64, 64], help="conv layers")
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--kl-warmup", type=float, default=2.0,
                        help="epochs over which the KL weight rises linearly to beta (0: constant beta); "
                             "without it a large beta can switch every dimension off before the decoder learns")
    parser.add_argument("--out", help="folder for each model's run folder and traversal picture")
    args = parser.parse_args()

    train = make_shapes(args.n_train, seed=0)
    test = make_shapes(args.n_test, seed=1)
    results = {beta: [train_and_score(args, beta, seed, train, test) for seed in args.seeds]
               for beta in args.betas}

    arch = f"conv {args.channels} + {args.hidden}" if args.model == "conv" else f"MLP {args.hidden}"
    print(f"\nshapes: {args.n_train} training / {args.n_test} held-out images, {arch}, latent "
          f"{args.latent_dim}, {args.epochs} epochs (KL warm-up {args.kl_warmup:g}), batch {args.batch_size}, "
          f"seeds {args.seeds}\n")
    print("| beta | MIG (per seed) | FactorVAE | DCI disent. | DCI compl. | SAP | test ELBO | active | "
          "train s (CPU s) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for beta, rows in results.items():
        def mean(key: str, rows: list[dict] = rows) -> float:
            return statistics.fmean(r[key] for r in rows)

        per_seed = ", ".join(f"{r['mig']:.3f}" for r in rows)
        print(f"| {beta:g} | **{mean('mig'):.3f}** ({per_seed}) | {mean('factor_vae'):.3f} | "
              f"{mean('dci_disentanglement'):.3f} | {mean('dci_completeness'):.3f} | {mean('sap'):.3f} | "
              f"{mean('elbo'):.1f} | {mean('active'):.1f} | {mean('seconds'):.0f} ({mean('cpu_seconds'):.0f}) |")


if __name__ == "__main__":
    main()
