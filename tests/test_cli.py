"""The command line, end to end: train, evaluate, sample, reconstruct, info, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vaekit.cli import main

FAST = ["--hidden", "32", "--latent-dim", "4", "--epochs", "3", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "digits", "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_a_complete_run_folder(run_dir):
    for name in ("config.json", "model.safetensors", "preprocessing.json", "metrics.jsonl",
                 "checkpoints/last.safetensors", "samples.png", "reconstructions.png", "loss.png"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["likelihood"] == "bernoulli" and config["train"]["binarize"] == "dynamic"
    assert "torch" in config["versions"]
    with Image.open(run_dir / "samples.png") as img:
        assert img.size[0] > 100


def test_evaluate_json(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "digits", "--iw-samples", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("elbo", "nll", "bits_per_dim", "recon_mse", "kl_per_dim", "active_units"):
        assert key in result
    assert result["nll"] <= -result["elbo"] + 0.5  # IWAE tightens the bound (up to sampling noise)
    assert len(result["kl_per_dim"]) == 4 and result["kl_per_layer"] is None


def _no_nan(token: str) -> None:
    raise AssertionError(f"{token} is not valid JSON")


def test_evaluate_json_of_a_ladder_is_valid_json_with_the_kl_of_each_layer(tmp_path, capsys):
    """A ladder's KL has no per-dimension split: null, not NaN (which json.loads would otherwise accept)."""
    run = tmp_path / "ladder"
    assert main(["train", "digits", "--out", str(run), "--ladder", "2", *FAST]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "digits", "--iw-samples", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out, parse_constant=_no_nan)
    assert result["kl_per_dim"] is None
    assert len(result["kl_per_layer"]) == 2 and all(kl > 0 for kl in result["kl_per_layer"])
    assert abs(sum(result["kl_per_layer"]) - result["kl"]) < 0.1 * result["kl"]  # one-sample estimates of one total
    assert main(["evaluate", str(run), "digits", "--iw-samples", "5"]) == 0
    assert "KL of layer 2" in capsys.readouterr().out


def test_evaluate_table(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "digits", "--iw-samples", "5"]) == 0
    out = capsys.readouterr().out
    assert "NLL (IWAE k=5)" in out and "active units" in out


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_sample_and_reconstruct(run_dir, tmp_path, suffix):
    assert main(["sample", str(run_dir), "-n", "9", "--out", str(tmp_path / f"s{suffix}")]) == 0
    assert main(["reconstruct", str(run_dir), "digits", "--out", str(tmp_path / f"r{suffix}")]) == 0
    if suffix == ".npy":
        assert np.load(tmp_path / "s.npy").shape == (9, 1, 8, 8)
        assert np.load(tmp_path / "r.npy").shape == (1797, 1, 8, 8)


