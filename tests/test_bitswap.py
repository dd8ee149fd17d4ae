"""The ladder with bottom-up Markov inference and its Bit-Swap coder (issue 16): the model's densities are
those it samples, it trains, saves, resumes and evaluates like the ladder, its files round-trip bit for bit
whatever the threads and batch sizes, its rate is the -ELBO, and its initial bits do not grow with depth."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli import main
from vaekit.compression import compress, decompress
from vaekit.compression.bitsback import BitsBackCodec, BitSwapCodec, bits_back_codec
from vaekit.compression.entropy_models import discrete_code
from vaekit.compression.exact_network import ExactLadder, ExactMarkovLadder
from vaekit.compression.fixedpoint import ONE
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.io.runfolder import RunFolder
from vaekit.model.build import build_module
from vaekit.model.ladder import gaussian_params
from vaekit.model.markov_ladder import MarkovLadderVAEModule
from vaekit.model.posterior import gaussian_log_prob
from vaekit.train.objectives import importance_samples

TINY = {"likelihood": "bernoulli", "binarize": "none", "hidden": (32,), "latent_dim": 4, "epochs": 2,
        "batch_size": 64}
BINARY = np.where(load_digits().images > 6, 255, 0).astype(np.uint8)  # (1797, 8, 8)
CODE = discrete_code("bernoulli")


def bottom_up(ladder: tuple[int, ...], seed: int = 0, **kw) -> vaekit.VAE:
    return vaekit.VAE(ladder=ladder, ladder_inference="bottom-up", seed=seed, **{**TINY, **kw})


@pytest.fixture(scope="module")
def models():
    return {depth: bottom_up((4,) * (depth - 1)).fit(BINARY[:1500]) for depth in (2, 3)}


def _symbols(vae: vaekit.VAE, x: np.ndarray) -> np.ndarray:
    return CODE.symbols(vae.preprocessor_.transform(x))


def test_the_option_builds_the_bottom_up_ladder_and_needs_a_ladder():
    config = ModelConfig(input_shape=(5,), likelihood="gaussian", hidden=(16,), latent_dim=2, ladder=(1,),
                         ladder_inference="bottom-up")
    assert isinstance(build_module(config), MarkovLadderVAEModule)
    with pytest.raises(ConfigError, match="ladder_inference='bottom-up' is for ladder models"):
        ModelConfig(input_shape=(5,), ladder_inference="bottom-up")
    with pytest.raises(ConfigError, match="ladder_inference"):
        ModelConfig(input_shape=(5,), ladder=(2,), ladder_inference="sideways")


@pytest.mark.usefixtures("float64")
def test_posterior_densities_are_those_of_the_codes_drawn_and_the_bound_tightens():
    torch.manual_seed(0)
    module = build_module(ModelConfig(input_shape=(5,), likelihood="gaussian", hidden=(16,), latent_dim=2,
                                      ladder=(1,), ladder_inference="bottom-up")).double()
    x = torch.randn(1, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        post = module.sample_posterior(x, k=200_000, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(post.log_p, module.prior.log_prob(post.z))
        z1, z2 = post.z[..., :2], post.z[..., 2:]
        mu1, logvar1 = module.encode(x)[0][:, :2], module.encode(x)[1][:, :2]
        mu2, logvar2 = gaussian_params(module.posterior[1](z1))
        assert post.layer_log_ratios.shape == (200_000, 1, 2)
        # log q is q(z_1|x) q(z_2|z_1) at the codes drawn, so E_q[p(z)/q(z|x)] = 1 (both normalised)
        assert float((post.log_p - post.log_q).exp().mean()) == pytest.approx(1.0, abs=0.05)
        chain = gaussian_log_prob(z1, mu1, logvar1) + gaussian_log_prob(z2, mu2, logvar2)
        torch.testing.assert_close(post.log_q, chain)
        xs = torch.randn(64, 5, generator=torch.Generator().manual_seed(5))
        gen = torch.Generator().manual_seed(6)
        bounds = [float((torch.logsumexp(importance_samples(module, xs, k, generator=gen).log_w, 0)
                         - np.log(k)).mean()) for k in (1, 10, 200)]
    assert bounds[0] < bounds[1] < bounds[2]


def test_it_trains_saves_loads_and_resumes(models, tmp_path):
    vae = models[3]
    assert isinstance(vae.module_, MarkovLadderVAEModule)
    elbos = [r["val_elbo"] for r in vae.history_]
    assert np.isfinite(elbos).all() and elbos[-1] > elbos[0]
    assert vae.transform(BINARY[:7]).shape == (7, 12) and len(vae.sample(3)) == 3
    vae.save(tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    assert isinstance(loaded.module_, MarkovLadderVAEModule)
    assert loaded.score(BINARY[:300]) == pytest.approx(vae.score(BINARY[:300]))
    straight = bottom_up((3,), epochs=3).fit(BINARY[:500], run_dir=tmp_path / "straight")
    bottom_up((3,), epochs=2).fit(BINARY[:500], run_dir=tmp_path / "split")
    config = RunFolder(tmp_path / "split").read_config()
    resumed = vaekit.VAE.from_config(config, epochs=3).fit(BINARY[:500], run_dir=tmp_path / "split", resume=True)
    a, b = straight.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_command_line_trains_and_evaluates_with_the_kl_of_each_layer(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "digits", "--out", str(run), "--ladder", "2", "--ladder-inference", "bottom-up",
                 "--hidden", "32", "--latent-dim", "4", "--epochs", "2", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["ladder_inference"] == "bottom-up"
    capsys.readouterr()
    assert main(["evaluate", str(run), "digits", "--iw-samples", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["kl_per_layer"]) == 2 and result["nll"] <= -result["elbo"] + 0.5


def test_exact_network_follows_the_float_one(models):
    module = models[2].module_
    net = ExactMarkovLadder(module)
    x = torch.from_numpy((BINARY[:40, None] > 0).astype(np.float32))
    fixed = torch.round(x.double() * ONE)
    with torch.no_grad():
        codes, params = module._bottom_up(x, None, None, None)
        mu, logvar = net.posterior(0, fixed)
        assert torch.allclose(mu / ONE, params[0][0].double(), atol=1e-3)
        assert torch.allclose(logvar / ONE, params[0][1].double(), atol=1e-3)
        z1 = torch.round(codes[0].double() * ONE)
        assert torch.allclose(net.posterior(1, z1)[0] / ONE, params[1][0].double(), atol=1e-3)
        z2 = torch.round(codes[1].double() * ONE)
        assert torch.allclose(net.conditional(0, z2)[0] / ONE, module.prior.conditional(0, codes[1])[0].double(),
                              atol=1e-3)
        assert torch.allclose(net.decode(z1) / ONE, module.decoder(codes[0]).double(), atol=1e-3)
    assert torch.equal(net.posterior(1, z1[7:8])[0], net.posterior(1, z1)[0][7:8])  # the same bits for any batch


def test_one_layer_round_trip_is_bit_exact():
    torch.manual_seed(0)
    module = MarkovLadderVAEModule(ModelConfig(input_shape=(1, 8, 8), likelihood="bernoulli", hidden=(32,),
                                               latent_dim=4))
    codec = bits_back_codec(ExactMarkovLadder(module), CODE, 12, 16)
    assert isinstance(codec, BitSwapCodec)
    symbols = (BINARY[:50] > 0).reshape(50, -1).astype(np.int32)
    words = codec.encode(symbols)
    assert np.array_equal(codec.decode(words, 50, 64, "test"), symbols)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("n", [1, 120])
@pytest.mark.parametrize("batch_size", [1, 16, None])
def test_round_trip_is_bit_exact(models, depth, n, batch_size):
    x = BINARY[-n:]
    blob = compress(models[depth], x, batch_size=batch_size)
    assert decompress(models[depth], blob).array.tobytes() == x.tobytes()
    assert compress(models[depth], x, batch_size=batch_size) == blob


def test_files_are_identical_whatever_the_thread_count_and_batch_size_decodes_them(models):
    vae, x = models[3], BINARY[1500:]
    threads = torch.get_num_threads()
    files = {}
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            files[count] = {size: compress(vae, x, batch_size=size) for size in (16, 256)}
            for blob in files[count].values():
                assert decompress(vae, blob).array.tobytes() == x.tobytes()
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
    sizes = [len(blob) for blob in files[1].values()]
    assert max(sizes) < 1.03 * min(sizes)


def test_rate_is_close_to_the_negative_elbo(models):
    vae, x = models[3], BINARY[1500:]
    elbo_bits = -np.mean([vae.score(x) for _ in range(3)]) * len(x) / np.log(2)
    assert 0.95 * elbo_bits < 8 * len(compress(vae, x)) < 1.05 * elbo_bits + 8 * 250  # + header and seed


def test_lossy_mode_refuses_bottom_up_inference(models):
    with pytest.raises(ConfigError, match="bottom-up inference .* use --mode lossless"):
        compress(models[2], BINARY[:20], mode="lossy")


def test_initial_bits_do_not_grow_with_depth_as_bb_anss_do(models):
    """Bit-Swap's measured borrowing stays flat from 2 to 3 layers; BB-ANS's on top-down ladders of the same
    sizes grows by about a layer's pop, and the Bit-Swap seed stays the same size."""
    x = BINARY[:30]
    bit_swap, bb_ans, seeds = {}, {}, {}
    for depth in (2, 3):
        vae = models[depth]
        codec = bits_back_codec(ExactMarkovLadder(vae.module_), CODE, 12, 1)
        bit_swap[depth], again = codec.initial_bits(_symbols(vae, x))
        assert np.array_equal(bit_swap[depth], again) and np.all(bit_swap[depth] > 0)
        assert 32 * len(codec.seed) >= bit_swap[depth].max()  # the seed holds what the first example borrows
        seeds[depth] = len(codec.seed)
        top_down = vaekit.VAE(ladder=(4,) * (depth - 1), seed=0, **TINY).fit(BINARY[:1500])
        bb_ans[depth], _ = BitsBackCodec(ExactLadder(top_down.module_), CODE, 12, 1).initial_bits(_symbols(top_down, x))
    layer = bb_ans[3].mean() - bb_ans[2].mean()
    assert layer > 20  # BB-ANS borrows each added layer's pop
    assert bit_swap[3].mean() < bit_swap[2].mean() + layer / 2
    assert bit_swap[3].mean() < bb_ans[3].mean()
    assert seeds[3] == seeds[2]
