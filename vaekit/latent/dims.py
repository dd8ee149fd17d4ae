"""Which latent dimensions matter: KL to the prior and activity, per dimension.

A dimension whose KL(q(z_u|x) || p(z_u)) is near zero for every x carries no information
about the data: the decoder ignores it (posterior collapse). Activity, Cov_x(E_q[z_u]),
says the same from the encoder's side (Burda et al., 2015: active when above 0.01).
Ordering dimensions by KL puts the informative ones first, for traversals and reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaekit.data import Dataset
from vaekit.estimator import VAE
from vaekit.latent.traversal import kl_order
from vaekit.train.evaluation import ACTIVE_UNIT_THRESHOLD, latent_statistics


@dataclass
class LatentDimensions:
    """Per-dimension KL (nats, averaged over the data; NaN where the prior has no closed form) and activity."""

    kl_per_dim: np.ndarray
    activity: np.ndarray

    @property
    def active(self) -> np.ndarray:
        return self.activity > ACTIVE_UNIT_THRESHOLD

    @property
    def has_kl(self) -> bool:
        return bool(np.isfinite(self.kl_per_dim).all())

    @property
    def order(self) -> list[int]:
        """Most informative first: by KL, or by activity when the prior gives no per-dimension KL."""
        return kl_order(self.kl_per_dim if self.has_kl else self.activity)

    def rows(self) -> list[dict]:
        """One record per dimension, most informative first (for printing and JSON)."""
        return [{"dim": u, "kl": float(self.kl_per_dim[u]), "activity": float(self.activity[u]),
                 "active": bool(self.active[u])} for u in self.order]


def latent_dimensions(vae: VAE, data: Dataset) -> LatentDimensions:
    """KL and activity of each latent dimension of a fitted ``vae`` over ``data``."""
    stats = latent_statistics(vae.module_, vae._model_input(data))
    return LatentDimensions(kl_per_dim=stats["kl_per_dim"].cpu().numpy(), activity=stats["activity"].cpu().numpy())