def test_info(run_dir, capsys):
    assert main(["info", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "latent 4" in out


def test_tables_end_to_end(tmp_path, capsys):
    out = tmp_path / "wine"
    assert main(["train", "wine", "--out", str(out), *FAST]) == 0
    assert main(["sample", str(out), "-n", "5", "--out", str(tmp_path / "s.csv")]) == 0
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header.startswith("alcohol,")
    assert main(["reconstruct", str(out), "wine", "--out", str(tmp_path / "r.csv")]) == 0


def test_existing_run_is_not_overwritten(run_dir, capsys):
    assert main(["train", "digits", "--out", str(run_dir), *FAST]) == 1
    assert "--resume" in capsys.readouterr().err


def test_resume_extends_training(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "digits", "--out", str(out), *FAST]) == 0
    assert main(["train", "digits", "--out", str(out), "--resume", "--epochs", "5", "--quiet"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 5


def _write_mixed_size_folder(path):
    path.mkdir()
    Image.new("L", (8, 8)).save(path / "a.png")
    Image.new("L", (9, 8)).save(path / "b.png")


def _write_text_csv(path):
    path.write_text("a,b\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n")


def _write_nan_npy(path):
    np.save(path, np.array([[1.0, np.nan], [2.0, 3.0]]))


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, ["train", "no/such/file.npy", "--out", "{tmp}/o"], "no such file"),
        (None, ["train", "nonsense", "--out", "{tmp}/o"], "built-in"),
        (_write_mixed_size_folder, ["train", "{tmp}/in", "--out", "{tmp}/o"], "--resize"),
        (_write_text_csv, ["train", "{tmp}/in.csv", "--out", "{tmp}/o"], "column 'b' holds dates"),
        (_write_nan_npy, ["train", "{tmp}/in.npy", "--out", "{tmp}/o"], "NaN"),
        (None, ["evaluate", "{tmp}", "digits"], "not a vaekit run folder"),
        (None, ["train", "digits", "--out", "{tmp}/o", "--beta", "-1"], "beta"),
        (None, ["train", "wine", "--out", "{tmp}/o", "--model", "conv"], "mlp"),
    ],
)
def test_bad_input_gives_one_line_error_and_no_traceback(tmp_path, make, args, message):
    if make is not None:
        suffix = {"_write_mixed_size_folder": "", "_write_text_csv": ".csv", "_write_nan_npy": ".npy"}[make.__name__]
        make(tmp_path / f"in{suffix}")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--quiet"] * (args[0] == "train")
    proc = subprocess.run([sys.executable, "-m", "vaekit", *argv], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:"), proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_help_teaches():
    proc = subprocess.run([sys.executable, "-m", "vaekit", "train", "--help"], capture_output=True, text=True,
                          check=True)
    assert proc.returncode == 0
    assert "ELBO" in proc.stdout and "examples:" in proc.stdout and "--iw-samples" in proc.stdout


HEAVY_LIBRARIES = {"torch", "sklearn", "matplotlib", "pandas"}


def test_help_imports_no_heavy_library():
    """`vaekit --help` imports every command module to build the parser; one that imports torch,
    scikit-learn, matplotlib or pandas at its top makes every call seconds slower. Import them in
    the function that runs the command."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "vaekit", "--help"],
                          capture_output=True, text=True, check=True, timeout=120)
    lines = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    imported = {name.split(".")[0] for name in lines}
    assert "vaekit" in imported and "\n    train " in proc.stdout  # the command modules did load
    assert not imported & HEAVY_LIBRARIES, f"`vaekit --help` imports {sorted(imported & HEAVY_LIBRARIES)}"


def test_choices_on_the_command_line_are_the_implemented_ones():
    """The likelihood and prior names the CLI offers (from the light vaekit.config.configs) are the registries'
    names, and each resolves in a fresh process, whatever was imported before."""
    code = ("from vaekit.config.configs import LIKELIHOOD_NAMES, PRIOR_NAMES\n"
            "from vaekit.model.likelihoods import LIKELIHOODS, likelihood_class\n"
            "from vaekit.model.priors import PRIORS\n"
            "assert [likelihood_class(n).name for n in LIKELIHOOD_NAMES] == list(LIKELIHOOD_NAMES)\n"
            "assert list(LIKELIHOODS) == list(LIKELIHOOD_NAMES), list(LIKELIHOODS)\n"
            "assert list(PRIORS) == list(PRIOR_NAMES), list(PRIORS)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_table_of_zeros_and_ones_trains_with_bernoulli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (rng.random((200, 64)) < 0.3).astype(np.uint8))  # binarised rows, as MNIST ships
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.npy"), "--likelihood", "bernoulli", "--out", str(out), *FAST]) == 0
    assert main(["evaluate", str(out), str(tmp_path / "x.npy"), "--iw-samples", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["bits_per_dim"] < 1.5


@pytest.mark.parametrize("values, message", [
    (lambda d: d / 16, "trained on images of integers in 0..16, but these are floats in 0..1"),
    (lambda d: (d * (255 / 16)).round().astype(np.uint8), "but these are integers in 0..255"),
])
def test_images_on_another_scale_than_training_are_refused(run_dir, tmp_path, values, message):
    from vaekit.data import load_dataset

    np.save(tmp_path / "other.npy", values(load_dataset("digits").x))
    proc = subprocess.run([sys.executable, "-m", "vaekit", "evaluate", str(run_dir), str(tmp_path / "other.npy")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:") and message in lines[0], proc.stderr


def test_labels_belong_to_data_and_test_has_its_own(tmp_path):
    """--labels go with DATA (60 images), --test-labels with TEST (20): each checked against its own data."""
    rng = np.random.default_rng(0)
    for name, n in (("train", 60), ("test", 20)):
        np.save(tmp_path / f"{name}.npy", rng.random((n, 1, 6, 6)).astype(np.float32))
        np.save(tmp_path / f"{name}_labels.npy", rng.integers(0, 3, n))
    data = [str(tmp_path / "train.npy"), "--labels", str(tmp_path / "train_labels.npy"), "--test",
            str(tmp_path / "test.npy")]
    assert main(["train", *data, "--out", str(tmp_path / "a"), *FAST]) == 0
    assert main(["train", *data, "--test-labels", str(tmp_path / "test_labels.npy"), "--out", str(tmp_path / "b"),
                 *FAST]) == 0
    assert (tmp_path / "b" / "test_metrics.json").is_file()
