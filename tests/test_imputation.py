"""Training with gaps and imputing them: MIWAE bound, conditional means, multiple imputation."""

import numpy as np
import pandas as pd
import pytest

import vaekit
from vaekit.data.amputation import ampute
from vaekit.errors import DataError

#: Two strongly correlated pairs of columns; the pairs are independent of each other.
COV = np.array([[1.0, 0.95, 0.0, 0.0], [0.95, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.6], [0.0, 0.0, 0.6, 1.0]])


def conditional_means(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The exact E[x_m | x_o] of the Gaussian N(0, COV), row by row."""
    out = x.copy()
    for i in np.flatnonzero(missing.any(1)):
        m, o = missing[i], ~missing[i]
        out[i, m] = COV[np.ix_(m, o)] @ np.linalg.solve(COV[np.ix_(o, o)], x[i, o])
    return out


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    truth = rng.multivariate_normal(np.zeros(4), COV, size=2000)
    missing = ampute(truth, "mcar", 0.3, seed=1, keep_one_per_row=True)
    holey = pd.DataFrame(np.where(missing, np.nan, truth), columns=list("abcd"),
                         index=[f"r{i}" for i in range(len(truth))])
    vae = vaekit.VAE(hidden=(64,), latent_dim=2, epochs=40, batch_size=128, iw_samples=5, patience=40,
                     seed=0).fit(holey)
    return truth, missing, holey, vae


def test_training_on_gaps_feeds_the_mask_and_scores_observed_entries(gaussian):
    _, _, _, vae = gaussian
    assert vae.config_.model.mask_input  # "auto": the training table had NaN
    assert np.isfinite(vae.history_[-1]["train_elbo"])
    assert vae.history_[vae.best_epoch_ - 1]["val_elbo"] > vae.history_[0]["val_elbo"] + 0.15


def test_observed_entries_are_returned_exactly_and_complete_rows_unchanged(gaussian):
    _, missing, holey, vae = gaussian
    filled = vaekit.impute(vae, holey, iw_samples=50)
    assert isinstance(filled, pd.DataFrame)
    assert list(filled.columns) == list("abcd") and list(filled.index) == list(holey.index)
    np.testing.assert_array_equal(filled.to_numpy()[~missing], holey.to_numpy()[~missing])
    complete = ~missing.any(1)
    assert complete.sum() > 100
    np.testing.assert_array_equal(filled.to_numpy()[complete], holey.to_numpy()[complete])
    assert not filled.isna().any().any()


def test_single_imputation_is_near_the_true_conditional_mean(gaussian):
    truth, missing, holey, vae = gaussian
    filled = vaekit.impute(vae, holey, iw_samples=500).to_numpy()
    exact = conditional_means(truth * ~missing, missing)
    gap_to_exact = np.sqrt(np.mean((filled[missing] - exact[missing]) ** 2))
    error_vae = np.sqrt(np.mean((filled[missing] - truth[missing]) ** 2))
    error_exact = np.sqrt(np.mean((exact[missing] - truth[missing]) ** 2))
    assert gap_to_exact < 0.2  # in units of the columns' standard deviation
    assert error_vae < 1.1 * error_exact  # close to the best any imputer can do
    assert error_vae < 0.85 * np.sqrt(np.mean(truth[missing] ** 2))  # far better than the column means


def test_multiple_imputations_differ_and_are_surer_where_the_data_says_more(gaussian):
    truth, missing, holey, vae = gaussian
    copies = np.stack([np.asarray(c) for c in vaekit.multiple_imputations(vae, holey, m=20, iw_samples=200)])
    assert copies.shape == (20, *truth.shape)
    np.testing.assert_array_equal(copies[:, ~missing], np.broadcast_to(truth[~missing], (20, (~missing).sum())))
    spread = copies.std(0)
    assert (spread[missing] > 0).all()  # the copies differ wherever something was missing
    # b given a (correlation 0.95) is far surer than d given c (0.6): conditional sd 0.31 vs 0.8
    sure = missing[:, 1] & ~missing[:, 0]
    unsure = missing[:, 3] & ~missing[:, 2]
    assert spread[sure, 1].mean() < 0.6 * spread[unsure, 3].mean()
    assert 0.15 < spread[sure, 1].mean() < 0.5 and 0.55 < spread[unsure, 3].mean() < 1.1


def test_imputation_is_reproducible_for_a_seed(gaussian):
    *_, holey, vae = gaussian
    a = vaekit.impute(vae, holey.head(50), iw_samples=20, seed=3)
    pd.testing.assert_frame_equal(a, vaekit.impute(vae, holey.head(50), iw_samples=20, seed=3))


def test_gaps_that_leave_nothing_to_learn_or_condition_on_are_refused(gaussian):
    *_, holey, vae = gaussian
    complete = holey.dropna().head(100)
    empty_column = complete.assign(c=np.nan)
    with pytest.raises(DataError, match="column 'c' has no observed value"):
        vaekit.VAE(epochs=1).fit(empty_column)
    with pytest.raises(DataError, match="column 'c' has no observed value"):
        vaekit.impute(vae, empty_column)
    empty_row = complete.copy()
    empty_row.iloc[7] = np.nan
    with pytest.raises(DataError, match=f"row {empty_row.index[7]}"):
        vaekit.VAE(epochs=1).fit(empty_row)
    with pytest.raises(DataError, match=f"row {empty_row.index[7]}"):
        vaekit.impute(vae, empty_row)
    with pytest.raises(DataError, match="columns differ"):
        vaekit.impute(vae, holey.rename(columns={"d": "e"}))


def test_images_with_gaps_train_and_inpaint():
    digits = vaekit.load_dataset("digits")
    x = digits.x.astype(np.float32) / 16
    holes = np.random.default_rng(0).random(x.shape) < 0.2
    vae = vaekit.VAE(hidden=(64,), latent_dim=8, epochs=30, seed=0).fit(np.where(holes, np.nan, x))
    assert vae.config_.model.mask_input
    damage = np.random.default_rng(1).random(x.shape) < 0.4
    filled = vaekit.impute(vae, np.where(damage, np.nan, x), iw_samples=100)
    assert filled.shape == x.shape and np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~damage], x[~damage])
    error_vae = np.sqrt(np.mean((filled - x)[damage] ** 2))
    error_mean = np.sqrt(np.mean((np.broadcast_to(x.mean(0), x.shape) - x)[damage] ** 2))  # the average digit
    assert error_vae < 0.93 * error_mean
