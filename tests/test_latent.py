"""Latent maps, interpolation, traversals and per-dimension statistics, in Python and on the command line."""

import dataclasses
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from sklearn.decomposition import PCA

import vaekit
from vaekit.cli import main
from vaekit.data.example_lookup import find_example
from vaekit.errors import ConfigError, DataError
from vaekit.latent.dims import latent_dimensions
from vaekit.latent.interpolation import interpolate, lerp, slerp
from vaekit.latent.maps import embed
from vaekit.latent.pictures import draw_latent_map
from vaekit.latent.traversal import check_dims, kl_order, traversal_codes, traversal_values
from vaekit.model.ladder import LadderPrior
from vaekit.model.priors import MixtureOfGaussians, StandardNormal


def _saved_model(folder, data: str):
    """A tiny model of a built-in data set, saved as a run folder (4 latent dimensions)."""
    vaekit.VAE(hidden=(32,), latent_dim=4, epochs=3).fit(vaekit.load_dataset(data)).save(folder)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _saved_model(tmp_path_factory.mktemp("runs") / "digits", "digits")


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    return _saved_model(tmp_path_factory.mktemp("runs") / "wine", "wine")


def _clusters(n_per: int = 60, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in d dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 20, (3, d))
    labels = np.repeat(np.arange(3), n_per)
    return centres[labels] + rng.normal(size=(3 * n_per, d)), labels


