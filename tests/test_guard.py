"""The gradient guard: an outlier update is skipped (and counted) and the run survives it; resume stays exact."""

import dataclasses
import math

import pytest
import torch

import vaekit
from vaekit.cli import build_parser
from vaekit.cli.common import given_options
from vaekit.config.configs import GUARDED_MODELS, OPTIONS, resolve_auto
from vaekit.io.runfolder import RunFolder
from vaekit.train import trainer

POISONED_STEP = 15  # after the guard's warm-up of 10 updates


def ladder_vae(**kw):
    params = {"hidden": (32,), "latent_dim": 4, "ladder": (2,), "epochs": 5, "batch_size": 128, "patience": 100}
    return vaekit.VAE(**{**params, **kw})


@pytest.fixture
def poison(monkeypatch):
    """Multiply the training loss of one update by ``factor`` (a freak batch), returning the factor's setter."""
    plain = trainer.training_loss
    calls = []
    factor = {"value": 1e6}

    def poisoned(*args, **kwargs):
        terms = plain(*args, **kwargs)
        calls.append(None)
        if len(calls) == POISONED_STEP:
            return dataclasses.replace(terms, loss=terms.loss * factor["value"])
        return terms

    monkeypatch.setattr(trainer, "training_loss", poisoned)
    return factor


@pytest.fixture(scope="module")
def clean(digits):
    return ladder_vae().fit(digits)


def test_an_outlier_update_is_skipped_counted_and_the_run_survives(digits, clean, poison):
    guarded = ladder_vae().fit(digits)
    assert guarded.config_.train.grad_clip == 5.0 and guarded.config_.train.grad_skip == 25.0  # auto: on
    assert sum(r["grad_skipped"] for r in guarded.history_) == 1
    assert guarded.history_[POISONED_STEP // 13]["grad_skipped"] == 1  # 13 updates per epoch
    final, reference = guarded.history_[-1]["val_elbo"], clean.history_[-1]["val_elbo"]
    assert math.isfinite(final) and abs(final - reference) < 0.5


def test_without_the_guard_the_same_outlier_derails_the_run(digits, clean, poison):
    unguarded = ladder_vae(grad_clip=None, grad_skip=None).fit(digits)
    assert "grad_skipped" not in unguarded.history_[-1]
    assert unguarded.history_[-1]["val_elbo"] < clean.history_[-1]["val_elbo"] - 2  # Adam's moments carry it


def test_a_moderate_outlier_is_clipped_not_skipped(digits, poison):
    poison["value"] = 10.0
    vae = ladder_vae(grad_clip=2.0).fit(digits)
    counts = [(r["grad_clipped"], r["grad_skipped"]) for r in vae.history_]
    assert sum(c for c, _ in counts) >= 1 and sum(s for _, s in counts) == 0


def test_resume_with_the_guard_equals_an_uninterrupted_run(digits, tmp_path):
    tight = {"grad_clip": 1.0, "epochs": 4}  # clips about half the updates: its running norms matter
    straight = ladder_vae(**tight).fit(digits, run_dir=tmp_path / "straight")
    assert sum(r["grad_clipped"] for r in straight.history_) > 10
    ladder_vae(**{**tight, "epochs": 2}).fit(digits, run_dir=tmp_path / "split")
    config = RunFolder(tmp_path / "split").read_config()
    resumed = vaekit.VAE.from_config(config, epochs=4).fit(digits, run_dir=tmp_path / "split", resume=True)
    a, b = straight.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    counts = [(r["grad_clipped"], r["grad_skipped"]) for r in RunFolder(tmp_path / "split").read_metrics()]
    assert counts == [(r["grad_clipped"], r["grad_skipped"]) for r in straight.history_]


def test_auto_turns_the_guard_on_for_deep_models_only_and_the_command_line_turns_it_off():
    defaults = {n: s.default for n, s in OPTIONS.items()}
    for model, ladder, on in [("mlp", (), False), ("conv", (), False), ("mlp", (2,), True)]:
        resolved = resolve_auto({**defaults, "model": model, "ladder": ladder}, kind="image", rows=100,
                                has_missing=False)
        assert (resolved["grad_clip"], resolved["grad_skip"]) == ((5.0, 25.0) if on else (None, None))
    assert {"ladder", "hierarchical"} <= GUARDED_MODELS
    args = build_parser().parse_args(["train", "DATA", "--out", "RUN", "--grad-clip", "off", "--grad-skip", "50"])
    assert given_options(args) == {"grad_clip": None, "grad_skip": 50.0}
