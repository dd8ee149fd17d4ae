"""Lossless compression of ladder (hierarchical) VAEs: the exact-integer ladder follows the float one, files
round-trip bit for bit, bytes do not depend on threads or network batch sizes, other models' files are refused,
and the initial bits of BB-ANS and of the Bit-Swap order are what their schedules say."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli import main
from vaekit.compression import CompressedFileError, compress, decompress
from vaekit.compression.bitsback import BitsBackCodec
from vaekit.compression.entropy_models import discrete_code
from vaekit.compression.exact_network import ExactLadder, ExactVAE, precision_weighted
from vaekit.compression.fixedpoint import ONE
from vaekit.model import ladder

TINY = {"hidden": (32,), "latent_dim": 4, "epochs": 3, "batch_size": 64}
DIGITS = load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16
BINARY = np.where(DIGITS > 6, 255, 0).astype(np.uint8)
LEVELS = DIGITS * 15


@pytest.fixture(scope="module")
def models():
    return {
        "bernoulli": vaekit.VAE(likelihood="bernoulli", binarize="none", ladder=(3, 2), seed=0, **TINY).fit(BINARY),
        "other": vaekit.VAE(likelihood="bernoulli", binarize="none", ladder=(3, 2), seed=1, **TINY).fit(BINARY),
        "conv": vaekit.VAE(model="conv", channels=(4, 8), likelihood="logistic", ladder=(2,), seed=0,
                           **TINY).fit(LEVELS[:, None]),
    }


def test_exact_ladder_follows_the_float_ladder_and_ignores_batch_size(models):
    module = models["bernoulli"].module_
    net = ExactLadder(module)
    x = torch.from_numpy((BINARY[:40, None] > 0).astype(np.float32))
    fixed = torch.round(x.double() * ONE)
    evidence = net.evidence(fixed)
    with torch.no_grad():
        codes, params, _ = module._top_down(x, None, None)
        for (mu, logvar), (mu_float, logvar_float) in zip(evidence, module._evidence(x, None), strict=True):
            assert torch.allclose(mu / ONE, mu_float.double(), atol=1e-3)
            assert torch.allclose(logvar / ONE, logvar_float.double(), atol=1e-3)
        prior = net.conditional(0, torch.round(codes[1].double() * ONE))
        prior_float = module.prior.conditional(0, codes[1])
        assert torch.allclose(prior[0] / ONE, prior_float[0].double(), atol=1e-3)
        merged = precision_weighted(*evidence[0], *prior)
        merged_float = ladder.precision_weighted(*module._evidence(x, None)[0], *prior_float)
        assert torch.allclose(merged[0] / ONE, merged_float[0].double(), atol=1e-3)
        assert torch.allclose(merged[1] / ONE, merged_float[1].double(), atol=1e-3)
        assert torch.allclose(merged[1] / ONE, params[0][1].double(), atol=1e-3)  # the posterior the model uses
        z1 = torch.round(codes[0].double() * ONE)
        assert torch.allclose(net.decode(z1) / ONE, module.decoder(codes[0]).double(), atol=1e-3)
    assert torch.equal(net.evidence(fixed[7:8])[1][0], evidence[1][0][7:8])  # integers: the same bits for any batch
    assert torch.equal(net.decode(z1[7:8]), net.decode(z1)[7:8])


@pytest.mark.parametrize("model", ["bernoulli", "conv"])
@pytest.mark.parametrize("n", [1, 5, 120])
@pytest.mark.parametrize("batch_size", [1, 16, None])
def test_ladder_round_trip_is_bit_exact(models, model, n, batch_size):
    x = BINARY[-n:] if model == "bernoulli" else LEVELS[-n:, None]
    blob = compress(models[model], x, batch_size=batch_size)
    assert decompress(models[model], blob).array.tobytes() == x.tobytes()
    assert compress(models[model], x, batch_size=batch_size) == blob  # the same bytes on every run


def test_ladder_files_are_identical_whatever_the_thread_count_and_decode_at_any_batch_size(models):
    vae, x = models["bernoulli"], BINARY[:600]
    threads = torch.get_num_threads()
    files = {}
    try:
        for count in (1, 2):  # chunks of 256 x 64 pixels: several blocks of models, shared between 2 threads
            torch.set_num_threads(count)
            files[count] = {size: compress(vae, x, batch_size=size) for size in (16, 256)}
            for blob in files[count].values():
                assert decompress(vae, blob).array.tobytes() == x.tobytes()
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
    sizes = [len(blob) for blob in files[1].values()]
    assert max(sizes) < 1.03 * min(sizes)  # chunking costs little (2 % on this tiny, barely trained model)


def test_ladder_rate_is_close_to_the_negative_elbo(models):
    vae, x = models["bernoulli"], BINARY[:600]
    elbo_bits = -np.mean([vae.score(x) for _ in range(3)]) * len(x) / np.log(2)
    assert 0.95 * elbo_bits < 8 * len(compress(vae, x)) < 1.15 * elbo_bits + 8 * 200  # + header and seed


def test_a_file_from_another_ladder_model_is_refused(models):
    blob = compress(models["bernoulli"], BINARY[:20])
    with pytest.raises(CompressedFileError, match="compressed with another model"):
        decompress(models["other"], blob)


def test_cli_compresses_and_restores_with_a_ladder_run(models, tmp_path):
    models["bernoulli"].save(tmp_path / "run")
    np.save(tmp_path / "x.npy", BINARY[:50])
    assert main(["compress", str(tmp_path / "run"), str(tmp_path / "x.npy"), "--out", str(tmp_path / "x.vkz")]) == 0
    assert main(["decompress", str(tmp_path / "run"), str(tmp_path / "x.vkz"), "--out", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").tobytes() == BINARY[:50].tobytes()


def test_initial_bits_follow_each_order(models):
    code = discrete_code("bernoulli")
    vae = models["bernoulli"]
    symbols = code.symbols(vae.preprocessor_.transform(BINARY[:20]))
    ladder_codec = BitsBackCodec(ExactLadder(vae.module_), code, 12, 1)
    bb_ans, bit_swap = ladder_codec.initial_bits(symbols)
    # BB-ANS borrows every layer's pop; Bit-Swap's order pays z_1's pop at least, and never more than BB-ANS
    assert np.all(bb_ans > 0) and np.all(bit_swap <= bb_ans + 1e-9)
    flat = vaekit.VAE(likelihood="bernoulli", binarize="none", seed=0, **TINY).fit(BINARY)
    flat_codec = BitsBackCodec(ExactVAE(flat.module_), code, 12, 1)
    one, swapped = flat_codec.initial_bits(code.symbols(flat.preprocessor_.transform(BINARY[:20])))
    assert np.array_equal(one, swapped)  # one layer: the two orders are the same
    assert len(ladder_codec.seed) * 32 >= bb_ans.max()  # the seed holds what the first example borrows