def _neighbour_agreement(coords: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose nearest other point in 2-D has the same label."""
    dist = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    return float(np.mean(labels[dist.argmin(1)] == labels))


# -- maps --------------------------------------------------------------------------------------

def test_pca_equals_scikit_learn():
    codes = np.random.default_rng(0).normal(size=(300, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    coords, info = embed(codes, "pca")
    np.testing.assert_allclose(coords, PCA(n_components=2).fit_transform(codes), atol=1e-8)
    np.testing.assert_allclose(info["explained_variance_ratio"], PCA().fit(codes).explained_variance_ratio_)
    assert len(info["explained_variance_ratio"]) == 6 and info["axis_labels"][0].startswith("PC1 (")


def test_pca_of_a_one_dimensional_code_fills_the_second_axis_with_zeros():
    coords, info = embed(np.arange(10.0)[:, None], "pca")
    assert coords.shape == (10, 2) and not coords[:, 1].any()
    assert info["explained_variance_ratio"] == pytest.approx([1.0])


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_neighbourhood_maps_keep_clusters_apart(method):
    codes, labels = _clusters()
    coords, info = embed(codes, method, seed=0)
    assert coords.shape == (len(codes), 2) and np.isfinite(coords).all()
    assert _neighbour_agreement(coords, labels) == 1.0
    assert info["method"] == method


def test_embed_refuses_bad_input():
    with pytest.raises(ConfigError, match="unknown map method"):
        embed(np.zeros((10, 2)), "mds")
    with pytest.raises(DataError, match="NaN"):
        embed(np.full((10, 2), np.nan), "pca")
    with pytest.raises(DataError, match="at least 5"):
        embed(np.zeros((3, 2)), "tsne")


# -- interpolation -----------------------------------------------------------------------------

vectors = arrays(np.float64, st.integers(2, 16), elements=st.floats(-5, 5, allow_subnormal=False))


@settings(max_examples=60, deadline=None)
@given(vectors, st.integers(0, 2**32 - 1))
def test_slerp_stays_on_the_sphere(start, seed):
    norm = np.linalg.norm(start)
    if norm < 1e-3:
        return
    end = np.random.default_rng(seed).normal(size=start.shape)
    end *= norm / np.linalg.norm(end)
    path = slerp(start, end, np.linspace(0, 1, 11))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), norm, rtol=1e-9)
    np.testing.assert_allclose(path[0], start, atol=1e-9)
    np.testing.assert_allclose(path[-1], end, atol=1e-9)


def test_slerp_turns_at_constant_speed_and_lerp_goes_straight():
    start, end = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    angles = np.arctan2(*slerp(start, end, np.linspace(0, 1, 5))[:, ::-1].T)
    np.testing.assert_allclose(np.diff(angles), np.pi / 8)
    np.testing.assert_allclose(lerp(start, end, np.array([0.5])), [[0.5, 0.5]])
    # Norms differ: the norm changes linearly, the direction still turns uniformly.
    path = slerp(start, 3 * end, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), [1, 1.5, 2, 2.5, 3])


def test_slerp_falls_back_to_a_line_when_no_great_circle_is_defined():
    start = np.array([1.0, 2.0])
    for end in (2 * start, -start, np.zeros(2)):
        np.testing.assert_allclose(slerp(start, end, np.linspace(0, 1, 4)), lerp(start, end, np.linspace(0, 1, 4)))


def test_interpolate_checks_its_settings():
    assert interpolate(np.zeros(3), np.ones(3), 4).shape == (4, 3)
    with pytest.raises(ConfigError, match="steps"):
        interpolate(np.zeros(3), np.ones(3), 1)
    with pytest.raises(ConfigError, match="mode"):
        interpolate(np.zeros(3), np.ones(3), 3, "cubic")


# -- traversals --------------------------------------------------------------------------------

def test_traversal_changes_exactly_one_coordinate():
    base = np.random.default_rng(0).normal(size=6).astype(np.float32)
    dims, values = [4, 0, 2], traversal_values(-3, 3, 7)
    codes = traversal_codes(base, dims, values)
    assert codes.shape == (3, 7, 6)
    for row, u in enumerate(dims):
        changed = codes[row] != base
        assert not changed[:, np.arange(6) != u].any()
        np.testing.assert_array_equal(codes[row, :, u], values)


def test_dimension_order_and_checks():
    assert kl_order(np.array([0.1, 2.0, 0.0, 2.0])) == [1, 3, 0, 2]
    with pytest.raises(ConfigError, match="not a latent dimension"):
        check_dims([0, 7], 4)
    with pytest.raises(ConfigError, match="twice"):
        check_dims([1, 1], 4)
    with pytest.raises(ConfigError, match="LOW < HIGH"):
        traversal_values(3, -3, 5)


def test_latent_dimensions_match_evaluate(run_dir):
    vae = vaekit.load(run_dir)
    data = vaekit.load_dataset("digits")
    dims = latent_dimensions(vae, data)
    report = vae.evaluate(data, iw_samples=1)
    np.testing.assert_allclose(dims.kl_per_dim, report["kl_per_dim"], rtol=1e-5)
    assert int(dims.active.sum()) == report["active_units"]
    assert dims.order == kl_order(dims.kl_per_dim)


# -- sampling ----------------------------------------------------------------------------------

def test_temperature_scales_the_spread_of_every_prior_around_its_means():
    gen = torch.Generator().manual_seed(0)
    np.testing.assert_allclose(StandardNormal(3).sample(20000, gen, temperature=0.5).std(0), 0.5, rtol=0.03)
    mog = MixtureOfGaussians(2, components=1)
    with torch.no_grad():
        mog.means.fill_(4.0)
        mog.logvars.fill_(np.log(0.25))  # sd 0.5
    draws = mog.sample(20000, gen, temperature=0.4).detach()
    np.testing.assert_allclose(draws.mean(0), 4.0, atol=0.02)  # codes stay at the mixture's mean
    np.testing.assert_allclose(draws.std(0), 0.2, rtol=0.03)
    ladder = LadderPrior((3, 2), width=8)
    cold, warm = (ladder.sample(4, gen, temperature=t).detach() for t in (0.0, 1.0))
    assert torch.allclose(cold, cold[:1].expand(4, -1)) and not torch.allclose(warm, warm[:1].expand(4, -1))
    top_down_means = ladder.conditional(0, torch.zeros(1, 2))[0].detach()
    np.testing.assert_allclose(cold[0, :3], top_down_means[0], atol=1e-6)  # every layer at its mean


def test_sample_command_writes_tables_in_original_units_and_columns(table_run, tmp_path, capsys):
    vae, wine = vaekit.load(table_run), vaekit.load_dataset("wine")
    out = tmp_path / "s.csv"
    assert main(["sample", str(table_run), "-n", "50", "--temperature", "0.5", "--seed", "3", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == wine.columns and len(table) == 50
    np.testing.assert_allclose(table, vae.sample(50, temperature=0.5, seed=3), rtol=1e-5)
    # Original units: proline is in the hundreds, as in the data, not standardised around 0.
    assert abs(table["proline"].mean() - wine.x[:, -1].mean()) < wine.x[:, -1].std()
    assert main(["sample", str(table_run), "-n", "50", "--temperature", "1e-4", "--out", str(out)]) == 0
    origin = vae.inverse_transform(np.zeros((1, 4), dtype=np.float32))
    np.testing.assert_allclose(pd.read_csv(out), np.repeat(origin, 50, 0), rtol=1e-3)
    assert main(["sample", str(table_run), "--temperature", "0", "--out", str(out)]) == 1
    assert "--temperature must be positive" in capsys.readouterr().err


# -- finding examples --------------------------------------------------------------------------

def test_find_example_by_number_name_and_image_file(tmp_path, run_dir):
    pre = vaekit.load(run_dir).preprocessor_
    data = vaekit.load_dataset("digits")
    example, name = find_example(data, "5", "--from", pre)
    assert name == "#5" and np.array_equal(example.x, data.x[5:6])
    with pytest.raises(DataError, match="--from 1797 is out of range.*0..1796"):
        find_example(data, "1797", "--from", pre)
    with pytest.raises(DataError, match="expected an example number"):
        find_example(data, "nonsense", "--to", pre)
    # An image file is read at the model's size and put on the training data's scale (0..16).
    image = Image.fromarray(np.round(data.x[3, 0] * 255.0 / 16).astype(np.uint8))
    image.save(tmp_path / "three.png")
    example, name = find_example(data, str(tmp_path / "three.png"), "--from", pre)
    assert name == "three.png"
    np.testing.assert_allclose(example.x[0], data.x[3], atol=0.05)
    image.resize((20, 20)).save(tmp_path / "big.png")  # any size: read at the model's
    assert find_example(data, str(tmp_path / "big.png"), "--from", pre)[0].shape == (1, 8, 8)
    named = vaekit.data.Dataset(x=data.x[:3], kind="image", names=["a.png", "b.png", "c.png"], value_max=16.0)
    assert np.array_equal(find_example(named, "b.png", "--to", pre)[0].x, data.x[1:2])


# -- command line ------------------------------------------------------------------------------

def test_latent_command_writes_picture_and_coordinates(run_dir, tmp_path, capsys):
    out = tmp_path / "map.png"
    assert main(["latent", str(run_dir), "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "explained variance per component: PC1" in printed and "map.variance.csv" in printed
    table = pd.read_csv(out.with_suffix(".csv"))
    assert list(table.columns) == ["example", "pc1", "pc2", "label"] and len(table) == 1797
    codes = vaekit.load(run_dir).transform(vaekit.load_dataset("digits")).astype(np.float64)
    np.testing.assert_allclose(table[["pc1", "pc2"]], PCA(2).fit_transform(codes), atol=1e-4)
    variance = pd.read_csv(tmp_path / "map.variance.csv")
    assert list(variance["component"]) == ["PC1", "PC2", "PC3", "PC4"]
    np.testing.assert_allclose(variance["explained_variance_ratio"], PCA().fit(codes).explained_variance_ratio_,
                               rtol=1e-5)
    assert variance["cumulative"].iloc[-1] == pytest.approx(1.0)
    with Image.open(out) as img:
        assert img.size[0] > 300


def test_latent_command_colours_a_table_by_a_column(table_run, tmp_path):
    out = tmp_path / "wine.png"
    assert main(["latent", str(table_run), "wine", "--color-by", "alcohol", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    np.testing.assert_allclose(table["alcohol"], vaekit.load_dataset("wine").x[:, 0], rtol=1e-6)


def test_a_colour_named_like_a_csv_column_gets_its_own_column(table_run, tmp_path):
    """Colouring by a factor called "label" keeps the labels and adds the factor beside them."""
    wine = vaekit.load_dataset("wine")
    sweetness = np.arange(wine.n) % 5
    data = dataclasses.replace(wine, factors=sweetness[:, None], factor_names=["label"])
    info = draw_latent_map(vaekit.load(table_run), data, tmp_path / "m.png", color_by="label")
    table = pd.read_csv(tmp_path / "m.csv")
    assert list(table.columns) == ["example", "pc1", "pc2", "label", "label_colour"]
    np.testing.assert_array_equal(table["label"], wine.labels)
    np.testing.assert_array_equal(table["label_colour"], sweetness)
    assert [p.name for p in info["files"]] == ["m.png", "m.csv", "m.variance.csv"]


def test_interpolation_ends_at_the_reconstructions(run_dir, tmp_path):
    out = tmp_path / "path.npy"
    assert main(["interpolate", str(run_dir), "digits", "--from", "0", "--to", "7", "--steps", "5",
                 "--mode", "slerp", "--out", str(out)]) == 0
    path = np.load(out)
    assert path.shape == (1, 5, 1, 8, 8)
    vae = vaekit.load(run_dir)
    ends = vae.reconstruct(vaekit.load_dataset("digits").subset([0, 7]))
    np.testing.assert_allclose(path[0, [0, -1]], ends, atol=1e-4)
    assert main(["interpolate", str(run_dir), "digits", "--from", "0", "--to", "7", "--out",
                 str(tmp_path / "strip.png")]) == 0


def test_traverse_command(run_dir, tmp_path, capsys):
    """Rows in KL order around example 3's code; --dims around the origin; each grid decodes those codes."""
    vae, digits = vaekit.load(run_dir), vaekit.load_dataset("digits")
    values = traversal_values(-2, 2, 5)
    out = tmp_path / "traverse.npy"
    assert main(["traverse", str(run_dir), "digits", "--steps", "5", "--range", "-2", "2", "--base", "3",
                 "--out", str(out)]) == 0
    order = latent_dimensions(vae, digits).order
    base = vae.transform(digits.subset([3]))[0]
    expected = vae.inverse_transform(traversal_codes(base, order, values).reshape(-1, 4))
    np.testing.assert_allclose(np.load(out), expected.reshape(4, 5, 1, 8, 8), atol=1e-5)
    assert main(["traverse", str(run_dir), "--dims", "2", "0", "--steps", "5", "--range", "-2", "2",
                 "--out", str(out)]) == 0
    expected = vae.inverse_transform(traversal_codes(np.zeros(4), [2, 0], values).reshape(-1, 4))
    np.testing.assert_allclose(np.load(out), expected.reshape(2, 5, 1, 8, 8), atol=1e-5)
    assert main(["traverse", str(run_dir), "--dims", "2", "0", "--out", str(tmp_path / "t.png")]) == 0
    assert main(["traverse", str(run_dir), "--base", "3", "--out", str(tmp_path / "t.png")]) == 1
    assert "give DATA" in capsys.readouterr().err


def test_table_paths_are_written_in_original_columns(table_run, tmp_path):
    vae, wine = vaekit.load(table_run), vaekit.load_dataset("wine")
    out = tmp_path / "path.csv"
    assert main(["interpolate", str(table_run), "wine", "--from", "0", "--to", "150", "--steps", "4",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["path", "t", "alcohol"] and len(table) == 4
    np.testing.assert_allclose(table[wine.columns].iloc[[0, -1]], vae.reconstruct(wine.subset([0, 150])),
                               rtol=1e-5)
    # The end given as a file holding one row: the same path as by number.
    pd.DataFrame(wine.x[[150]], columns=wine.columns).to_csv(tmp_path / "row.csv", index=False)
    assert main(["interpolate", str(table_run), "wine", "--from", "0", "--to", str(tmp_path / "row.csv"),
                 "--steps", "4", "--out", str(tmp_path / "by_file.csv")]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "by_file.csv")[wine.columns], table[wine.columns],
                               rtol=1e-5)
    assert main(["traverse", str(table_run), "wine", "--out", str(tmp_path / "t.csv")]) == 0
    traversal = pd.read_csv(tmp_path / "t.csv")
    assert len(traversal) == 4 * 9 and list(traversal["dim"].iloc[::9]) == latent_dimensions(vae, wine).order
    assert main(["traverse", str(table_run), "wine", "--out", str(tmp_path / "t.png")]) == 0


def test_dims_command(run_dir, tmp_path, capsys):
    out = tmp_path / "dims.png"
    assert main(["dims", str(run_dir), "digits", "--out", str(out), "--json"]) == 0
    result = __import__("json").loads(capsys.readouterr().out)
    assert result["latent_dim"] == 4 and len(result["dims"]) == 4
    kls = [r["kl"] for r in result["dims"]]
    assert kls == sorted(kls, reverse=True) and out.is_file()


def test_a_reader_that_leaves_early_ends_the_command_quietly(run_dir, tmp_path):
    """`vaekit dims RUN DATA | head -1`: no BrokenPipeError traceback, the exit status of a SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "vaekit", "dims", str(run_dir), "digits", "--out",
                             str(tmp_path / "dims.png")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has printed anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


MISMATCH = "but the model was trained on image examples of shape (1, 8, 8)"


@pytest.mark.parametrize("argv, message", [
    (["latent", "{run}", "digits", "--color-by", "colour", "--out", "{tmp}/m.png"], "no such column"),
    (["latent", "{table}", "wine", "--color-by", "alcool", "--out", "{tmp}/m.png"],
     "'alcool': DATA has no such column; choose one of: labels, alcohol, malic_acid"),
    (["latent", "{run}", "digits", "--out", "{tmp}/m.jpg"], "choose a file ending in .png"),
    (["interpolate", "{run}", "digits", "--from", "0", "--to", "5000", "--out", "{tmp}/p.png"],
     "--to 5000 is out of range: digits (scikit-learn) has 1797 examples, numbered 0..1796"),
    (["interpolate", "{run}", "digits", "--from", "-1", "--to", "3", "--out", "{tmp}/p.png"],
     "--from -1 is out of range"),
    (["interpolate", "{table}", "wine", "--from", "{tmp}/two.csv", "--to", "3", "--out", "{tmp}/p.png"],
     "two.csv: holds 2 examples; give a file with exactly one"),
    (["traverse", "{run}", "digits", "--base", "1797", "--out", "{tmp}/t.png"], "--base 1797 is out of range"),
    (["traverse", "{run}", "--dims", "9", "--out", "{tmp}/t.png"], "not a latent dimension"),
    (["traverse", "{run}", "--range", "2", "-2", "--out", "{tmp}/t.png"], "--range needs LOW < HIGH"),
    (["dims", "{tmp}", "digits", "--out", "{tmp}/d.png"], "not a vaekit run folder"),
    # DATA that does not fit the model, in every command that reads DATA
    (["latent", "{run}", "wine", "--out", "{tmp}/m.png"], MISMATCH),
    (["latent", "{run}", "{tmp}/small.npy", "--out", "{tmp}/m.png"],
     "small.npy has image examples of shape (1, 10, 10), " + MISMATCH),
    (["latent", "{table}", "digits", "--out", "{tmp}/m.png"], "but the model was trained on table examples"),
    (["dims", "{run}", "wine", "--out", "{tmp}/d.png"], MISMATCH),
    (["interpolate", "{run}", "{tmp}/small.npy", "--from", "0", "--to", "1", "--out", "{tmp}/p.png"], MISMATCH),
    (["interpolate", "{run}", "digits", "--from", "{tmp}/two.csv", "--to", "1", "--out", "{tmp}/p.png"],
     "--from {tmp}/two.csv: the file has table examples of shape (13,), " + MISMATCH),
    (["traverse", "{run}", "wine", "--out", "{tmp}/t.png"], MISMATCH),
    (["disentangle", "{run}", "{tmp}/small.npy", "--out", "{tmp}/i.png"], MISMATCH),
    (["report", "{run}", "wine", "--out", "{tmp}/r.html"], MISMATCH),
])
def test_bad_input_is_one_clear_line(run_dir, table_run, tmp_path, capsys, argv, message):
    np.save(tmp_path / "small.npy", np.zeros((5, 1, 10, 10), dtype=np.float32))
    wine = vaekit.load_dataset("wine")
    pd.DataFrame(wine.x[:2], columns=wine.columns).to_csv(tmp_path / "two.csv", index=False)
    argv = [a.format(run=run_dir, table=table_run, tmp=tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaekit: error:") and message.format(tmp=tmp_path) in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.html"))  # nothing half-written


LATENT_COMMANDS = ["latent", "dims", "interpolate", "traverse", "disentangle", "explore", "report"]


def test_help_lists_the_latent_commands_together_and_each_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = [m[1] for line in capsys.readouterr().out.splitlines() if (m := re.match(r"    (\w+)", line))]
    assert listed[:4] == ["train", "tune", "evaluate", "sample"] and listed[-1] == "info"
    start = listed.index("latent")
    assert listed[start : start + len(LATENT_COMMANDS)] == LATENT_COMMANDS
    for command in LATENT_COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and f"  vaekit {command} runs/" in text, command
        assert "(default: None)" not in text, command
