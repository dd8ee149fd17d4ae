"""Tables as users have them: text, category, boolean and integer columns in, the same types out."""

import json

import numpy as np
import pandas as pd
import pytest

from vaekit import VAEImputer
from vaekit.cli import main
from vaekit.errors import ConfigError, DataError

FAST = {"hidden": (16,), "latent_dim": 2, "epochs": 40, "lr_schedule": "constant", "imputation_samples": 20}
CLI_FAST = ["--hidden", "16", "--latent-dim", "2", "--epochs", "10", "--quiet"]


def _table(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Colour decides size; a flag, a count and a pandas category (with a category never used) beside them."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n)
    return pd.DataFrame({
        "color": pd.Series(color, dtype=object),
        "size": np.select([color == "red", color == "green"], [-2.0, 0.0], 2.0) + 0.1 * rng.normal(size=n),
        "flag": pd.Series(color == "blue", dtype="boolean"),
        "count": pd.Series(rng.poisson(3, n), dtype="Int64"),
        "kind": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b", "c"]),
    })


def _holes(frame: pd.DataFrame, rate: float = 0.2, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    holey = frame.copy()
    for name in holey.columns:
        holey.loc[rng.random(len(holey)) < rate, name] = None
    return holey


@pytest.fixture(scope="module")
def fitted():
    frame = _table()
    holey = _holes(frame)
    return frame, holey, VAEImputer(**FAST).fit(holey)


def test_string_categories_round_trip_through_the_imputer(fitted):
    frame, holey, imputer = fitted
    filled = imputer.transform(holey)
    assert isinstance(filled, pd.DataFrame) and list(filled.columns) == list(frame.columns)
    assert filled.dtypes.to_dict() == holey.dtypes.to_dict()  # object, float64, boolean, Int64, category
    assert not filled.isna().any().any()
    assert list(filled["kind"].cat.categories) == ["a", "b", "c"]
    assert set(filled["color"]) <= {"red", "green", "blue"}
    assert (filled["count"] >= 0).all()
    for name in frame.columns:
        seen = holey[name].notna()
        assert (filled.loc[seen, name] == holey.loc[seen, name]).all(), name
    # size tells the colour: a missing colour with a known size is recovered far above chance
    hidden = holey["color"].isna() & holey["size"].notna()
    assert (filled.loc[hidden, "color"] == frame.loc[hidden, "color"]).mean() > 0.5  # chance: 1/3
    copies = imputer.sample_imputations(holey, m=2)
    assert all(c.dtypes.to_dict() == holey.dtypes.to_dict() for c in copies)


def test_plain_numpy_bool_and_int_columns_keep_their_dtype():
    frame = _table(60)
    holey = frame.assign(flag=frame["flag"].astype(bool), count=frame["count"].astype(np.int64))
    holey.loc[::5, "size"] = np.nan
    filled = VAEImputer(**{**FAST, "epochs": 1}).fit(holey).transform(holey)
    assert filled.dtypes.to_dict() == holey.dtypes.to_dict() and filled["flag"].dtype == bool
    assert filled["count"].dtype == np.int64 and not filled["size"].isna().any()


def test_vocabularies_are_saved_as_json_and_auto_picks_mixed(fitted, tmp_path):
    _, _, imputer = fitted
    vae = imputer.vae_
    assert vae.config_.model.likelihood == "mixed"
    assert vae.config_.model.column_types[0] == "categorical" and vae.config_.model.column_types[2] == "binary"
    vae.save(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "preprocessing.json").read_text())["vocabularies"]
    assert {name: v["values"] for name, v in saved.items()} == {
        "color": ["blue", "green", "red"], "flag": [False, True], "kind": ["a", "b"]}
    assert saved["kind"]["categories"] == ["a", "b", "c"] and saved["flag"]["dtype"] == "boolean"
    numeric = VAEImputer(**{**FAST, "epochs": 1}).fit(_table()[["size"]].assign(other=1.0 + np.arange(150)))
    assert numeric.vae_.config_.model.likelihood == "gaussian"


def test_samples_and_reconstructions_come_back_in_the_columns_types(fitted):
    _, holey, imputer = fitted
    vae = imputer.vae_
    samples = vae.to_frame(vae.sample(20))
    assert [str(t) for t in samples.dtypes] == ["object", "float32", "boolean", "int64", "category"]
    assert set(samples["color"]) <= {"red", "green", "blue"} and list(samples["kind"].cat.categories) == ["a", "b", "c"]
    rows = holey.dropna().head(4)
    again = vae.to_frame(vae.reconstruct(rows), rows.index)
    assert list(again.index) == list(rows.index) and set(again["flag"]) <= {True, False}


def test_an_unseen_category_is_named(fitted):
    _, holey, imputer = fitted
    new = holey.head(5).copy()
    new.loc[new.index[2], "color"] = "purple"
    with pytest.raises(DataError, match="column 'color' holds 'purple', a value it did not hold in training"):
        imputer.transform(new)


def _bad(case: str) -> tuple[pd.DataFrame, str]:
    frame = _table(40)
    if case == "free text":
        frame["note"] = [f"customer said {i}" for i in range(40)]
        return frame, "column 'note' looks like free text"
    if case == "date text":
        frame["when"] = [f"2024-01-{1 + i % 28:02d}" for i in range(40)]
        return frame, "column 'when' holds dates"
    if case == "datetime":
        frame["when"] = pd.date_range("2024-01-01", periods=40)
        return frame, "column 'when' holds dates"
    frame["mix"] = pd.Series([1 if i % 2 else "one" for i in range(40)], dtype=object)
    return frame, "column 'mix' mixes values of types int, str"


@pytest.mark.parametrize("case", ["free text", "date text", "datetime", "mixed"])
def test_columns_that_cannot_be_modelled_are_named_with_the_fix(case):
    frame, message = _bad(case)
    with pytest.raises(DataError, match=message) as err:
        VAEImputer(**{**FAST, "epochs": 1}).fit(frame)
    assert "--column-type" in str(err.value) and "\n" not in str(err.value)


def test_a_declared_type_takes_such_a_column_as_categories():
    frame, _ = _bad("date text")
    imputer = VAEImputer(**{**FAST, "epochs": 1}, column_types={"when": "categorical"}).fit(_holes(frame))
    assert imputer.transform(_holes(frame))["when"].str.startswith("2024-01-").all()


def test_numeric_likelihood_refuses_categories():
    with pytest.raises(ConfigError, match="column 'color' holds text values.*use likelihood mixed"):
        VAEImputer(**{**FAST, "epochs": 1}, likelihood="gaussian").fit(_table(20))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_train_and_impute_keep_the_column_types(tmp_path, suffix):
    frame = _holes(_table())
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    assert main(["train", str(path), "--allow-missing", "--out", str(tmp_path / "run"), *CLI_FAST]) == 0
    out = tmp_path / f"filled{suffix}"
    assert main(["impute", str(tmp_path / "run"), str(path), "--iw-samples", "10", "--out", str(out),
                 "--quiet"]) == 0
    before = pd.read_csv(path, dtype_backend="numpy_nullable") if suffix == ".csv" else pd.read_parquet(path)
    after = pd.read_csv(out, dtype_backend="numpy_nullable") if suffix == ".csv" else pd.read_parquet(out)
    assert after.dtypes.to_dict() == before.dtypes.to_dict() and not after.isna().any().any()
    assert set(after["color"]) <= {"red", "green", "blue"} and set(after["flag"]) <= {True, False}
    if suffix == ".parquet":
        assert [str(t) for t in after.dtypes.iloc[1:]] == ["float64", "boolean", "Int64", "category"]
        assert list(after["kind"].cat.categories) == ["a", "b", "c"]
    for name in before.columns:
        seen = before[name].notna()
        assert (after.loc[seen, name] == before.loc[seen, name]).all(), name


def test_cli_bad_column_gives_one_line_and_leaves_no_run(tmp_path, capsys):
    frame, _ = _bad("free text")
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "t.csv"), "--out", str(run), *CLI_FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column 'note' looks like free text" in err[0], err
    assert not run.exists()


def test_cli_unseen_category_gives_one_line_and_writes_nothing(tmp_path, capsys):
    frame = _holes(_table(60))
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["train", str(tmp_path / "t.csv"), "--allow-missing", "--out", str(tmp_path / "run"),
                 *CLI_FAST]) == 0
    frame.loc[frame.index[0], "color"] = "purple"
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "filled.csv"
    capsys.readouterr()
    assert main(["impute", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column 'color' holds 'purple'" in err[0], err
    assert not out.exists() and not list(tmp_path.glob(".filled*"))
