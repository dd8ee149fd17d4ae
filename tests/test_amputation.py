"""Amputation masks: the rates and the dependence structure each mechanism promises."""

import numpy as np
import pytest

from vaekit.data.amputation import ampute
from vaekit.errors import ConfigError


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    return rng.multivariate_normal(np.zeros(10), 0.5 * np.eye(10) + 0.5, size=4000)


@pytest.mark.parametrize("mechanism", ["mcar", "mar", "mnar"])
def test_rate_and_reproducibility(table, mechanism):
    mask = ampute(table, mechanism, 0.3, seed=1)
    assert mask.dtype == bool and mask.shape == table.shape
    always_seen = (~mask).all(axis=0)
    masked_columns = ~always_seen
    assert abs(mask[:, masked_columns].mean() - 0.3) < 0.02
    np.testing.assert_array_equal(mask, ampute(table, mechanism, 0.3, seed=1))
    assert not np.array_equal(mask, ampute(table, mechanism, 0.3, seed=2))
    assert always_seen.sum() == (3 if mechanism == "mar" else 0)  # MAR keeps 30 % of the columns observed


def test_mar_depends_on_observed_values_and_mcar_does_not(table):
    mar = ampute(table, "mar", 0.3, seed=0)
    inputs = (~mar).all(axis=0)
    score = table[:, inputs].sum(1)
    target = np.flatnonzero(~inputs)[0]
    # under MAR a column's missingness moves with the always-observed columns
    assert abs(np.corrcoef(score, mar[:, target])[0, 1]) > 0.1
    mcar = ampute(table, "mcar", 0.3, seed=0)
    assert abs(np.corrcoef(score, mcar[:, target])[0, 1]) < 0.05


def test_keep_one_per_row_and_bad_settings():
    x = np.random.default_rng(0).normal(size=(3000, 3))
    assert ampute(x, "mcar", 0.6, seed=0).all(axis=1).any()
    kept = ampute(x, "mcar", 0.6, seed=0, keep_one_per_row=True)
    assert not kept.all(axis=1).any()
    with pytest.raises(ConfigError, match="mechanism"):
        ampute(x, "mnra", 0.3)
    with pytest.raises(ConfigError, match="rate"):
        ampute(x, "mcar", 1.0)
