"""Honest evaluation of a trained VAE.

The ELBO only bounds log p(x); the importance-weighted bound with many samples
(k = 1000 to 5000) is the standard estimate of the negative log-likelihood (Burda et
al., 2015). ``iwae_nll`` computes it in chunks of examples and of samples, so memory
stays bounded for any k. Active units follow Burda et al.: a latent dimension u is
active when Cov_x(E_q[z_u]) > 0.01.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaekit.model.module import VAEModule
from vaekit.train.objectives import importance_samples
from vaekit.train.trainer import EVAL_BATCH, mean_elbo

ACTIVE_UNIT_THRESHOLD = 0.01
#: Decoded rows per chunk of the importance-weighted estimate (bounds memory for any k).
IW_ROWS_PER_CHUNK = 8192


@torch.no_grad()
def iwae_nll(
    module: VAEModule, x: Tensor, k: int, mask: Tensor | None = None, seed: int = 0, progress: bool = False
) -> Tensor:
    """Per-example -log p(x) estimated with k importance samples, ``[n]`` in nats."""
    module.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    k_chunk = min(k, IW_ROWS_PER_CHUNK)
    batch = max(1, IW_ROWS_PER_CHUNK // k_chunk)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for start in tqdm(range(0, x.shape[0], batch), desc=f"IWAE k={k}", disable=not progress, unit="batch"):
        sl = slice(start, start + batch)
        xb, mb = x[sl], None if mask is None else mask[sl]
        chunks = []
        for done in range(0, k, k_chunk):
            log_w = importance_samples(module, xb, min(k_chunk, k - done), mb, generator=gen).log_w
            chunks.append(torch.logsumexp(log_w.double(), 0))
        out[sl] = -(torch.logsumexp(torch.stack(chunks), 0) - math.log(k)).cpu()
    return out


@torch.no_grad()
def latent_statistics(module: VAEModule, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
    """Posterior means, per-dimension KL (averaged over data) and per-dimension activity."""
    module.eval()
    mus, kls = [], []
    for start in range(0, x.shape[0], EVAL_BATCH):
        sl = slice(start, start + EVAL_BATCH)
        mu, logvar = module.encode(x[sl], None if mask is None else mask[sl])
        mus.append(mu)
        per_dim = module.prior.kl(mu, logvar)
        if per_dim is not None:
            kls.append(per_dim)
    mu = torch.cat(mus)
    activity = mu.var(0, unbiased=False) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    kl_per_dim = torch.cat(kls).mean(0) if kls else torch.full((mu.shape[1],), float("nan"))
    return {"mu": mu, "kl_per_dim": kl_per_dim, "activity": activity}


@torch.no_grad()
def reconstruction_mse(module: VAEModule, x: Tensor, mask: Tensor | None = None) -> float:
    module.eval()
    total = 0.0
    for start in range(0, x.shape[0], EVAL_BATCH):
        sl = slice(start, start + EVAL_BATCH)
        recon = module.reconstruct(x[sl], None if mask is None else mask[sl])
        total += float(((recon - x[sl]) ** 2).flatten(1).mean(1).sum())
    return total / x.shape[0]


def evaluate(
    module: VAEModule, x: Tensor, *, iw_samples: int = 1000, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """Every number ``vaekit evaluate`` prints, in nats per example unless named otherwise."""
    elbo = mean_elbo(module, x, seed=seed)
    nll = float(iwae_nll(module, x, iw_samples, seed=seed, progress=progress).mean())
    stats = latent_statistics(module, x)
    n_dims = math.prod(x.shape[1:])
    active = stats["activity"] > ACTIVE_UNIT_THRESHOLD
    return {
        "n_examples": int(x.shape[0]),
        "elbo": elbo["elbo"],
        "recon": elbo["recon"],
        "kl": elbo["kl"],
        "nll": nll,
        "iw_samples": iw_samples,
        # Bits per dimension is a code length only for discrete likelihoods.
        "bits_per_dim": nll / (n_dims * math.log(2)) if module.likelihood.discrete else None,
        "recon_mse": reconstruction_mse(module, x),
        "kl_per_dim": stats["kl_per_dim"].tolist(),
        "activity": stats["activity"].tolist(),
        "active_units": int(active.sum()),
        "latent_dim": module.latent_dim,
    }
