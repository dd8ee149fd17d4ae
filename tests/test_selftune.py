"""Self-tuning: candidates scored on hidden *observed* cells only, seeded, off gives the plain model, and the
same objective through ``vaekit tune --objective imputation``."""

import json

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from vaekit import VAE, VAEImputer
from vaekit.cli import main
from vaekit.config.configs import OPTIONS
from vaekit.data import from_array
from vaekit.data.amputation import ampute
from vaekit.missing_data import selftune
from vaekit.missing_data.selftune import Holdout

TINY = {"hidden": (8,), "latent_dim": 2, "epochs": 6, "batch_size": 32, "imputation_samples": 20}
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def truth():
    """A complete table (two related columns, one free) and a mask of the cells to treat as missing."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=60)
    values = np.column_stack([a, 2 * a + 0.1 * rng.normal(size=60), rng.normal(size=60)])
    missing = rng.random(values.shape) < 0.2
    missing[missing.all(axis=1), 0] = False
    return values, missing


def _with_sentinel(truth, sentinel):
    """The table as pandas nullable floats: the missing cells hold ``sentinel`` behind the NA mask."""
    values, missing = truth
    stored = np.where(missing, sentinel, values)
    return pd.DataFrame({c: pd.arrays.FloatingArray(stored[:, j], missing[:, j]) for j, c in enumerate("abc")})


def test_self_tuning_never_sees_the_hidden_truth(truth):
    fits = []
    for sentinel in (1e6, -3.0):
        frame = _with_sentinel(truth, sentinel)
        imputer = VAEImputer(**TINY).fit(frame)
        filled = imputer.transform(frame)  # a DataFrame of the nullable floats
        fits.append((imputer.selected_candidate_, imputer.candidate_scores_, filled.to_numpy(dtype=float)))
    (chosen, scores, filled), (chosen2, scores2, filled2) = fits
    assert chosen == chosen2 and scores == scores2
    np.testing.assert_array_equal(filled, filled2)
    assert len(scores) == 3 and chosen["hidden"] in [c["hidden"] for c in scores]
    assert np.abs(filled).max() < 100  # nothing of the sentinel leaked into the imputations


def test_the_holdout_hides_only_observed_cells_and_leaves_the_input_alone(truth):
    values, missing = truth
    values = values.astype(np.float32)  # as tables are read
    x = np.where(missing, np.nan, values)
    before = x.copy()
    holdout = Holdout.of(from_array(x, allow_missing=True), share=0.3, seed=1)
    np.testing.assert_array_equal(x, before)
    assert not (holdout.hidden & missing).any() and holdout.hidden.sum() > 0.2 * (~missing).sum()
    np.testing.assert_array_equal(holdout.truth, values[holdout.hidden])  # scored against observed values only
    seen = ~np.isnan(holdout.data.x)
    np.testing.assert_array_equal(seen, ~missing & ~holdout.hidden)
    assert seen.any(axis=0).all() and seen.any(axis=1).all()
    assert not np.array_equal(holdout.hidden, Holdout.of(from_array(x, allow_missing=True), 0.3, seed=2).hidden)


def test_the_holdout_hides_cells_of_a_table_amputed_with_the_same_seed():
    """ampute's MCAR mask and the holdout once drew from the same stream: the holdout picked cells already
    missing, hid none, and self-tuning silently kept the configuration."""
    x = np.random.default_rng(5).normal(size=(200, 6))
    for seed in (0, 1):
        holey = np.where(ampute(x, "mcar", 0.5, seed, keep_one_per_row=True), np.nan, x)
        holdout = Holdout.of(from_array(holey, allow_missing=True), seed=seed)
        assert 0.1 < holdout.hidden.sum() / (~np.isnan(holey)).sum() < 0.3


def test_a_seeded_run_repeats_exactly(truth):
    values, missing = truth
    x = np.where(missing, np.nan, values)
    first, second = (VAEImputer(**TINY, seed=3).fit(x) for _ in range(2))
    assert first.candidate_scores_ == second.candidate_scores_
    np.testing.assert_array_equal(first.transform(x), second.transform(x))


def _weights(vae):
    return {k: v.clone() for k, v in vae.module_.state_dict().items()}


def test_turned_off_it_fits_the_plain_model_and_the_winner_is_refitted_as_that(truth, monkeypatch):
    values, missing = truth
    x = np.where(missing, np.nan, values)
    off = VAEImputer(**TINY, self_tune=False).fit(x)
    assert off.selected_candidate_ is None and off.candidate_scores_ is None
    params = {n: v for n, v in off.get_params().items() if n in OPTIONS}
    plain = VAE(**params).fit(x)
    for (name, a), b in zip(_weights(off.vae_).items(), _weights(plain).values(), strict=True):
        assert torch.equal(a, b), name
    monkeypatch.setattr(selftune, "WIDTH_FACTORS", (1.0,))  # one candidate: the configured widths win
    tuned = VAEImputer(**TINY).fit(x)
    assert tuned.selected_candidate_ == {"hidden": (8,)} and len(tuned.candidate_scores_) == 1
    np.testing.assert_array_equal(tuned.transform(x), off.transform(x))


def test_tune_with_the_imputation_objective_scores_as_self_tuning(truth, tmp_path):
    values, missing = truth
    x = np.where(missing, np.nan, values)
    np.save(tmp_path / "t.npy", x)
    (tmp_path / "space.json").write_text(json.dumps({"width": {"choices": [4, 8, 12]}, "depth": 1,
                                                     "latent_dim": 2, "batch_size": 32}))
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    short = round(TINY["epochs"] * selftune.BUDGET_SHARE)
    assert main(["tune", str(tmp_path / "t.npy"), "--allow-missing", "--objective", "imputation", "--trials", "2",
                 "--epochs", str(short), "--space",
                 str(tmp_path / "space.json"), "--storage", storage, "--pruner", "none", "--quiet",
                 "--out", str(tmp_path / "tune")]) == 0
    trials = optuna.load_study(study_name="vaekit", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    # self-tuning of width 8 tries widths 4, 8 and 12 for a share of its epochs each, on the same hidden cells
    scores = {c["hidden"][0]: c["error"] for c in VAEImputer(**TINY).fit(x).candidate_scores_}
    for trial in trials:
        assert trial.value == pytest.approx(scores[trial.params["width"]], rel=1e-4)
    best = json.loads((tmp_path / "tune" / "best_trial.json").read_text())
    assert best["objective"] == "imputation" and best["value"] == min(t.value for t in trials)


def test_the_command_line_refuses_self_tuning_where_it_cannot_apply(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", "--self-tune", "yes", "--quiet", "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("vaekit: error: --self-tune chooses the widths on a table")
    assert not out.exists()


def test_a_candidate_replaces_the_configuration_only_when_clearly_better():
    rng = np.random.default_rng(0)
    baseline = rng.exponential(size=400)
    assert selftune.clearly_better(baseline * 0.8, baseline)  # better on every cell
    noise = baseline + rng.normal(scale=0.5, size=400)
    assert not selftune.clearly_better(noise - noise.mean() + baseline.mean() - 1e-3, baseline)  # a hair lower mean
    assert not selftune.clearly_better(baseline * 1.1, baseline)


def test_with_no_candidate_clearly_better_the_configuration_is_kept(truth, monkeypatch):
    values, missing = truth
    x = np.where(missing, np.nan, values)
    monkeypatch.setattr(selftune, "MARGIN_SE", 1e9)
    tuned = VAEImputer(**TINY).fit(x)
    assert tuned.selected_candidate_ == {"hidden": TINY["hidden"]}
    assert min(c["error"] for c in tuned.candidate_scores_) < max(c["error"] for c in tuned.candidate_scores_)
