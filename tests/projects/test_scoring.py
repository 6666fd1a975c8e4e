"""The success_score formula, checked with numbers (pure function, no database)."""

import pytest

from apps.projects.scoring import InsufficientOutcome, ScoringWeights, cost_efficiency, success_score

DEFAULT = ScoringWeights()


def test_all_three_components_with_default_weights():
    # 100 × (0.4·0.9 + 0.4·0.60 + 0.2·0.5) / 1.0
    assert success_score(model_performance=0.9, business_impact=60, compute_cost=10_000, weights=DEFAULT) == 70.0


def test_missing_component_is_left_out_with_its_weight():
    # 100 × (0.4·0.9 + 0.4·0.6) / 0.8
    assert success_score(model_performance=0.9, business_impact=60, compute_cost=None, weights=DEFAULT) == 75.0


@pytest.mark.parametrize(("cost", "expected"), [(0, 1.0), (10_000, 0.5), (30_000, 0.25), (90_000, 0.1)])
def test_cost_efficiency_is_one_at_zero_and_half_at_the_reference(cost, expected):
    assert cost_efficiency(cost, 10_000) == pytest.approx(expected)


def test_custom_weights_and_reference():
    weights = ScoringWeights(w_model_performance=1, w_business_impact=0, w_cost_efficiency=3, cost_reference=500)
    # impact has weight 0 and is ignored; 100 × (1·0.8 + 3·(1/(1+1000/500))) / 4 = 100 × (0.8 + 1.0) / 4
    assert success_score(model_performance=0.8, business_impact=99, compute_cost=1000, weights=weights) == 45.0


def test_too_few_components_names_the_missing_fields():
    with pytest.raises(InsufficientOutcome) as caught:
        success_score(model_performance=0.7, business_impact=None, compute_cost=None, weights=DEFAULT)
    assert caught.value.missing == ("business_impact", "compute_cost")
    assert (caught.value.needed, caught.value.given) == (2, 1)


def test_zero_weight_components_never_count_towards_the_minimum():
    weights = ScoringWeights(w_cost_efficiency=0, min_components=2)
    assert weights.weighted_fields == ("model_performance", "business_impact")
    with pytest.raises(InsufficientOutcome) as caught:
        success_score(model_performance=0.5, business_impact=None, compute_cost=100, weights=weights)
    assert caught.value.missing == ("business_impact",)


def test_min_components_one_allows_a_single_field():
    weights = ScoringWeights(min_components=1)
    assert success_score(model_performance=None, business_impact=None, compute_cost=10_000, weights=weights) == 50.0


def test_perfect_outcome_scores_100_and_worst_scores_near_0():
    assert success_score(model_performance=1, business_impact=100, compute_cost=0, weights=DEFAULT) == 100.0
    assert success_score(model_performance=0, business_impact=0, compute_cost=10**12, weights=DEFAULT) < 0.001
