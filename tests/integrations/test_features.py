"""Delivery features for the success model: present only where computable, equal to the API's metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from apps.integrations.features import DELIVERY_FEATURE_NAMES, delivery_features, features_from_metrics
from apps.integrations.metrics import INSUFFICIENT, OK
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.payloads import deliver_github, gh_commit, gh_push
from tests.integrations.test_metrics import at, github_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def projects(tenant_a):
    """(with history, without integration, integration created today with no data)."""
    with tenant_a.context():
        rich, bare, fresh = ProjectFactory(), ProjectFactory(), ProjectFactory()
        integration, secret = make_integration(rich, created_at=at(1, 5))
        make_integration(fresh)
    for event, payload in github_history():
        deliver_github(tenant_a.host, integration, secret, event, payload)
    return rich, bare, fresh


def test_features_equal_the_hand_computed_metrics_and_skip_projects_without_data(tenant_a, projects):
    rich, bare, fresh = projects
    with tenant_a.context():
        features = delivery_features([rich.pk, bare.pk, fresh.pk], as_of=date(2026, 3, 29), window_days=28)
    assert set(features) == {rich.pk}  # bare: no integration; fresh: nothing observed before 29 March
    assert features[rich.pk] == {
        "delivery_commits_per_week": 1.75,
        "delivery_active_contributors": 3.0,
        "delivery_bus_factor": 0.5714,
        "delivery_pr_lead_time_p50_hours": 42.0,
        "delivery_pr_lead_time_p90_hours": 81.6,
        "delivery_review_turnaround_p50_hours": 7.0,
        "delivery_review_turnaround_p90_hours": 19.8,
        "delivery_ci_pass_rate": 0.6,
        "delivery_ci_mean_duration_seconds": 720.0,
        "delivery_rework_rate": 0.4286,
    }
    assert tuple(features[rich.pk]) == DELIVERY_FEATURE_NAMES


def test_uncomputable_features_are_absent_not_zero(tenant_a, projects):
    rich, _bare, fresh = projects
    with tenant_a.context():
        # 4–8 March: one merged PR, no CI run, 5 days (< 7) of coverage.
        short = delivery_features([rich.pk], as_of=datetime(2026, 3, 9, tzinfo=UTC), window_days=5)[rich.pk]
        assert set(short) == {"delivery_active_contributors", "delivery_bus_factor", "delivery_rework_rate"}
        # An integration observing since today: the last 90 days are partly covered but hold no commit.
        recent = delivery_features([fresh.pk])
        assert recent == {}  # covered for less than a week and nothing else measurable


def test_as_of_per_project(tenant_a, projects):
    rich, bare, _fresh = projects
    with tenant_a.context():
        integration, secret = make_integration(bare, created_at=at(1, 5))
    deliver_github(tenant_a.host, integration, secret, "push", gh_push([gh_commit("z1", at=at(6, 1))]))
    with tenant_a.context():
        features = delivery_features(
            [rich.pk, bare.pk], as_of={rich.pk: date(2026, 3, 29), bare.pk: date(2026, 6, 7)}, window_days=28
        )
    assert features[rich.pk]["delivery_commits_per_week"] == 1.75
    assert features[bare.pk]["delivery_commits_per_week"] == 0.25  # 1 commit in 4 weeks
    assert "delivery_ci_pass_rate" not in features[bare.pk]


def test_feature_queries_do_not_grow_with_projects(tenant_a, projects, django_assert_max_num_queries):
    ids = [project.pk for project in projects]
    # 5 SELECTs and one SET search_path (TENANT_LIMIT_SET_CALLS: set once per schema change).
    with tenant_a.context(), django_assert_max_num_queries(6):
        delivery_features(ids, as_of=date(2026, 3, 29))


def test_window_must_be_positive(tenant_a):
    with tenant_a.context(), pytest.raises(ValueError, match="window_days"):
        delivery_features([1], window_days=0)


def test_features_from_metrics_uses_only_ok_values():
    report = {
        "metrics": {
            "ci_pass_rate": {"status": OK, "value": 0.5},
            "pr_lead_time": {"status": INSUFFICIENT, "p50": None, "p90": None},
            "rework_rate": {"status": OK, "value": 0.0},
        }
    }
    assert features_from_metrics(report) == {"delivery_ci_pass_rate": 0.5, "delivery_rework_rate": 0.0}


def test_naive_as_of_is_taken_as_utc(tenant_a, projects):
    rich, *_ = projects
    with tenant_a.context():
        naive = delivery_features([rich.pk], as_of=datetime(2026, 3, 30), window_days=28)
        aware = delivery_features([rich.pk], as_of=datetime(2026, 3, 30, tzinfo=UTC) - timedelta(0), window_days=28)
    assert naive == aware and naive[rich.pk]["delivery_commits_per_week"] == 1.75
