"""The pure ML layer on synthetic arrays: no database, no embedding model."""

from __future__ import annotations

import numpy as np
import pytest

from apps.recommendations.ml import neighbors as nb
from apps.recommendations.ml import overlap as ov
from apps.recommendations.ml.confidence import confidence
from apps.recommendations.ml.features import FeatureSpace, Member, ProjectInput
from apps.recommendations.ml.impact import artifact_impact, bootstrap_ci, observed_lift
from apps.recommendations.ml.predict import Predictor, deserialize, serialize
from apps.recommendations.ml.similarity import SimilarityIndex, top_k
from apps.recommendations.ml.team import TeamConstraints, TeamSearch
from apps.recommendations.ml.training import TrainingConfig, TrainingSet, conformal_adjustment, cross_validate, train


def unit_rows(rng, n, d=16):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_neighbor_success(E, y, i, eligible, k):
    sims = E[eligible] @ E[i]
    order = np.argsort(-sims)[:k]
    w = np.square(np.maximum(sims[order], 0))
    return float(np.dot(w, y[eligible][order]) / w.sum())


# ------------------------------------------------------------------------------------------------ neighbours


def test_out_of_fold_neighbor_feature_never_sees_its_own_or_fold_mates_outcome():
    rng = np.random.default_rng(0)
    n = 300
    E = unit_rows(rng, n)
    has = np.ones(n, dtype=bool)
    y = rng.normal(60, 10, n)
    groups = nb.oof_groups(n, 5, seed=1)
    rows = np.arange(n)
    before = nb.neighbor_success(E, has, y, rows=rows, pool=has, groups=groups, k=10)
    i = 17
    changed = y.copy()
    changed[groups == groups[i]] += 1000.0  # the row's own outcome and its fold-mates'
    after = nb.neighbor_success(E, has, changed, rows=rows, pool=has, groups=groups, k=10)
    same_fold = groups == groups[i]
    assert np.allclose(before[same_fold], after[same_fold])
    assert not np.allclose(before[~same_fold], after[~same_fold])  # other folds do use them


def test_neighbor_feature_equals_exact_knn_even_when_candidate_lists_run_short():
    rng = np.random.default_rng(1)
    n = 120
    E = unit_rows(rng, n, d=8)
    has = np.ones(n, dtype=bool)
    y = rng.normal(50, 5, n)
    groups = nb.oof_groups(n, 2, seed=3)
    cands = nb.candidates(E, has, m=12)  # short lists force the exact fallback for many rows
    got = nb.neighbor_success(E, has, y, rows=np.arange(n), pool=has, groups=groups, k=10, cands=cands)
    for i in range(n):
        eligible = np.flatnonzero(groups != groups[i])
        assert got[i] == pytest.approx(brute_neighbor_success(E, y, i, eligible, 10), rel=1e-5)


@pytest.mark.parametrize("out_of_fold", [False, True])
@pytest.mark.parametrize("pool_size", [6, 25])  # 6: fewer eligible rows than k for every row
def test_neighbor_feature_is_exact_knn_against_a_small_pool(out_of_fold, pool_size):
    # The learning curve's shape: a pool that is a small subset of the rows, so nearly every candidate list runs
    # short and the batched exact recompute (``neighbors._exact``) gives the feature, for pool rows and others.
    rng = np.random.default_rng(4)
    n = 200
    E = unit_rows(rng, n, d=8)
    has = rng.random(n) > 0.05
    y = rng.normal(50, 5, n)
    pool = np.zeros(n, dtype=bool)
    pool[rng.choice(n, size=pool_size, replace=False)] = True
    groups = np.where(pool, nb.oof_groups(n, 3, seed=2), -1) if out_of_fold else None
    rows = np.arange(n)
    got = nb.neighbor_success(E, has, y, rows=rows, pool=pool, groups=groups, k=10, cands=nb.candidates(E, has, m=16))
    for i in rows:
        eligible = pool & has & (np.arange(n) != i)
        if groups is not None:
            eligible &= groups != groups[i]
        expected = brute_neighbor_success(E, y, i, np.flatnonzero(eligible), 10) if has[i] and eligible.any() else None
        if expected is None or not np.isfinite(expected):
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(expected, rel=1e-5)


