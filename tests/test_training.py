"""The training loop: determinism, resume, early stopping, divergence, checkpoints."""

import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config.configs import ModelConfig, TrainConfig
from vaekit.errors import ModelFileError, TrainingError
from vaekit.io.runfolder import RunFolder
from vaekit.model.module import VAEModule
from vaekit.train.trainer import Trainer


def small_vae(**kw):
    params = {"hidden": (32,), "latent_dim": 4, "epochs": 3, "batch_size": 64, "seed": 0}
    return vaekit.VAE(**{**params, **kw})


def weights(vae):
    return {k: v.clone() for k, v in vae.module_.state_dict().items()}


def test_same_seed_same_model(digits):
    a, b = weights(small_vae().fit(digits)), weights(small_vae().fit(digits))
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = weights(small_vae(seed=1).fit(digits))
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_reaches_the_same_result_as_an_uninterrupted_run(digits, tmp_path):
    straight = small_vae(epochs=4, patience=100).fit(digits, run_dir=tmp_path / "straight")
    small_vae(epochs=2, patience=100).fit(digits, run_dir=tmp_path / "split")
    # "interrupted" after epoch 2: continue to epoch 4 from the checkpoint
    config = RunFolder(tmp_path / "split").read_config()
    resumed = vaekit.VAE.from_config(config, epochs=4, patience=100).fit(digits, run_dir=tmp_path / "split",
                                                                         resume=True)
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = RunFolder(tmp_path / "split").read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [r["val_elbo"] for r in rows] == [r["val_elbo"] for r in straight.history_]


def test_cosine_schedule_decays_the_rate_and_an_interrupted_run_resumes_on_it(digits, tmp_path):
    straight = small_vae(epochs=4, patience=100, lr_schedule="cosine").fit(digits, run_dir=tmp_path / "straight")
    rates = [row["lr"] for row in straight.history_]
    assert rates == sorted(rates, reverse=True) and rates[0] < 1e-3 and rates[-1] < 1e-5

    def interrupt(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        small_vae(epochs=4, patience=100, lr_schedule="cosine").fit(digits, run_dir=tmp_path / "cut",
                                                                    callbacks=[interrupt])
    config = RunFolder(tmp_path / "cut").read_config()
    resumed = vaekit.VAE.from_config(config).fit(digits, run_dir=tmp_path / "cut", resume=True)
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["lr"] for r in resumed.history_] == rates


def test_metrics_and_run_folder(digits, tmp_path):
    vae = small_vae(epochs=2).fit(digits, run_dir=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for key in ("epoch", "train_loss", "train_recon", "train_kl", "train_elbo", "val_elbo", "val_recon",
                "val_kl", "time_s", "samples_per_s"):
        assert key in rows[0]
    assert rows[0]["train_recon"] > 0 and rows[0]["train_kl"] > 0
    assert rows[0]["train_elbo"] == pytest.approx(-(rows[0]["train_recon"] + rows[0]["train_kl"]), rel=1e-5)
    assert (tmp_path / "checkpoints" / "last.safetensors").is_file()
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries
    loaded = vaekit.load(tmp_path)
    np.testing.assert_array_equal(loaded.transform(digits), vae.transform(digits))


def test_early_stopping_keeps_the_best_model(digits):
    vae = small_vae(epochs=200, patience=2, lr=3e-2).fit(digits)
    assert len(vae.history_) < 200
    best = max(vae.history_, key=lambda r: r["val_elbo"])
    assert vae.best_epoch_ == best["epoch"]
    assert vae.history_[-1]["epoch"] == best["epoch"] + 2


def test_divergence_stops_with_advice():
    module = VAEModule(ModelConfig(input_shape=(4,), hidden=(8,), latent_dim=2, likelihood="gaussian"))
    x = torch.full((64, 4), 1e30)
    with pytest.raises(TrainingError, match="--lr"):
        Trainer(module, TrainConfig(epochs=2), quiet=True).fit(x)


def test_resume_without_checkpoint_is_refused(digits, tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        small_vae().fit(digits, run_dir=tmp_path, resume=True)


def test_corrupt_checkpoint_is_refused(digits, tmp_path):
    small_vae(epochs=1).fit(digits, run_dir=tmp_path)
    ckpt = tmp_path / "checkpoints" / "last.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="safetensors"):
        small_vae(epochs=2).fit(digits, run_dir=tmp_path, resume=True)


def test_iwae_training_runs_and_reports_a_tighter_bound(digits):
    vae = small_vae(iw_samples=5, epochs=2).fit(digits)
    assert np.isfinite(vae.history_[-1]["train_elbo"])
