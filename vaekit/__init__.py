"""vaekit: variational autoencoders for your images and tables.

    import vaekit
    vae = vaekit.VAE(latent_dim=16).fit(X)       # X: (n, d) table or (n, c, h, w) images
    codes = vae.transform(X)                     # posterior means
    vae.save("runs/mine"); vae = vaekit.load("runs/mine")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vaekit.errors import VaekitError
from vaekit.version import __version__

__all__ = ["VAE", "Dataset", "Network", "VAEImputer", "VaekitError", "__version__", "ampute", "impute",
           "imputation_interval", "load", "load_dataset", "multiple_imputations", "pool_estimates"]

#: The module that defines each public name. They are imported on first use (PEP 562), so that
#: ``import vaekit`` costs nothing until a model is needed: ``vaekit --help`` never loads torch.
_LAZY = {
    "VAE": "vaekit.estimator",
    "load": "vaekit.estimator",
    "Dataset": "vaekit.data",
    "Network": "vaekit.model.custom",
    "load_dataset": "vaekit.data",
    "VAEImputer": "vaekit.missing_data.imputer",
    "impute": "vaekit.missing_data.imputation",
    "multiple_imputations": "vaekit.missing_data.imputation",
    "pool_estimates": "vaekit.missing_data.pooling",
    "imputation_interval": "vaekit.missing_data.pooling",
    "ampute": "vaekit.data.amputation",
}

if TYPE_CHECKING:
    from vaekit.data import Dataset, load_dataset
    from vaekit.data.amputation import ampute
    from vaekit.estimator import VAE, load
    from vaekit.missing_data.imputation import impute, multiple_imputations
    from vaekit.missing_data.imputer import VAEImputer
    from vaekit.missing_data.pooling import imputation_interval, pool_estimates
    from vaekit.model.custom import Network


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
