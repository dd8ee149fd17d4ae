"""t-SNE of 10,000 latent codes: vaekit's map (openTSNE, FFT-accelerated) against scikit-learn's TSNE.

The codes are real: posterior means (20-d) of a small MLP VAE trained for a few epochs on the
built-in shapes (10,000 images), or of any run and data given with --run/--data. Both
contenders get the same codes, perplexity 30, PCA initialisation, 250 early-exaggeration +
500 iterations, the same seed and the same number of threads; runs alternate (openTSNE,
scikit-learn, openTSNE, ...) so machine noise hits both alike. The table reports the median
wall time per contender, the ratio, and two quality numbers computed the same way for both:
t-SNE's own objective, the exact KL(P || Q) of the final map (one P for both: openTSNE's
perplexity-30 affinities on exact neighbours; Q over all pairs), and the share of each code's
10 nearest neighbours in 20-d that are also among its 10 nearest in the 2-D map (on 2,000
random codes).

    python benchmarks/latent_maps.py                     # trains the VAE first (a minute or two)
    python benchmarks/latent_maps.py --run runs/shapes --data shapes --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from openTSNE.affinity import PerplexityBasedNN
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

import vaekit
from vaekit.latent.maps import TSNE_PERPLEXITY, embed

N_CODES = 10_000
NEIGHBOURS = 10
QUALITY_SAMPLE = 2000


def latent_codes(args: argparse.Namespace) -> np.ndarray:
    if args.run:
        vae = vaekit.load(args.run)
        data = vaekit.load_dataset(args.data)
    else:
        data = vaekit.load_dataset("shapes")
        vae = vaekit.VAE(hidden=(256,), latent_dim=20, epochs=args.train_epochs, seed=args.seed).fit(data)
    return vae.transform(data.subset(slice(0, N_CODES))).astype(np.float64)


def neighbour_recall(codes: np.ndarray, coords: np.ndarray, seed: int) -> float:
    """Mean share of each sampled point's k nearest neighbours in the codes kept in the map."""
    rows = np.random.default_rng(seed).choice(len(codes), min(QUALITY_SAMPLE, len(codes)), replace=False)

    def neighbours(x: np.ndarray) -> np.ndarray:
        return NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(x).kneighbors(x[rows], return_distance=False)[:, 1:]

    high, low = neighbours(codes), neighbours(coords)
    return float(np.mean([len(set(h) & set(lo)) / NEIGHBOURS for h, lo in zip(high, low, strict=True)]))


def exact_kl(affinities, coords: np.ndarray) -> float:
    """KL(P || Q) of a map: Q from the Cauchy kernel over every pair of points, summed in blocks."""
    sq = (coords**2).sum(1)
    normaliser = 0.0
    for start in range(0, len(coords), 1000):
        block = slice(start, start + 1000)
        kernel = 1.0 / (1.0 + np.maximum(sq[block, None] + sq[None] - 2 * coords[block] @ coords.T, 0.0))
        normaliser += kernel.sum() - len(kernel)  # without each point's pair with itself
    p = affinities.tocoo()
    q = 1.0 / (1.0 + ((coords[p.row] - coords[p.col]) ** 2).sum(1)) / normaliser
    return float((p.data * np.log(p.data / q)).sum())


def run_opentsne(codes: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    return embed(codes, "tsne", seed=args.seed, n_jobs=args.threads)[0]


def run_sklearn(codes: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    tsne = TSNE(perplexity=TSNE_PERPLEXITY, init="pca", learning_rate="auto", max_iter=750,
                random_state=args.seed, n_jobs=args.threads)
    return tsne.fit_transform(codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="use this run folder's codes instead of training a VAE")
    parser.add_argument("--data", default="shapes", help="with --run: the data to encode (first 10,000)")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both contenders")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with threadpool_limits(limits=args.threads):
        codes = latent_codes(args)
        print(f"{len(codes)} codes of dimension {codes.shape[1]}, {args.threads} threads", flush=True)
        contenders = {"vaekit (openTSNE, FFT)": run_opentsne, "scikit-learn TSNE (Barnes-Hut)": run_sklearn}
        times: dict[str, list[float]] = {name: [] for name in contenders}
        recall: dict[str, float] = {}
        kl: dict[str, float] = {}
        affinities = PerplexityBasedNN(codes, perplexity=TSNE_PERPLEXITY, method="exact", n_jobs=args.threads).P
        for round_ in range(args.rounds):
            for name, fn in contenders.items():
                start = time.perf_counter()
                coords = fn(codes, args)
                times[name].append(time.perf_counter() - start)
                print(f"round {round_ + 1}: {name} {times[name][-1]:.1f} s", flush=True)
                if name not in recall:
                    recall[name] = neighbour_recall(codes, coords, args.seed)
                    kl[name] = exact_kl(affinities, coords)

    reference = statistics.median(times["scikit-learn TSNE (Barnes-Hut)"])
    print(f"\n| contender | wall time (median of {args.rounds}) | speed-up over scikit-learn | "
          f"exact KL divergence (lower is better) | {NEIGHBOURS}-NN kept in 2-D |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.1f} s | {reference / median:.1f}x | {kl[name]:.4f} | {recall[name]:.3f} |")


if __name__ == "__main__":
    main()
