"""Multiple imputation is honest: draws cover the truth as often as they claim, and Rubin's rules pool right."""

import warnings

import numpy as np
import pytest

import vaekit
from vaekit import VAEImputer, imputation_interval, pool_estimates
from vaekit.errors import ConfigError
from vaekit.missing_data.imputation import warn_if_few_effective


@pytest.fixture(scope="module")
def gaussian_table():
    """2,000 rows of a 6-dimensional Gaussian (two factors plus noise), 30 % MCAR, and for every hidden cell
    the mean and standard deviation of its true conditional distribution given the row's observed cells."""
    rng = np.random.default_rng(0)
    loadings = rng.normal(size=(6, 2))
    cov = loadings @ loadings.T + 0.15 * np.eye(6)
    sd = np.sqrt(np.diag(cov))
    cov /= np.outer(sd, sd)
    X = rng.multivariate_normal(np.zeros(6), cov, size=2000)
    hidden = rng.random(X.shape) < 0.3
    hidden[hidden.all(axis=1), 0] = False
    mean, std = np.zeros_like(X), np.zeros_like(X)
    for i in np.flatnonzero(hidden.any(axis=1)):
        m, o = hidden[i], ~hidden[i]
        gain = cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
        mean[i, m] = gain @ X[i, o]
        std[i, m] = np.sqrt(np.diag(cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]))
    return X, hidden, mean, std


def test_ninety_percent_intervals_from_fifty_draws_cover_the_truth_ninety_percent_of_the_time(gaussian_table):
    X, hidden, true_mean, true_std = gaussian_table
    imputer = VAEImputer(hidden=(64, 64), latent_dim=4, epochs=30, imputation_samples=500, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # 500 samples are plenty here: no low-ESS warning
        draws = np.stack(imputer.fit(np.where(hidden, np.nan, X)).sample_imputations(np.where(hidden, np.nan, X), 50))
    lower, upper = imputation_interval(draws, 0.9)
    truth = X[hidden]
    coverage = np.mean((lower[hidden] <= truth) & (truth <= upper[hidden]))
    assert 0.85 <= coverage <= 0.95, coverage
    # neither too wide nor too narrow: the draws' spread is the true conditional's, their centre its mean
    assert 0.85 < np.median(draws.std(axis=0)[hidden] / true_std[hidden]) < 1.2
    assert np.sqrt(np.mean((draws.mean(axis=0)[hidden] - true_mean[hidden]) ** 2)) < 0.35 * np.mean(true_std[hidden])


def test_intervals_use_order_statistics():
    draws = np.arange(50.0)[::-1]  # the k-th smallest is k - 1
    assert imputation_interval(draws, 0.9) == (1.0, 48.0)  # 2nd and 49th: covers 47/51 of fresh values
    assert imputation_interval(np.arange(19.0).reshape(19, 1, 1), 0.8)[0].shape == (1, 1)
    with pytest.raises(ConfigError, match="at least 20"):
        imputation_interval(np.arange(19.0), 0.9)
    with pytest.raises(ConfigError, match="level"):
        imputation_interval(np.arange(50.0), 1.0)


def test_rubins_rules_on_a_hand_computed_example():
    # estimates 1, 2, 3 with variances 0.5, 0.7, 0.9: Q̄ = 2, Ū = 0.7, B = 1, T = 0.7 + 4/3 = 61/30
    pooled = pool_estimates([1.0, 2.0, 3.0], [0.5, 0.7, 0.9], df_complete=20)
    total = 0.7 + 4 / 3
    share = (4 / 3) / total
    df_old = 2 / share**2
    df_obs = 21 / 23 * 20 * (1 - share)
    df = df_old * df_obs / (df_old + df_obs)
    assert pooled.estimate == pytest.approx(2.0)
    assert pooled.within == pytest.approx(0.7)
    assert pooled.between == pytest.approx(1.0)
    assert pooled.total == pytest.approx(61 / 30)
    assert pooled.missing_share == pytest.approx(40 / 61)
    assert pooled.df == pytest.approx(df) and pooled.df == pytest.approx(2.6733, abs=1e-4)
    # t_{0.975, 2.6733} = 3.4142 (R: qt(0.975, 2.6733)), so the interval is 2 ± 2.8161 · √(61/30)
    assert pooled.lower == pytest.approx(2 - 3.4142 * np.sqrt(61 / 30), abs=1e-3)
    assert pooled.upper == pytest.approx(2 + 3.4142 * np.sqrt(61 / 30), abs=1e-3)
    # large samples: the classic Rubin df, (M - 1) / λ²
    assert pool_estimates([1.0, 2.0, 3.0], [0.5, 0.7, 0.9]).df == pytest.approx(df_old)


def test_pooling_several_parameters_and_identical_tables():
    pooled = pool_estimates(np.array([[1.0, 5.0], [1.0, 7.0]]), np.array([[0.04, 1.0], [0.04, 1.0]]))
    assert pooled.estimate.shape == (2,)
    np.testing.assert_allclose(pooled.between, [0.0, 2.0])
    # nothing varies between the tables: the complete-data normal interval
    assert pooled.df[0] == np.inf and pooled.missing_share[0] == 0
    np.testing.assert_allclose([pooled.lower[0], pooled.upper[0]], [1 - 1.96 * 0.2, 1 + 1.96 * 0.2], atol=1e-3)


@pytest.mark.parametrize(("estimates", "variances", "kwargs", "message"), [
    ([1.0], [0.1], {}, "at least 2"),
    ([1.0, 2.0], [0.1], {}, "variances must be shaped"),
    ([1.0, 2.0], [0.1, -0.1], {}, "non-negative"),
    ([1.0, np.nan], [0.1, 0.1], {}, "finite"),
    ([1.0, 2.0], [0.1, 0.1], {"df_complete": 0}, "df_complete"),
    ([1.0, 2.0], [0.1, 0.1], {"level": 95}, "level"),
])
def test_pooling_refuses_bad_input(estimates, variances, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        pool_estimates(estimates, variances, **kwargs)


def test_too_few_effective_samples_for_the_draws_warns_with_the_fix():
    with pytest.warns(RuntimeWarning, match="Raise iw_samples.*to about 1000"):
        # the 5 % quantile row has 10 effective samples of 200: 200 · 50 / 10 = 1000 reach 50
        warn_if_few_effective(np.array([100.0] * 90 + [10.0] * 10), draws=50, iw_samples=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_few_effective(np.array([100.0] * 96 + [10.0] * 4), draws=50, iw_samples=200)  # 4 %: fine


def test_few_importance_samples_warn_when_drawing():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    vae = vaekit.VAE(hidden=(8,), latent_dim=2, epochs=1, seed=0).fit(X)
    with pytest.warns(RuntimeWarning, match="effective sample size below the 20 imputations"):
        vaekit.multiple_imputations(vae, X, 20, iw_samples=5)