def test_rows_without_embedding_get_a_missing_neighbor_feature():
    rng = np.random.default_rng(2)
    E = unit_rows(rng, 30)
    has = np.ones(30, dtype=bool)
    has[[3, 4]] = False
    out = nb.neighbor_success(E, has, rng.normal(size=30), rows=np.arange(30), pool=has, k=5)
    assert np.isnan(out[3]) and np.isnan(out[4]) and not np.isnan(out).sum() > 2


def test_cross_validation_on_pure_noise_finds_no_signal():
    """With leakage (a row's own outcome reaching its neighbour feature) CV R² here would be far above 0."""
    rng = np.random.default_rng(3)
    n = 200
    inputs = [ProjectInput("classification", 50.0, 100.0, (Member("ml_engineer", "mid", 3, 100),)) for _ in range(n)]
    ts = TrainingSet(
        project_ids=np.arange(n), inputs=inputs, embeddings=unit_rows(rng, n, 32), has_embedding=np.ones(n, bool),
        success=rng.normal(60, 10, n), duration_days=np.full(n, np.nan), compute_cost=np.full(n, np.nan),
    )  # fmt: skip
    cfg = TrainingConfig(num_boost_round=60, min_target_samples=30)
    space = FeatureSpace.fit(inputs)
    cv = cross_validate(ts, space, space.matrix(inputs), cfg, nb.candidates(ts.embeddings, ts.has_embedding))
    assert cv["success"]["r2"] < 0.05
    assert cv["success"]["mae"] >= 0.95 * cv["success"]["baseline_mae"]


def test_query_neighbors_exclude_the_project_itself():
    rng = np.random.default_rng(4)
    pool = unit_rows(rng, 50)
    y = np.arange(50, dtype=float)
    found = nb.query_neighbor_success(pool[7], pool, y, k=3)
    assert found.positions[0] == 7 and found.similarities[0] == pytest.approx(1.0)
    excluded = nb.query_neighbor_success(pool[7], pool, y, k=3, exclude=[7])
    assert 7 not in excluded.positions
    assert np.isnan(nb.query_neighbor_success(None, pool, y).value)


# ------------------------------------------------------------------------------------------------ similarity


def test_top_k_matches_a_full_sort():
    rng = np.random.default_rng(5)
    M = unit_rows(rng, 1000, 24)
    q = M[10]
    rows, sims = top_k(M, q, 10)
    expected = np.argsort(-(M @ q))[:10]
    assert list(rows) == list(expected)
    assert np.all(np.diff(sims) <= 0)


def test_similarity_index_upserts_removes_and_searches_exactly():
    rng = np.random.default_rng(6)
    vectors = unit_rows(rng, 3000, 24)
    index = SimilarityIndex(24, capacity=4)
    index.upsert(range(100, 3100), vectors)
    assert len(index) == 3000
    index.remove([100, 105, 99999])
    index.upsert([106], vectors[0:1])  # replace one row in place
    hits = index.search(vectors[0], 3, exclude=[101])
    assert hits[0].id in (106,) and hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert all(h.id not in (100, 105) for h in index.search(vectors[1], 3000))
    ids = index.ids
    brute = ids[np.argsort(-(index.matrix @ vectors[2]))[:5]]
    assert [h.id for h in index.search(vectors[2], 5)] == list(brute)
    assert 106 in index and 100 not in index and index.vector(100) is None


# ------------------------------------------------------------------------------------------------ features


