"""vaekit: variational autoencoders for your images and tables.

    import vaekit
    vae = vaekit.VAE(latent_dim=16).fit(X)       # X: (n, d) table or (n, c, h, w) images
    codes = vae.transform(X)                     # posterior means
    vae.save("runs/mine"); vae = vaekit.load("runs/mine")
"""

__version__ = "0.1.0"

from vaekit.data import Dataset, load_dataset
from vaekit.errors import VaekitError
from vaekit.estimator import VAE, load
from vaekit.imputation import impute, multiple_imputations  # also registers the "mixed" likelihood
from vaekit.imputer import VAEImputer

__all__ = ["VAE", "Dataset", "VAEImputer", "VaekitError", "__version__", "impute", "load", "load_dataset",
           "multiple_imputations"]
