"""The shapes data set, factor files and the disentanglement metrics (MIG, FactorVAE, DCI, SAP)."""

import json

import numpy as np
import pandas as pd
import pytest

import vaekit
from vaekit.cli import main
from vaekit.data.factors import read_factors, with_factors
from vaekit.data.shapes import FACTOR_NAMES, FACTOR_SIZES, POSITIONS, SIZE, make_shapes, render_shapes
from vaekit.errors import DataError
from vaekit.latent.disentanglement import (
    dci,
    discretize_factors,
    disentanglement_scores,
    factor_vae_score,
    mig,
    sap,
)

N = 1500
LEVELS = (3, 5, 8)


@pytest.fixture(scope="module")
def factors():
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, size, N) for size in LEVELS], axis=1)


@pytest.fixture(scope="module")
def perfect(factors):
    """Each factor in its own dimension (scaled, slightly noisy), plus one dimension of pure noise."""
    rng = np.random.default_rng(1)
    code = factors / np.array(LEVELS) + rng.normal(0, 1e-3, factors.shape)
    return np.column_stack([code, rng.normal(size=N)])


@pytest.fixture(scope="module")
def random_code():
    return np.random.default_rng(2).normal(size=(N, 4))


# -- the shapes data set -----------------------------------------------------------------------

def test_shapes_are_deterministic_binary_images_with_their_factors():
    a, b, other = make_shapes(200, seed=3), make_shapes(200, seed=3), make_shapes(200, seed=4)
    assert a.x.shape == (200, 1, SIZE, SIZE) and a.x.dtype == np.uint8 and set(np.unique(a.x)) == {0, 255}
    assert np.array_equal(a.x, b.x) and np.array_equal(a.factors, b.factors)
    assert not np.array_equal(a.x, other.x)
    assert a.factor_names == list(FACTOR_NAMES) and (a.factors < np.array(FACTOR_SIZES)).all()
    assert (a.x.reshape(200, -1).max(1) == 255).all()  # every image shows a shape
    sub = a.subset([5, 7])
    assert np.array_equal(sub.factors, a.factors[[5, 7]]) and list(sub.labels) == list(a.labels[[5, 7]])


def _centroid(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image[0])
    return np.array([cols.mean(), rows.mean()])


def test_each_factor_moves_the_picture_the_way_it_says():
    base = np.array([0, 3, 0, 10, 10])
    step_px = (POSITIONS[1] - POSITIONS[0]) * SIZE
    variants = np.array([base, base + [0, 0, 0, 5, 0], base + [0, 0, 0, 0, 5], base + [0, 2, 0, 0, 0],
                         base + [0, 0, 5, 0, 0]])
    images = render_shapes(variants)
    shift_x = _centroid(images[1]) - _centroid(images[0])
    shift_y = _centroid(images[2]) - _centroid(images[0])
    np.testing.assert_allclose(shift_x, [5 * step_px, 0], atol=0.6)  # x moves right
    np.testing.assert_allclose(shift_y, [0, -5 * step_px], atol=0.6)  # y moves up
    assert (images[3] > 0).sum() > 1.3 * (images[0] > 0).sum()  # larger scale, larger area
    rotated = images[4]  # 45 degrees: same area (up to pixels), different pixels
    assert abs(int((rotated > 0).sum()) - int((images[0] > 0).sum())) < 0.1 * (images[0] > 0).sum()
    assert not np.array_equal(rotated, images[0])
    with pytest.raises(DataError, match="0..size-1"):
        render_shapes(np.array([[3, 0, 0, 0, 0]]))


def test_shapes_is_a_builtin_with_factors():
    data = vaekit.load_dataset("shapes")
    assert data.n == 10_000 and data.factors.shape == (10_000, 5) and data.value_max == 255.0


# -- factors -----------------------------------------------------------------------------------