def test_feature_row_counts_team_artifacts_and_indicators():
    space = FeatureSpace(indicator_artifacts=(7,))
    project = ProjectInput(
        "nlp", 70, 120.0,
        (Member("data_engineer", "senior", 8, 100), Member("mlops", "junior", 1, 50), Member("weird", "mid", 3, 10)),
        ((7, "dataset"), (9, "dataset"), (11, "notebook")),
    )  # fmt: skip
    row = space.row(project, 64.0)
    v = dict(zip(space.names, row, strict=True))
    assert v["team_size"] == 3 and v["role_data_engineer"] == 1 and v["role_other"] == 1
    assert v["level_senior"] == 1 and v["level_junior"] == 1 and v["level_mid"] == 1
    assert v["years_mean"] == pytest.approx(4.0) and v["years_max"] == 8 and v["hours_total"] == 160
    assert v["artifacts_dataset"] == 2 and v["artifacts_notebook"] == 1 and v["artifact_7"] == 1
    assert v["problem_class"] == space.class_code("nlp") and v["neighbor_success"] == 64.0
    empty = dict(zip(space.names, space.row(ProjectInput("other", 10)), strict=True))
    assert np.isnan(empty["years_mean"]) and np.isnan(empty["planned_duration_days"])
    with pytest.raises(ValueError):
        FeatureSpace.from_dict({"indicator_artifacts": [7], "names": ["something else"]})


def test_indicator_artifacts_are_the_most_used_above_the_threshold():
    inputs = [ProjectInput("nlp", 50, None, (), ((1, "dataset"),))] * 6 + [
        ProjectInput("nlp", 50, None, (), ((2, "dataset"), (3, "model")))
    ] * 5
    space = FeatureSpace.fit(inputs, max_indicator_artifacts=2, min_indicator_usage=5)
    assert space.indicator_artifacts == (1, 2)


# ------------------------------------------------------------------------------------------------ confidence


def test_confidence_formula_includes_the_models_validated_skill():
    sims = np.array([0.9, 0.8, 0.7, 0.6, 0.5, -0.2])
    c = confidence(lower=40, upper=50, reference_width=40, neighbor_similarities=sims, k=10, skill=0.4)
    assert c["sharpness"] == pytest.approx(0.75)
    assert c["support"] == pytest.approx(3.5 / 10)
    assert c["skill"] == pytest.approx(0.4)
    assert c["confidence"] == pytest.approx(np.cbrt(0.75 * 0.35 * 0.4))
    weak = confidence(lower=40, upper=50, reference_width=40, neighbor_similarities=sims, k=10, skill=0.1)
    assert weak["confidence"] < c["confidence"]  # the same input, a weaker model: lower confidence
    wide = confidence(lower=0, upper=100, reference_width=40, neighbor_similarities=sims, k=10, skill=0.4)
    assert wide["confidence"] == 0.0
    assert (
        confidence(lower=40, upper=50, reference_width=40, neighbor_similarities=sims, k=10, skill=-0.3)["confidence"]
        == 0.0
    )


def test_conformal_adjustment_reaches_nominal_coverage():
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 2000)
    lower, upper = np.full(2000, -0.5), np.full(2000, 0.5)  # a too narrow interval
    a = conformal_adjustment(y, lower, upper, 0.8)
    coverage = np.mean((y >= lower - a) & (y <= upper + a))
    assert a > 0 and coverage == pytest.approx(0.8, abs=0.02)


# ------------------------------------------------------------------------------------------------ training / predict


def synthetic_training_set(rng, n=240):
    inputs, success = [], []
    for _ in range(n):
        seniors = int(rng.integers(0, 4))
        juniors = int(rng.integers(0, 4)) + (1 if seniors == 0 else 0)
        members = tuple(
            [Member("ml_engineer", "senior", 8, 100)] * seniors + [Member("analyst", "junior", 1, 100)] * juniors
        )
        helpful = rng.random() < 0.3
        artifacts = ((1, "feature_pipeline"),) if helpful else ()
        inputs.append(ProjectInput("classification", float(rng.integers(10, 90)), 100.0, members, artifacts))
        success.append(50 + 6 * seniors - 2 * juniors + (8 if helpful else 0) + rng.normal(0, 2))
    return TrainingSet(
        project_ids=np.arange(1, n + 1), inputs=inputs, embeddings=unit_rows(rng, n, 16),
        has_embedding=np.ones(n, bool), success=np.array(success), duration_days=rng.normal(100, 10, n),
        compute_cost=np.where(rng.random(n) < 0.5, np.nan, rng.lognormal(8, 0.3, n)),
    )  # fmt: skip


