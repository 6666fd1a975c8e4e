"""Skill gate, forward-in-time validation and the learning curve on synthetic arrays (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from apps.recommendations.ml import evaluation as ev
from apps.recommendations.ml.features import Member, ProjectInput
from apps.recommendations.ml.training import TrainingConfig, TrainingSet, train
from tests.recommendations.test_ml import synthetic_training_set, unit_rows

FAST = {"num_boost_round": 150, "min_target_samples": 30}


def drifting_training_set(rng, n=300, change_at=0.6):
    """Seniority raises success by 6 points per senior in the first ``change_at`` of the history and does nothing
    afterwards (a process change the features cannot see): the past no longer predicts the future."""
    inputs, success = [], []
    for i in range(n):
        seniors = int(rng.integers(0, 4))
        juniors = 3 - seniors
        members = (Member("ml_engineer", "senior", 8, 100),) * seniors + (
            Member("analyst", "junior", 1, 100),
        ) * juniors
        inputs.append(ProjectInput("classification", float(rng.integers(10, 90)), 100.0, members))
        effect = 6 * seniors if i < change_at * n else 9.0
        success.append(50 + effect + rng.normal(0, 2))
    return TrainingSet(
        project_ids=np.arange(1, n + 1), inputs=inputs, embeddings=unit_rows(rng, n, 16),
        has_embedding=np.ones(n, bool), success=np.array(success), duration_days=np.full(n, np.nan),
        compute_cost=np.full(n, np.nan), completed_on=np.arange(n, dtype=float),
    )  # fmt: skip


def test_the_gate_needs_a_significant_margin_over_the_baseline():
    rng = np.random.default_rng(0)
    y = rng.normal(60, 10, 200)
    good = ev.skill_gate(y, y + rng.normal(0, 3, 200), np.full(200, 60.0), evaluation="forward")
    assert good.passed and good.skill > 0.5 and good.p_value < 1e-6
    same = ev.skill_gate(y, np.full(200, 60.0) + rng.normal(0, 0.5, 200), np.full(200, 60.0), evaluation="forward")
    assert not same.passed and abs(same.skill) < 0.05  # as good as the mean is not good enough
    few = ev.skill_gate(y[:2], y[:2], np.full(2, 60.0), evaluation="forward")
    assert not few.passed and few.n == 2


def test_forward_splits_train_only_on_projects_completed_before_the_block():
    days = np.array([5, 1, 3, 3, 9, 7, 2, 8, 3, 6, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], dtype=float)
    splits = ev.forward_splits(days, blocks=3, fraction=0.5, min_train=5)
    assert len(splits) == 3
    tested = np.concatenate([test for _train, test in splits])
    assert len(set(tested)) == len(tested) and len(tested) == 11  # the latest half, each once
    for before, test in splits:
        assert days[before].max() < days[test].min()


def test_a_real_signal_passes_the_gate_and_pure_noise_does_not():
    rng = np.random.default_rng(8)
    strong = train(synthetic_training_set(rng, n=240), TrainingConfig(**FAST))
    assert strong.gate["passed"] and strong.gate["evaluation"] == "forward" and strong.gate["skill"] > 0.3
    noise = synthetic_training_set(np.random.default_rng(3), n=120)
    noise.success = np.random.default_rng(4).normal(60, 10, 120)
    weak = train(noise, TrainingConfig(**FAST))
    assert not weak.gate["passed"] and weak.gate["skill"] < strong.gate["skill"]
    assert weak.metadata["skill"] == weak.gate["skill"]  # what predictions use for their confidence
    assert len(strong.fold_models) == 5  # the CV refits, kept for the intervals of model-based differences


def test_drift_shows_forward_not_in_shuffled_folds_and_the_gate_uses_forward():
    bundle = train(drifting_training_set(np.random.default_rng(21)), TrainingConfig(**FAST))
    forward, cv = bundle.validation["gate"], bundle.validation["cv_gate"]
    assert forward["evaluation"] == "forward" and cv["evaluation"] == "cv"
    assert forward["mae"] > 1.25 * cv["mae"] and forward["skill"] < 0 < cv["skill"]
    assert cv["passed"] and not forward["passed"]  # shuffled folds would serve it; the forward gate refuses
    assert bundle.validation["forward"]["mae"] == pytest.approx(forward["mae"])
    data = bundle.training_data
    assert np.isnan(data["forward_predicted"]).sum() == pytest.approx(150, abs=2)  # the older half is never tested


def test_the_learning_curve_rises_with_training_size_and_estimates_the_projects_needed():
    bundle = train(synthetic_training_set(np.random.default_rng(5), n=200), TrainingConfig(**FAST))
    curve = bundle.validation["learning_curve"]
    assert [p["size"] for p in curve] == sorted(p["size"] for p in curve) and len(curve) >= 3
    assert curve[-1]["mae"] < curve[0]["mae"]
    failed = {"passed": False, "margin": 0.05, "alpha": 0.05, "spread": 1.0}
    rising = [{"size": s, "skill": 0.05 + 0.1 * np.log(s / 20)} for s in (20, 40, 80)]
    estimate = ev.projects_needed(rising, failed, n_total=40, n_train=20, fraction=0.5)
    # by hand: N with 0.1·log(N/40)·√(N/2) ≥ 1.645 → N = 204
    assert estimate["more_projects"] == pytest.approx(204 - 40, abs=3)
    assert (
        ev.projects_needed(rising, failed | {"passed": True}, n_total=40, n_train=20, fraction=0.5)["more_projects"]
        == 0
    )
    flat = [{"size": 10, "skill": -0.1}, {"size": 20, "skill": -0.12}]
    none = ev.projects_needed(flat, failed, n_total=40, n_train=20, fraction=0.5)
    assert none["more_projects"] is None and "does not rise" in none["reason"]


def test_the_hyperparameter_search_picks_the_lowest_forward_error_and_is_stored_with_the_version():
    from apps.recommendations.ml.training import SEARCH_GRID

    ts = synthetic_training_set(np.random.default_rng(12), n=160)
    bundle = train(ts, TrainingConfig(min_target_samples=30, search_seconds=600))
    record = bundle.validation["search"]
    assert record["completed"] and [r["params"] for r in record["results"]] == list(SEARCH_GRID)
    best = min(record["results"], key=lambda r: r["forward_mae"])
    assert record["chosen"] == best["params"]
    assert {k: bundle.metadata[k] for k in best["params"]} == best["params"]  # trained with the chosen settings
    assert bundle.validation["forward"]["mae"] == pytest.approx(best["forward_mae"])
    again = train(ts, TrainingConfig(min_target_samples=30, search_seconds=600)).validation["search"]
    assert [r["forward_mae"] for r in again["results"]] == [r["forward_mae"] for r in record["results"]]
    cut = train(ts, TrainingConfig(min_target_samples=30, search_seconds=1e-9)).validation["search"]
    assert not cut["completed"] and len(cut["results"]) == 1 and cut["chosen"] == SEARCH_GRID[0]
