"""Compression: exact lossless round trips (bits-back, any batch size), lossy = the decoder's
reconstruction, identical bytes on every run and thread count, and clear errors for damaged,
old-format or mismatched files."""

import struct
import zlib
from dataclasses import asdict, field, make_dataclass

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli import main
from vaekit.compression import CompressedFileError, compress, decompress, reconstruction
from vaekit.compression.codec import _exact_vae
from vaekit.compression.container import VERSION, model_fingerprint
from vaekit.compression.exact_network import ExactVAE
from vaekit.compression.fixedpoint import ONE, PROB_ONE, normal_cdf, sigmoid
from vaekit.compression.lossy import LossyCodec, step_for_quality
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError, DataError

TINY = {"hidden": (32,), "latent_dim": 4, "epochs": 3, "batch_size": 64, "seed": 0}
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

DIGITS = load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16
LEVELS = DIGITS * 15  # 0..240: 8-bit images, full intensity 255
BINARY = np.where(DIGITS > 6, 255, 0).astype(np.uint8)
RGB = np.random.default_rng(0).integers(0, 256, (300, 3, 5, 7)).astype(np.uint8)  # odd-sized colour images


@pytest.fixture(scope="module")
def models():
    return {
        "bernoulli": vaekit.VAE(likelihood="bernoulli", binarize="none", **TINY).fit(BINARY),
        "logistic": vaekit.VAE(likelihood="logistic", **TINY).fit(LEVELS),
        "categorical": vaekit.VAE(likelihood="categorical", **TINY).fit(LEVELS),
        "conv": vaekit.VAE(model="conv", channels=(4, 8), likelihood="logistic", **TINY).fit(LEVELS[:, None]),
        "rgb": vaekit.VAE(likelihood="logistic", **TINY).fit(RGB),
        "gaussian": vaekit.VAE(**TINY).fit(load_digits().data[:, :10].astype(np.float32)),
    }


