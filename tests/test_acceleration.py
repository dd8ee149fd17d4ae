"""bf16 autocast and torch.compile: options that must train the same model family, not a broken one."""

import numpy as np
import torch

import vaekit

SMALL = {"hidden": (32,), "latent_dim": 4, "epochs": 2, "batch_size": 64}


def test_bf16_keeps_log_probabilities_in_float32(digits_npy):
    """The discretized logistic sums hundreds of log-CDF differences: in bf16 they underflow to -inf."""
    data = vaekit.load_dataset(str(digits_npy))
    full = vaekit.VAE(likelihood="logistic", **SMALL).fit(data)
    half = vaekit.VAE(likelihood="logistic", precision="bf16", **SMALL).fit(data)
    assert half.config_.train.precision == "bf16"
    assert all(np.isfinite(r["train_loss"]) for r in half.history_)
    weights = zip(full.module_.state_dict().values(), half.module_.state_dict().values(), strict=True)
    assert not all(torch.equal(a, b) for a, b in weights)  # the products really ran in bfloat16
    full_elbo, half_elbo = full.history_[-1]["val_elbo"], half.history_[-1]["val_elbo"]
    assert abs(half_elbo - full_elbo) < 0.02 * abs(full_elbo)


def test_compiled_networks_train_the_same_model():
    data = vaekit.load_dataset("digits")
    eager = vaekit.VAE(**SMALL).fit(data)
    compiled = vaekit.VAE(compile=True, **SMALL).fit(data)
    np.testing.assert_allclose([r["train_loss"] for r in compiled.history_],
                               [r["train_loss"] for r in eager.history_], rtol=1e-4)
    assert sorted(compiled.module_.state_dict()) == sorted(eager.module_.state_dict())  # names unchanged
