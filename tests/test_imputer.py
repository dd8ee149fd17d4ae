"""``VAEImputer`` behaves like scikit-learn's imputers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

from vaekit import VAEImputer

TINY = {"hidden": (8,), "latent_dim": 2, "epochs": 2, "imputation_samples": 5}


def test_passes_scikit_learns_estimator_checks():
    check_estimator(VAEImputer(**TINY))


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=300), "c": rng.normal(size=300)})
    holey = frame.mask(rng.random(frame.shape) < 0.2)
    return frame, holey


def test_fills_only_the_gaps_and_keeps_names(table):
    frame, holey = table
    # 300 updates only: the cosine decay of the default would stop learning too early for this budget
    imputer = VAEImputer(hidden=(32,), latent_dim=2, epochs=60, lr_schedule="constant",
                         imputation_samples=100).fit(holey)
    filled = imputer.transform(holey)
    assert isinstance(filled, pd.DataFrame) and not filled.isna().any().any()  # a DataFrame in, one out
    seen = holey.notna().to_numpy()
    np.testing.assert_array_equal(filled.to_numpy()[seen], holey.to_numpy()[seen])
    assert list(imputer.get_feature_names_out()) == ["a", "b", "c"]
    out = imputer.set_output(transform="pandas").transform(holey)
    assert list(out.columns) == ["a", "b", "c"]
    # b is nearly 2a: where only b is missing it is recovered far better than by its mean
    only_b = holey["b"].isna() & holey["a"].notna()
    error = np.sqrt(np.mean((out.loc[only_b, "b"] - frame.loc[only_b, "b"]) ** 2))
    assert error < 0.4 * frame["b"].std()
    copies = imputer.sample_imputations(holey, m=3)
    assert len(copies) == 3 and not np.array_equal(copies[0], copies[1])


def test_clones_and_works_in_a_pipeline(table):
    frame, holey = table
    imputer = VAEImputer(**{**TINY, "epochs": 3})
    twin = clone(imputer)
    assert twin.get_params() == imputer.get_params() and twin is not imputer
    X = holey[["a", "c"]].dropna(how="all")
    pipe = make_pipeline(imputer, LinearRegression()).fit(X, frame.loc[X.index, "b"])
    assert np.isfinite(pipe.predict(X)).all()