def test_training_learns_the_signal_and_round_trips_through_serialisation():
    rng = np.random.default_rng(8)
    ts = synthetic_training_set(rng)
    bundle = train(ts, TrainingConfig(num_boost_round=150, min_target_samples=30))
    cv = bundle.targets["success"].cv
    assert cv["r2"] > 0.7 and cv["mae"] < 0.5 * cv["baseline_mae"]
    assert set(bundle.targets) == {"success", "duration_days", "compute_cost"}
    assert bundle.targets["compute_cost"].n_samples == int((~np.isnan(ts.compute_cost)).sum())
    assert bundle.importances and abs(sum(bundle.importances.values()) - 1) < 1e-6

    predictor = Predictor(deserialize(serialize(bundle)), ts.embeddings, ts.has_embedding)
    strong = ProjectInput("classification", 50, 100.0, (Member("ml_engineer", "senior", 8, 100),) * 3, ((1, "x"),))
    weak = ProjectInput("classification", 50, 100.0, (Member("analyst", "junior", 1, 100),) * 3)
    X = predictor.rows([strong, weak], 60.0)
    pred = predictor.predict(X, "success")
    assert pred.point[0] > pred.point[1] + 15
    assert np.all(pred.lower <= pred.point) and np.all(pred.point <= pred.upper)
    contrib = predictor.contributions(X)
    assert contrib[0].base_value + contrib[0].values.sum() == pytest.approx(
        predictor.targets["success"]["point"].predict(X[:1])[0], abs=1e-6
    )


def test_targets_with_too_few_known_values_get_no_model():
    rng = np.random.default_rng(9)
    ts = synthetic_training_set(rng, n=60)
    ts.compute_cost[:] = np.nan
    ts.compute_cost[:5] = 100.0
    bundle = train(ts, TrainingConfig(num_boost_round=30, min_target_samples=30))
    assert "compute_cost" not in bundle.targets
    assert bundle.skipped_targets["compute_cost"] == {"status": "insufficient_data", "have": 5, "needed": 30}
    with pytest.raises(ValueError):
        train(synthetic_training_set(rng, n=3), TrainingConfig())


# ------------------------------------------------------------------------------------------------ team search


def make_search(score, constraints, base_space=None):
    space = base_space or FeatureSpace()
    return TeamSearch(space, np.zeros(space.n_features), score, constraints, {}, 100.0)


def test_team_search_finds_the_best_composition_within_constraints():
    space = FeatureSpace()
    size, seniors = space.col("team_size"), space.col("level_senior")
    de = space.col("role_data_engineer")

    def score(X):  # best: 4 people, as many seniors as allowed, exactly one data engineer
        return -3 * np.abs(X[:, size] - 4) + 2 * X[:, seniors] + 5 * (X[:, de] == 1)

    result = make_search(score, TeamConstraints(max_size=6, max_per_level={"senior": 2})).run()
    counts = {}
    for role, level, count in result.members:
        counts[level] = counts.get(level, 0) + count
        counts[role] = counts.get(role, 0) + count
    assert result.size == 4 and counts.get("senior") == 2 and counts.get("data_engineer") == 1
    assert result.predicted_success == pytest.approx(-0 + 4 + 5)

    limited = make_search(score, TeamConstraints(max_size=2, roles=("analyst",), levels=("junior", "mid"))).run()
    assert limited.size == 2 and all(r == "analyst" and lv in ("junior", "mid") for r, lv, _ in limited.members)


