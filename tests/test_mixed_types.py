"""Mixed column types (HI-VAE): detection, per-type likelihoods, imputations of the right kind."""

import numpy as np
import pandas as pd
import pytest
import torch

import vaekit
from vaekit.config.column_types import resolve_column_types
from vaekit.errors import ConfigError, DataError
from vaekit.model.mixed_likelihood import MixedTypes


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    t = rng.normal(size=800)  # one shared factor, so columns predict each other
    return pd.DataFrame({
        "real": t + 0.3 * rng.normal(size=800),
        "positive": np.exp(0.5 * t + 0.2 * rng.normal(size=800)),
        "count": rng.poisson(np.exp(1.5 + 0.5 * t)).astype(float),
        "binary": (t + 0.3 * rng.normal(size=800) > 0).astype(float) * 3 + 2,  # codes 2 and 5
        "category": np.select([t < -0.5, t < 0.5], [10.0, 20.0], 30.0),
    })


def test_types_are_detected_and_can_be_overridden(table):
    detected = resolve_column_types(table.to_numpy(), list(table.columns), None)
    assert detected == ("real", "positive", "count", "binary", "categorical")
    assert resolve_column_types(table.to_numpy(), list(table.columns), {"positive": "real"})[1] == "real"
    with pytest.raises(ConfigError, match="unknown columns"):
        resolve_column_types(table.to_numpy(), list(table.columns), {"nope": "real"})
    with pytest.raises(ConfigError, match="unknown column type"):
        resolve_column_types(table.to_numpy(), list(table.columns), {"real": "complex"})


def test_each_type_is_a_normalised_distribution():
    lik = MixedTypes(["count", "categorical", "binary"], [0, 3, 2])
    params = torch.randn(1, lik.n_params, 3, generator=torch.Generator().manual_seed(0))
    counts = torch.arange(200.0)
    count_mass = lik.log_prob_entries(params.expand(200, -1, -1), torch.stack(
        [torch.log1p(counts), torch.zeros(200), torch.zeros(200)], 1))[:, 0].exp().sum()
    torch.testing.assert_close(count_mass, torch.tensor(1.0), atol=1e-5, rtol=0)
    for column, k in ((1, 3), (2, 2)):
        x = torch.zeros(k, 3)
        x[:, column] = torch.arange(k) / (k - 1)
        mass = lik.log_prob_entries(params.expand(k, -1, -1), x)[:, column].exp().sum()
        torch.testing.assert_close(mass, torch.tensor(1.0), atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def fitted(table):
    holey = table.mask(np.random.default_rng(1).random(table.shape) < 0.25).dropna(how="all")
    vae = vaekit.VAE(likelihood="mixed", hidden=(32,), latent_dim=2, epochs=40, iw_samples=5, seed=0)
    return holey, vae.fit(holey)


def test_imputations_take_valid_values_of_each_type(table, fitted):
    holey, vae = fitted
    assert vae.config_.model.column_types == ("real", "positive", "count", "binary", "categorical")
    assert vae.config_.model.n_categories == (0, 0, 0, 2, 3)
    for filled in [vaekit.impute(vae, holey, iw_samples=100),
                   *vaekit.multiple_imputations(vae, holey, m=2, iw_samples=100)]:
        seen = holey.notna().to_numpy()
        np.testing.assert_array_equal(filled.to_numpy()[seen], holey.to_numpy()[seen])
        assert set(filled["binary"]) <= {2.0, 5.0} and set(filled["category"]) <= {10.0, 20.0, 30.0}
        assert (filled["count"] == filled["count"].round()).all() and (filled["count"] >= 0).all()
        assert (filled["positive"] > 0).all()
    filled = vaekit.impute(vae, holey, iw_samples=100)
    gaps = holey["category"].isna()
    truth = table.loc[holey.index[gaps], "category"]
    # the shared factor is seen in the other columns: the category is recovered far above chance (1/3)
    assert (filled.loc[gaps, "category"] == truth).mean() > 0.6


def test_values_a_column_type_cannot_hold_are_refused(fitted):
    holey, vae = fitted
    with pytest.raises(DataError, match="not one of its training categories"):
        vaekit.impute(vae, holey.assign(category=holey["category"].replace(30.0, 40.0)))
    with pytest.raises(DataError, match="positive"):
        vaekit.impute(vae, holey.assign(positive=-holey["positive"]))
    with pytest.raises(ConfigError, match="column_types: only with likelihood='mixed'"):
        vaekit.VAE(column_types={"real": "real"}, epochs=1).fit(holey)