def test_factor_files(tmp_path):
    pd.DataFrame({"size": [1.5, 2.0, 1.5], "colour": ["red", "blue", "red"]}).to_csv(tmp_path / "f.csv",
                                                                                     index=False)
    values, names = read_factors(tmp_path / "f.csv")
    assert names == ["size", "colour"] and values.tolist() == [[1.5, 0], [2.0, 1], [1.5, 0]]
    np.save(tmp_path / "f.npy", np.arange(3))
    assert read_factors(tmp_path / "f.npy")[1] == ["factor0"]
    data = vaekit.data.from_array(np.zeros((3, 2)))
    assert with_factors(data, tmp_path / "f.csv").factor_names == ["size", "colour"]
    with pytest.raises(DataError, match="4 rows of factors for 3 examples"):
        np.save(tmp_path / "g.npy", np.arange(4))
        with_factors(data, tmp_path / "g.npy")
    pd.DataFrame({"size": [1.0, None, 2.0]}).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataError, match="'size' is missing or not finite at row 1"):
        read_factors(tmp_path / "h.csv")


def test_discretize_keeps_classes_and_bins_continuous_factors():
    rng = np.random.default_rng(0)
    factors = np.column_stack([rng.integers(0, 7, 500) * 10.0, rng.normal(size=500)])
    classes = discretize_factors(factors)
    assert len(np.unique(classes[:, 0])) == 7 and len(np.unique(classes[:, 1])) <= 20
    assert np.array_equal(np.argsort(classes[:, 0], kind="stable"), np.argsort(factors[:, 0], kind="stable"))
    with pytest.raises(DataError, match="factor 'flat' takes a single value"):
        discretize_factors(np.ones((10, 1)), ["flat"])


# -- the metrics' known values -----------------------------------------------------------------

def test_a_perfectly_disentangled_code_scores_one(perfect, factors):
    assert mig(perfect, factors)[0] > 0.97
    assert factor_vae_score(perfect, factors) > 0.99
    d = dci(perfect, factors)
    assert d["disentanglement"] > 0.97 and d["completeness"] > 0.97 and d["informativeness"] > 0.97
    assert sap(perfect, factors)[0] > 0.97


def test_a_random_code_scores_zero_or_chance(random_code, factors):
    assert mig(random_code, factors)[0] < 0.02
    assert sap(random_code, factors)[0] < 0.05
    d = dci(random_code, factors)
    assert d["disentanglement"] < 0.05 and d["completeness"] < 0.05
    chance = np.mean([1 / size for size in LEVELS])
    assert abs(d["informativeness"] - chance) < 0.08  # predicting the factors is guesswork
    assert abs(factor_vae_score(random_code, factors) - 1 / len(LEVELS)) < 0.08  # FactorVAE's chance is 1/K


def test_mixing_the_dimensions_lowers_the_scores(perfect, factors):
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))[0]
    mixed = disentanglement_scores(perfect @ rotation, factors)
    clean = disentanglement_scores(perfect, factors, ["a", "b", "c"])
    assert clean.factor_names == ["a", "b", "c"]
    for metric in ("mig", "dci_disentanglement", "dci_completeness", "sap"):
        assert getattr(mixed, metric) < getattr(clean, metric) - 0.2, metric
    mi = np.asarray(clean.normalized_mi)
    assert mi.shape == (4, 3) and np.array_equal(mi.argmax(0), [0, 1, 2])


# -- command line ------------------------------------------------------------------------------

def test_disentangle_command_with_a_factors_file(tmp_path, capsys):
    shapes = make_shapes(300, seed=0)
    np.save(tmp_path / "x.npy", shapes.x)
    np.save(tmp_path / "factors.npy", shapes.factors)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(run), "--hidden", "16", "--latent-dim", "3",
                 "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["disentangle", str(run), str(tmp_path / "x.npy"), "--factors", str(tmp_path / "factors.npy"),
                 "--json", "--out", str(tmp_path / "mi.png")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) >= {"mig", "factor_vae", "dci_disentanglement", "dci_completeness",
                           "dci_informativeness", "sap"}
    assert all(0 <= scores[k] <= 1 for k in ("mig", "factor_vae", "sap")) and (tmp_path / "mi.png").is_file()
    assert main(["disentangle", str(run), str(tmp_path / "x.npy")]) == 1
    assert "no known factors" in capsys.readouterr().err
