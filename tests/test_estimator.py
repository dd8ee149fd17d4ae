"""The scikit-learn style API: fit/transform/inverse_transform/sample/score/save/load."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import check_estimator

import vaekit
from vaekit.errors import ConfigError, DataError, ModelFileError, VaekitError

TINY = {"hidden": (8,), "latent_dim": 2, "epochs": 2}


def test_passes_scikit_learns_estimator_checks():
    check_estimator(vaekit.VAE(**TINY))


@pytest.mark.parametrize("dtype, expected", [(np.float64, np.float64), (np.float32, np.float32),
                                             (np.uint8, np.float32)])
def test_results_keep_float64(images, dtype, expected):
    x = images.x[:40] if dtype == np.uint8 else (images.x[:40] / 16).astype(dtype)  # images: 4-D, not only tables
    vae = vaekit.VAE(**TINY).fit(x)
    codes = vae.transform(x)
    assert codes.dtype == expected and vae.reconstruct(x).dtype == expected
    assert vae.inverse_transform(codes.astype(np.float64)).dtype == np.float64
    assert vae.sample(2).dtype == np.float32


def test_input_errors_are_value_errors_in_scikit_learns_words():
    vae = vaekit.VAE(**TINY).fit(np.random.default_rng(0).random((30, 3)))
    with pytest.raises(DataError, match="X has 4 features, but VAE is expecting 3 features as input"):
        vae.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X has 4 features") as caught:
        vae.score(np.zeros((2, 4)))
    assert isinstance(caught.value, VaekitError)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array") as caught:
        vaekit.VAE(**TINY).fit(np.zeros(20))
    assert "--" not in str(caught.value)  # the library names no command-line flag
    with pytest.raises(ValueError, match="infinity"):
        vaekit.VAE(**TINY).fit(np.full((20, 2), np.inf))
    with pytest.raises(ConfigError) as caught:
        vaekit.VAE(likelihood="nonsense", **TINY).fit(np.zeros((20, 2)))
    assert isinstance(caught.value, ValueError)


@pytest.fixture(scope="module")
def binary_table():
    """A (N, 64) table of 0/1 rows, as binarised data sets ship: two patterns with flipped bits."""
    rng = np.random.default_rng(0)
    patterns = rng.random((2, 64)) < 0.5
    rows = patterns[rng.integers(0, 2, 400)] ^ (rng.random((400, 64)) < 0.05)
    return rows.astype(np.float32)


def test_bernoulli_models_a_table_of_zeros_and_ones(binary_table):
    vae = vaekit.VAE(likelihood="bernoulli", hidden=(32,), latent_dim=2, epochs=20).fit(binary_table)
    assert vae.preprocessor_.binary and vae.config_.train.binarize == "none"
    result = vae.evaluate(binary_table, iw_samples=10)
    assert 0 < result["bits_per_dim"] < 0.7  # far below the 1 bit of a fair coin: it learned the patterns
    recon = vae.reconstruct(binary_table[:5])
    assert recon.shape == (5, 64) and 0 <= recon.min() and recon.max() <= 1  # probabilities, not standardised
    with pytest.raises(DataError, match=r"table of 0s and 1s \(likelihood bernoulli\), but row 0, column 'x3'"):
        vae.transform(np.where(np.arange(64) == 3, 0.5, binary_table[:2]))


def test_bernoulli_refuses_a_table_of_other_values_naming_the_likelihood():
    table = np.zeros((30, 4))
    table[7, 2] = 0.25
    with pytest.raises(ConfigError, match=r"likelihood bernoulli .* row 7, column 'x2' holds 0.25; .*likelihood "
                                          "gaussian"):
        vaekit.VAE(likelihood="bernoulli", **TINY).fit(table)


def test_new_images_must_come_on_the_training_data_s_scale(images):
    bytes_ = (images.x[:60] * (255 / 16)).round().astype(np.uint8)
    vae = vaekit.VAE(**TINY).fit(bytes_)
    vae.transform(bytes_)
    with pytest.raises(DataError, match=r"images of integers in 0..255, but these are floats in 0..1"):
        vae.transform(bytes_ / 255)  # would be divided by 255 and seen as nearly black
    unit = vaekit.VAE(**TINY).fit(bytes_ / 255)
    with pytest.raises(DataError, match=r"images of floats in \[0, 1\], but these are integers in 0..255"):
        unit.transform(bytes_)
    digits = vaekit.VAE(**TINY).fit(images)  # the built-in digits: integers 0..16
    assert digits.transform(images.x[:5]).shape == (5, 2)  # the same integers as a plain array
    with pytest.raises(DataError, match=r"integers in 0..16, but these are integers in 0..255"):
        digits.transform(bytes_)


@pytest.fixture(scope="module")
def images():
    return vaekit.load_dataset("digits")


@pytest.fixture(scope="module")
def fitted(images):
    return vaekit.VAE(hidden=(64,), latent_dim=6, epochs=15, seed=0).fit(images)


def test_transform_is_the_deterministic_posterior_mean(fitted, images):
    z1, z2 = fitted.transform(images), fitted.transform(images)
    assert z1.shape == (images.n, 6)
    np.testing.assert_array_equal(z1, z2)


def test_inverse_transform_returns_original_units(fitted, images):
    out = fitted.inverse_transform(fitted.transform(images.subset(np.arange(10))))
    assert out.shape == (10, 1, 8, 8)
    assert 0 <= out.min() and out.max() <= 16  # digits' pixel range, not [0, 1]
    assert out.max() > 8


def test_training_improves_the_elbo(fitted, images):
    untrained = vaekit.VAE(hidden=(64,), latent_dim=6, epochs=1, lr=1e-9).fit(images)
    assert fitted.score(images) > untrained.score(images) + 5


def test_sample_shapes_and_temperature(fitted):
    s = fitted.sample(16, seed=3)
    assert s.shape == (16, 1, 8, 8)
    np.testing.assert_array_equal(s, fitted.sample(16, seed=3))
    cold = fitted.sample(200, temperature=0.01, seed=1)
    assert cold.std(0).mean() < fitted.sample(200, temperature=1.0, seed=1).std(0).mean()


def test_save_and_load_round_trip(fitted, images, tmp_path):
    fitted.save(tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.transform(images), fitted.transform(images))
    assert loaded.score(images) == fitted.score(images)
    assert loaded.config_.model == fitted.config_.model and loaded.config_.train == fitted.config_.train


def test_weights_that_do_not_fit_the_config_fail_clearly(fitted, tmp_path):
    run = fitted.save(tmp_path / "run")
    config = run.read_config()
    config.model.latent_dim = 7
    run.write_config(config)
    with pytest.raises(ModelFileError, match="does not fit the architecture"):
        vaekit.load(run.path)


def test_tables_are_standardised_and_mapped_back():
    wine = load_wine(as_frame=True).data
    vae = vaekit.VAE(hidden=(32,), latent_dim=3, epochs=150, patience=150).fit(wine)  # 178 rows: ~300 steps
    recon = vae.reconstruct(wine)
    assert recon.shape == wine.shape
    # in original units: the reconstruction error is far below each column's spread
    rel = np.sqrt(((recon - wine.to_numpy()) ** 2).mean(0)) / wine.to_numpy().std(0)
    assert rel.mean() < 0.8
    assert vae.preprocessor_.columns == list(wine.columns)
    with pytest.raises(DataError, match="columns"):
        vae.transform(wine.rename(columns={"alcohol": "ethanol"}))


def test_sklearn_conventions(images):
    vae = vaekit.VAE(latent_dim=3, epochs=1)
    assert clone(vae).get_params() == vae.get_params() and vae.get_params()["latent_dim"] == 3
    assert clone(vae).set_params(epochs=7).get_params()["epochs"] == 7 and vae.epochs == 1
    assert repr(vae) == "VAE(epochs=1, latent_dim=3)"  # scikit-learn reads the declared defaults
    with pytest.raises(TypeError, match="unexpected keyword argument 'latent_dims'"):
        vaekit.VAE(latent_dims=3)
    pipe = make_pipeline(FunctionTransformer(lambda x: x.reshape(len(x), -1)), vaekit.VAE(latent_dim=2, epochs=1,
                                                                                          hidden=(16,)))
    assert pipe.fit_transform(images.x).shape == (images.n, 2)


def test_bad_settings_and_data():
    with pytest.raises(ConfigError, match="beta"):
        vaekit.VAE(beta=-1, epochs=1).fit(np.random.rand(50, 3))
    with pytest.raises(ConfigError, match="gaussian"):
        vaekit.VAE(likelihood="bernoulli", epochs=1).fit(np.random.rand(50, 3))
    with pytest.raises(DataError):
        vaekit.VAE(epochs=1).fit(np.full((50, 3), np.nan))
    with pytest.raises(DataError):
        vaekit.VAE(epochs=1).fit(np.zeros((0, 3)))
    vae = vaekit.VAE(latent_dim=2, epochs=1, hidden=(8,)).fit(pd.DataFrame(np.random.rand(40, 3)))
    with pytest.raises(DataError, match="shape"):
        vae.inverse_transform(np.zeros((3, 5)))
