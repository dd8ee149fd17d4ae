"""``vaekit impute`` and ``vaekit inpaint`` end to end, and their refusals of bad input."""

import numpy as np
import pandas as pd
import pytest

from vaekit import load_dataset
from vaekit.cli import main

FAST = ["--hidden", "16", "--latent-dim", "2", "--epochs", "5", "--quiet"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("impute")
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    frame = pd.DataFrame({"a": a, "kind": rng.choice(["x", "y"], 200), "b": a + 0.1 * rng.normal(size=200),
                          "c": rng.normal(size=200)})
    frame.loc[rng.random(200) < 0.3, "b"] = np.nan
    frame.loc[rng.random(200) < 0.2, "c"] = np.nan
    frame.to_csv(root / "t.csv", index=False)
    assert main(["train", str(root / "t.csv"), "--label-column", "kind", "--allow-missing",
                 "--out", str(root / "run"), *FAST]) == 0
    return root


def test_impute_keeps_layout_and_observed_cells(table_run):
    root = table_run
    assert main(["impute", str(root / "run"), str(root / "t.csv"), "--label-column", "kind",
                 "--iw-samples", "50", "--out", str(root / "f.csv"), "--quiet"]) == 0
    before, after = pd.read_csv(root / "t.csv"), pd.read_csv(root / "f.csv")
    assert list(after.columns) == ["a", "kind", "b", "c"] and len(after) == len(before)
    assert not after.isna().any().any()
    seen = before.notna()
    for column in before.columns:
        assert (after.loc[seen[column], column] == before.loc[seen[column], column]).all()


def test_multiple_imputation_writes_numbered_tables_that_differ(table_run):
    root = table_run
    assert main(["impute", str(root / "run"), str(root / "t.csv"), "--label-column", "kind", "--multiple", "3",
                 "--iw-samples", "50", "--out", str(root / "m.parquet"), "--quiet"]) == 0
    copies = [pd.read_parquet(root / f"m_{i}.parquet") for i in (1, 2, 3)]
    assert not (root / "m.parquet").exists()
    gaps = pd.read_csv(root / "t.csv")["b"].isna()
    assert not np.allclose(copies[0].loc[gaps, "b"], copies[1].loc[gaps, "b"])


def _write(root, name, frame):
    frame.to_csv(root / name, index=False)
    return str(root / name)


@pytest.mark.parametrize("case, message", [
    ("empty_column", "column 'c' has no observed value"),
    ("empty_row", "first row 4"),
    ("text", "column 'b' holds mixed values ('n/a?', "),
    ("other_columns", "columns differ"),
])
def test_bad_tables_give_one_clear_line_and_write_nothing(table_run, capsys, case, message):
    root = table_run
    frame = pd.read_csv(root / "t.csv")
    if case == "empty_column":
        frame["c"] = np.nan
    elif case == "empty_row":
        frame.loc[4, ["a", "b", "c"]] = np.nan
    elif case == "text":
        frame["b"] = frame["b"].astype(object)
        frame.loc[3, "b"] = "n/a?"
    else:
        frame = frame.rename(columns={"c": "d"})
    data = _write(root, f"{case}.csv", frame)
    capsys.readouterr()
    out = root / f"out_{case}.csv"
    assert main(["impute", str(root / "run"), data, "--label-column", "kind", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vaekit: error:") and message in err[0], err
    assert not out.exists() and not list(root.glob(f".out_{case}*"))


def test_inpaint_writes_the_picture_and_the_filled_images(tmp_path):
    run = tmp_path / "digits"
    assert main(["train", "digits", "--out", str(run), *FAST]) == 0
    mask = np.zeros((8, 8), bool)
    mask[:, :3] = True
    np.save(tmp_path / "mask.npy", mask)
    assert main(["inpaint", str(run), "digits", "--mask", str(tmp_path / "mask.npy"), "--iw-samples", "20",
                 "--out", str(tmp_path / "after.png"), "--save", str(tmp_path / "filled.npy"), "--quiet"]) == 0
    filled = np.load(tmp_path / "filled.npy")
    assert filled.shape == (1797, 1, 8, 8) and (tmp_path / "after.png").stat().st_size > 1000
    digits = load_dataset("digits").x.astype(np.float32)
    np.testing.assert_array_equal(filled[:, :, ~mask], digits[:, :, ~mask])  # undamaged pixels kept
    assert not np.array_equal(filled[:, :, mask], digits[:, :, mask])  # damaged ones replaced
    assert main(["inpaint", str(run), "digits", "--mask", "random", "--rate", "0.3", "--iw-samples", "5",
                 "--out", str(tmp_path / "random.png"), "--quiet"]) == 0
    np.save(tmp_path / "bad.npy", np.zeros((5, 5), bool))
    assert main(["inpaint", str(run), "digits", "--mask", str(tmp_path / "bad.npy"),
                 "--out", str(tmp_path / "bad.png"), "--quiet"]) == 1
    assert not (tmp_path / "bad.png").exists()