def test_team_search_never_suggests_worse_than_a_feasible_proposal_and_rejects_impossible_constraints():
    space = FeatureSpace()
    principal = space.col("level_principal")

    def score(X):
        return X[:, principal] * 10 - X[:, space.col("team_size")]

    proposed = [Member("mlops", "principal", 20, 100)] * 3
    result = make_search(score, TeamConstraints(max_size=5)).run(proposed=proposed)
    assert result.predicted_success >= 27
    with pytest.raises(ValueError):
        make_search(score, TeamConstraints(max_size=3, max_per_role={r: 0 for r in space.roles})).run()


# ------------------------------------------------------------------------------------------------ impact


def test_artifact_impact_mean_contribution_ci_and_lift():
    space = FeatureSpace(indicator_artifacts=(5,))
    inputs = [ProjectInput("nlp", 50, None, (), ((5, "dataset"), (6, "dataset")))] * 10 + [
        ProjectInput("nlp", 50, None, ())
    ] * 10
    contribs = np.zeros((20, space.n_features + 0))
    contribs[:10, space.indicator_col(5)] = np.linspace(3, 5, 10)
    contribs[:10, space.type_col("dataset")] = 2.0  # shared by the two datasets → 1.0 each
    success = np.array([70.0] * 10 + [60.0] * 10)
    result = artifact_impact(
        space=space, inputs=inputs, contribs=contribs, success=success, artifact_id=5, artifact_type="dataset",
        min_usage=5,
    )  # fmt: skip
    assert result.status == "ok" and result.n_projects == 10
    assert result.impact == pytest.approx(4.0 + 1.0)
    assert result.ci_low < result.impact < result.ci_high
    assert result.observed_lift == pytest.approx(10.0) and result.comparable_n == 10
    few = artifact_impact(
        space=space, inputs=inputs, contribs=contribs, success=success, artifact_id=6, artifact_type="dataset",
        min_usage=11,
    )  # fmt: skip
    assert few.status == "insufficient_usage" and few.impact is None and few.n_projects == 10


def test_bootstrap_and_lift_edge_cases():
    assert bootstrap_ci(np.array([2.0, 2.0, 2.0]), seed=1) == (2.0, 2.0)
    assert observed_lift(np.array([1.0, 2.0]), np.array([True, True]), np.array(["a", "a"])) == (None, 0)


# ------------------------------------------------------------------------------------------------ overlap


def test_requirements_are_split_at_lines_bullets_and_sentences():
    text = (
        "Forecast weekly demand for all stores.\nRequirements:\n- Holiday effects must be modelled.\n"
        "* Forecasts every Monday morning; accuracy tracked with weighted MAPE. 2. Data stays in the EU region."
    )
    assert ov.split_requirements(text) == [
        "Forecast weekly demand for all stores.",
        "Holiday effects must be modelled.",
        "Forecasts every Monday morning",
        "accuracy tracked with weighted MAPE.",
        "Data stays in the EU region.",
    ]


def test_matching_is_one_to_one_and_thresholded():
    a = np.eye(3, dtype=np.float32)
    b = np.array([[0, 1, 0], [0.9, 0.1, 0], [0, 0, -1]], dtype=np.float32)
    matches = ov.match(a, b, min_similarity=0.5)
    assert [(m.a, m.b) for m in matches] == [(1, 0), (0, 1)]
    assert ov.overlap_score(matches, 3, 3) == pytest.approx((1 + 0.9) / 3)
    assert ov.match(a[:0], b, 0.5) == [] and ov.overlap_score([], 0, 0) == 0.0


@pytest.mark.parametrize("n", [30, 33, 37])
def test_exactly_the_minimum_of_projects_still_gets_a_cross_validated_model(n):
    # each of the 5 folds trains on 4/5 of the projects: with 30-37 of them the folds hold fewer than the final
    # model's minimum of 30, yet the CV must still produce its error (it once produced none and training crashed)
    rng = np.random.default_rng(n)
    bundle = train(synthetic_training_set(rng, n=n), TrainingConfig(num_boost_round=30, min_target_samples=30))
    cv = bundle.targets["success"].cv
    assert cv["n"] == n
    assert len(cv["fold_mae"]) == 5
    assert np.isfinite(cv["mae"]) and cv["mae"] > 0