@pytest.fixture(scope="module")
def run_dirs(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name in ("bernoulli", "logistic"):
        models[name].save(root / name)
    return root


def layouts(items: np.ndarray, layout: str) -> np.ndarray:
    """Images ``(n, c, h, w)`` as an array laid out one of the ways vaekit reads (``nhw`` for grey only)."""
    if layout == "nhwc":
        return items.transpose(0, 2, 3, 1)
    return items[:, 0] if layout == "nhw" and items.shape[1] == 1 else items


# -- the arithmetic every table is built from ---------------------------------------------------------
def test_fixed_point_tables_match_scipy():
    t = np.linspace(-7.9, 7.9, 2001)
    fixed = np.rint(t * ONE).astype(np.int64)
    assert np.abs(normal_cdf()(fixed) / PROB_ONE - scipy.stats.norm.cdf(fixed / ONE)).max() < 1e-6
    assert np.abs(sigmoid()(fixed * 4) / PROB_ONE - scipy.special.expit(fixed * 4 / ONE)).max() < 1e-5


@pytest.mark.parametrize("name", ["logistic", "conv"])
def test_exact_network_matches_the_float_network_and_ignores_batch_size(models, name):
    module = models[name].module_
    net = _exact_vae(models[name])
    x = torch.from_numpy(LEVELS[:40, None].astype(np.float32) / 255)
    fixed = torch.round(x.double() * ONE)
    mu, logvar = net.encode(fixed)
    mu_float, logvar_float = module.encode(fixed.float() / ONE)
    assert torch.allclose(mu / ONE, mu_float.double(), atol=1e-3)
    assert torch.allclose(logvar / ONE, logvar_float.double(), atol=1e-3)
    assert torch.allclose(net.decode(mu) / ONE, module.decode(mu_float).double(), atol=1e-3)
    assert torch.equal(net.encode(fixed[7:8])[0], mu[7:8])  # integers: the same bits for any batch
    assert torch.equal(mu, torch.round(mu))


# -- lossless -------------------------------------------------------------------------------------------
@PROPERTY
@given(n=st.integers(1, 6), pattern=st.sampled_from(["random", "zeros", "ones", "digits"]),
       density=st.floats(0.0, 1.0), layout=st.sampled_from(["nhw", "nchw", "nhwc"]),
       dtype=st.sampled_from([np.uint8, np.int32, np.int64]), latent_bits=st.integers(4, 14),
       batch_size=st.sampled_from([1, 2, 7, 64, None]), seed=st.integers(0, 99))
def test_bits_back_round_trip_is_bit_exact(models, n, pattern, density, layout, dtype, latent_bits, batch_size,
                                           seed):
    rng = np.random.default_rng(seed)
    bits = {"random": rng.random((n, 64)) < density, "zeros": np.zeros((n, 64), bool),
            "ones": np.ones((n, 64), bool),
            "digits": BINARY[rng.integers(0, 1797, n)].reshape(n, 64) > 0}[pattern]
    x = layouts(np.where(bits, 255, 0).astype(dtype).reshape(n, 1, 8, 8), layout)
    vae = models["bernoulli"]
    restored = decompress(vae, compress(vae, x, latent_bits=latent_bits, batch_size=batch_size)).array
    assert restored.dtype == x.dtype and restored.shape == x.shape
    assert restored.tobytes() == x.tobytes()


@PROPERTY
@given(n=st.integers(1, 12), model=st.sampled_from(["logistic", "categorical", "conv", "rgb"]),
       layout=st.sampled_from(["nhw", "nchw", "nhwc"]), high=st.integers(1, 255),
       batch_size=st.sampled_from([1, 3, 64, None]), seed=st.integers(0, 99))
def test_8bit_round_trip_is_bit_exact(models, n, model, layout, high, batch_size, seed):
    vae = models[model]
    items = np.random.default_rng(seed).integers(0, high + 1, (n, *vae.preprocessor_.input_shape))
    x = layouts(items.astype(np.uint8), layout)
    restored = decompress(vae, compress(vae, x, batch_size=batch_size)).array
    assert restored.shape == x.shape and restored.tobytes() == x.tobytes()


def test_lossless_rate_is_close_to_the_negative_elbo(models):
    vae = models["bernoulli"]
    x = BINARY[:400]
    elbo_bits = -np.mean([vae.score(x) for _ in range(3)]) * len(x) / np.log(2)
    sizes = {batch_size: len(compress(vae, x, batch_size=batch_size)) for batch_size in (1, 64, None)}
    for size in sizes.values():
        assert 0.9 * elbo_bits < 8 * size < 1.1 * elbo_bits + 8 * 200  # + header and initial bits
    # coding examples together costs (almost) nothing: about 10 bits per chunk for its size
    assert max(sizes.values()) < min(sizes.values()) * 1.01


@pytest.mark.parametrize("model", ["bernoulli", "conv"])
def test_a_chunk_of_examples_shares_each_network_pass(models, model, monkeypatch):
    vae = models[model]
    x = (BINARY if model == "bernoulli" else LEVELS[:, None])[:300]
    passes = {"encode": 0, "decode": 0}

    def counting(name: str):
        method = getattr(ExactVAE, name)

        def counted(self, *args):
            passes[name] += 1
            return method(self, *args)
        return counted
    for name in passes:
        monkeypatch.setattr(ExactVAE, name, counting(name))
    blob = compress(vae, x, batch_size=64)
    assert passes["encode"] == passes["decode"] < 20  # chunks grow 1, 2, ... 64: not one pass per example
    assert decompress(vae, blob).array.tobytes() == x.tobytes()
    assert passes["encode"] == passes["decode"] < 40


# -- lossy -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bernoulli", "logistic", "categorical", "gaussian"])
@pytest.mark.parametrize("quality", [1, 50, 100])
def test_lossy_round_trip_is_the_decoders_reconstruction(models, name, quality):
    vae = models[name]
    x = load_digits().data[:60, :10].astype(np.float32) if name == "gaussian" else (
        BINARY[:60] if name == "bernoulli" else LEVELS[:60])
    out = decompress(vae, compress(vae, x, mode="lossy", quality=quality)).array
    expected = reconstruction(vae, x, quality=quality)
    assert out.dtype == x.dtype and out.shape == x.shape
    assert np.array_equal(out, expected)
    # ... and that is the float decoder at the quantised code, up to fixed-point and rounding error
    codec = LossyCodec(_exact_vae(vae), vae.config_.model.likelihood, step_for_quality(quality), True)
    model_units = vae.preprocessor_.transform(x.reshape(60, *vae.preprocessor_.input_shape))
    codes = codec.quantize(torch.round(torch.from_numpy(model_units).double() * ONE))
    float_decoded = vae.inverse_transform(codes * (codec.step / ONE)).reshape(x.shape)
    scale = vae.preprocessor_.scale if name != "gaussian" else 1.0
    assert np.abs(out.astype(np.float64) - float_decoded).max() <= 0.51 + 1e-3 * scale


def test_lossy_rate_falls_with_quality(models):
    sizes = [len(compress(models["logistic"], LEVELS[:200], mode="lossy", quality=q)) for q in (100, 50, 1)]
    assert sizes[0] > sizes[1] > sizes[2]


# -- identical bytes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["logistic", "conv"])
def test_files_and_decoding_are_identical_whatever_the_thread_count(models, model):
    vae, x = models[model], LEVELS[:600, None] if model == "conv" else LEVELS[:600]
    threads = torch.get_num_threads()
    files, decoded = {}, {}
    try:
        for count in (1, 2):  # 600 x 64 pixels: several blocks of models, shared between 2 threads
            torch.set_num_threads(count)
            files[count] = compress(vae, x, batch_size=256), compress(vae, x[:30], mode="lossy", quality=70)
            decoded[count] = decompress(vae, files[1][0]).array
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
    assert decoded[1].tobytes() == decoded[2].tobytes() == x.tobytes()


def test_batch_size_is_recorded_and_checked(models):
    vae, x = models["logistic"], LEVELS[:50]
    blobs = {size: compress(vae, x, batch_size=size) for size in (1, 7, 64)}
    assert len(set(blobs.values())) == 3  # different chunks, different streams ...
    for blob in blobs.values():  # ... each decoded by the chunks in its file
        assert decompress(vae, blob).array.tobytes() == x.tobytes()
    with pytest.raises(ConfigError, match="batch_size must be from 1 to 65536, got 0"):
        compress(vae, x, batch_size=0)


def test_cli_runs_write_identical_files_and_restore_them(run_dirs, tmp_path):
    np.save(tmp_path / "x.npy", LEVELS[100:140])
    for name in ("a", "b"):
        assert main(["compress", str(run_dirs / "logistic"), str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / f"{name}.vkz"), "--batch-size", "16", "--quiet"]) == 0
    assert (tmp_path / "a.vkz").read_bytes() == (tmp_path / "b.vkz").read_bytes()
    assert main(["decompress", str(run_dirs / "logistic"), str(tmp_path / "a.vkz"), "--out",
                 str(tmp_path / "back.npy"), "--quiet"]) == 0
    back = np.load(tmp_path / "back.npy")
    assert back.shape == (40, 8, 8) and np.array_equal(back, LEVELS[100:140])


def test_cli_image_folder_comes_back_as_the_same_files(run_dirs, tmp_path):
    folder = tmp_path / "images"
    for i in range(6):
        (folder / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(LEVELS[i]).save(folder / f"class{i % 2}" / f"im{i}.png")
    run = str(run_dirs / "logistic")
    assert main(["compress", run, str(folder), "--out", str(tmp_path / "f.vkz"), "--quiet"]) == 0
    assert main(["decompress", run, str(tmp_path / "f.vkz"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.png"))
    assert written == sorted(p.relative_to(folder) for p in folder.rglob("*.png"))
    for path in written:
        back, original = Image.open(tmp_path / "out" / path), Image.open(folder / path)
        assert np.array_equal(np.asarray(back), np.asarray(original))


# -- bad input -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_file(run_dirs, tmp_path_factory):
    path = tmp_path_factory.mktemp("vkz") / "good.vkz"
    np.save(path.with_suffix(".npy"), LEVELS[:20])
    assert main(["compress", str(run_dirs / "logistic"), str(path.with_suffix(".npy")), "--out", str(path),
                 "--quiet"]) == 0
    return path.read_bytes()


def with_version(blob: bytes, version: int) -> bytes:
    preamble = blob[:4] + bytes([version]) + blob[5:13]
    return preamble + struct.pack("<I", zlib.crc32(preamble)) + blob[17:]


def flip(blob: bytes, bit: int) -> bytes:
    data = bytearray(blob)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:10], "truncated"),
    (lambda b: flip(b, 8 * (len(b) - 30) + 3), "checksum does not match"),
    (lambda b: flip(b, 8 * 6), "header checksum"),
    (lambda b: b"PK" + b[2:], "not a vaekit compressed file"),
    (lambda b: with_version(b, VERSION + 1), "newer than this vaekit"),
    (lambda b: with_version(b, 1), "format version 1, older than this vaekit reads (version 3)"),
    (lambda b: with_version(b, 2), "format version 2, older than this vaekit reads (version 3)"),
])
def test_damaged_files_fail_clearly_and_write_nothing(run_dirs, good_file, tmp_path, capsys, damage, message):
    (tmp_path / "bad.vkz").write_bytes(damage(good_file))
    out = tmp_path / "out.npy"
    assert main(["decompress", str(run_dirs / "logistic"), str(tmp_path / "bad.vkz"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaekit: error:") and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vkz"]  # no output, no temporary file


@settings(max_examples=40, deadline=None)
@given(bit=st.integers(0, 10**9))
def test_any_flipped_bit_is_caught(models, bit):
    blob = compress(models["logistic"], LEVELS[:3])
    with pytest.raises(CompressedFileError):
        decompress(models["logistic"], flip(blob, bit % (8 * len(blob))))


def test_a_file_from_another_model_is_refused(run_dirs, good_file, tmp_path, capsys):
    (tmp_path / "f.vkz").write_bytes(good_file)
    assert main(["decompress", str(run_dirs / "bernoulli"), str(tmp_path / "f.vkz"), "--out",
                 str(tmp_path / "out")]) == 1
    assert "compressed with another model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_wrong_shape_and_unrepresentable_values_are_refused(models, run_dirs, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((3, 9, 9), np.uint8))
    assert main(["compress", str(run_dirs / "logistic"), str(tmp_path / "wide.npy"), "--out",
                 str(tmp_path / "w.vkz")]) == 1
    assert "shape (1, 9, 9)" in capsys.readouterr().err and not (tmp_path / "w.vkz").exists()
    assert main(["compress", str(run_dirs / "logistic"), str(tmp_path / "wide.npy"), "--out",
                 str(tmp_path / "w.vkz"), "--mode", "lossy", "--batch-size", "8"]) == 1
    assert "--batch-size applies to --mode lossless" in capsys.readouterr().err
    with pytest.raises(DataError, match="example 1, position .* holds 7"):
        compress(models["bernoulli"], np.stack([BINARY[0], np.full((8, 8), 7, np.uint8)]))
    with pytest.raises(ConfigError, match="discrete likelihood"):
        compress(models["gaussian"], load_digits().data[:5, :10].astype(np.float32))


def test_an_option_added_at_its_default_keeps_the_model_fingerprint():
    module = torch.nn.Linear(3, 2)
    config = ModelConfig(input_shape=(1, 4, 4))
    newer = make_dataclass("Newer", [("future_option", str, field(default="off"))], bases=(ModelConfig,))
    same = newer(**asdict(config))
    assert model_fingerprint(module, same, {}) == model_fingerprint(module, config, {})
    assert model_fingerprint(module, newer(**asdict(config), future_option="on"), {}) != model_fingerprint(
        module, config, {})
    assert model_fingerprint(module, ModelConfig(input_shape=(1, 4, 5)), {}) != model_fingerprint(module, config, {})
