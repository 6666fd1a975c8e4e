"""The packed copy of each metric series (``MetricSeries``): point counts kept by ingest, a copy that is served only
while it is current, rebuilt after new points, never stored from a stale read, and never waited for."""

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from apps.metrics import selectors, services
from apps.metrics.models import MetricPoint, MetricSeries, Run
from apps.projects.models import Project
from tests.metrics.factories import points
from tests.metrics.test_history import history, log

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_packs(settings):
    settings.METRIC_HISTORY_PACK_MIN_POINTS = 4
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 0


def series_row(ctx, run_id, key):
    with ctx.context():
        return MetricSeries.objects.filter(run_id=run_id, key=key).values("points", "packed_points").first()


def test_ingest_counts_only_the_points_it_inserts(api_a, tenant_a, run_a):
    log(api_a, run_a["id"], points("loss", [3.0, 2.0, 1.0]) + points("acc", [0.5]))
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 3, "packed_points": None}
    assert series_row(tenant_a, run_a["id"], "acc")["points"] == 1
    log(api_a, run_a["id"], points("loss", [3.0, 2.0, 1.0]))  # a client retry: nothing new
    assert series_row(tenant_a, run_a["id"], "loss")["points"] == 3
    again = points("loss", [2.0, 1.0, 0.5, 0.25], start_step=1, timestamp=1_700_000_000_001)
    log(api_a, run_a["id"], again)  # steps 1 and 2 again (same points), 3 and 4 new
    assert series_row(tenant_a, run_a["id"], "loss")["points"] == 5
    with tenant_a.context():
        for row in MetricSeries.objects.filter(run_id=run_a["id"]):
            assert row.points == MetricPoint.objects.filter(run_id=run_a["id"], key=row.key).count()


def test_history_is_served_from_the_copy_only_while_it_is_current(api_a, tenant_a, run_a, small_packs):
    values = [math.sin(i / 7) for i in range(40)]
    log(api_a, run_a["id"], points("loss", values))
    first = history(api_a, run_a["id"], "loss")
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 40, "packed_points": 40}
    with tenant_a.context():
        assert selectors._load_series(run_a["id"], "loss", None).packed
    assert history(api_a, run_a["id"], "loss") == first
    assert history(api_a, run_a["id"], "loss", "?max_points=10") == history(
        api_a, run_a["id"], "loss", "?max_points=10"
    )

    log(api_a, run_a["id"], points("loss", [-5.0, 9.0], start_step=100))  # new points make the copy stale
    with tenant_a.context():
        fresh = selectors._load_series(run_a["id"], "loss", None)
    assert not fresh.packed and fresh.total_points == 42
    assert list(fresh.values[-2:]) == [-5.0, 9.0] and list(fresh.steps[-2:]) == [100, 101]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 42, "packed_points": 42}
    body = history(api_a, run_a["id"], "loss")
    assert body["total_points"] == 42 and body["values"] == [*values, -5.0, 9.0]
    with tenant_a.context():
        assert selectors._load_series(run_a["id"], "loss", None).packed


def test_copy_round_trips_nan_and_infinity_and_keeps_step_order(api_a, tenant_a, run_a, small_packs):
    metrics = [
        {"key": "odd", "value": v, "step": s, "timestamp": t}
        for v, s, t in [(math.inf, 5, 50), (math.nan, 1, 10), (-math.inf, 3, 30), (0.5, 3, 31), (2.0, 0, 1)]
    ]
    log(api_a, run_a["id"], metrics)
    with tenant_a.context():
        built = selectors._load_series(run_a["id"], "odd", None)
        cached = selectors._load_series(run_a["id"], "odd", None)
    assert not built.packed and cached.packed
    for name in ("steps", "timestamps", "values"):
        np.testing.assert_array_equal(getattr(built, name), getattr(cached, name))
    assert list(cached.steps) == [0, 1, 3, 3, 5] and list(cached.timestamps) == [1, 10, 30, 31, 50]
    body = json.loads(api_a.get(f"/api/v1/runs/{run_a['id']}/metrics/odd/history").content)
    assert body["values"] == [2.0, "NaN", "-Infinity", 0.5, "Infinity"]


def test_short_series_keep_no_copy(api_a, tenant_a, run_a, small_packs, settings):
    settings.METRIC_HISTORY_PACK_MIN_POINTS = 50
    log(api_a, run_a["id"], points("loss", [float(i) for i in range(49)]))
    assert history(api_a, run_a["id"], "loss")["total_points"] == 49
    assert series_row(tenant_a, run_a["id"], "loss")["packed_points"] is None
    log(api_a, run_a["id"], points("loss", [1.0], start_step=49))
    assert history(api_a, run_a["id"], "loss")["total_points"] == 50
    assert series_row(tenant_a, run_a["id"], "loss")["packed_points"] == 50


def test_a_series_still_being_written_is_read_without_storing_a_copy(api_a, tenant_a, run_a, small_packs, settings):
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 60
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0, 5.0]))
    assert history(api_a, run_a["id"], "loss")["values"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 5, "packed_points": None}
    with tenant_a.context():
        MetricSeries.objects.filter(run_id=run_a["id"]).update(written_at=timezone.now() - timedelta(seconds=61))
    assert history(api_a, run_a["id"], "loss")["values"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 5, "packed_points": 5}
    log(api_a, run_a["id"], points("loss", [6.0], start_step=5))  # logging again: quiet no more
    with tenant_a.context():
        assert MetricSeries.objects.get(run_id=run_a["id"]).written_at > timezone.now() - timedelta(seconds=5)
    assert history(api_a, run_a["id"], "loss")["values"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 6, "packed_points": 5}


def test_a_copy_is_only_stored_when_its_count_matches(api_a, tenant_a, run_a, small_packs):
    """The store re-checks ``points`` against the count it packed: a copy of any other set of points (here one
    point written around the batch writer, as a batch committed after the read's snapshot would be) is dropped."""
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0, 5.0]))
    with tenant_a.context():
        MetricPoint.objects.create(run_id=run_a["id"], key="loss", value=6.0, step=5, timestamp=5)
    assert history(api_a, run_a["id"], "loss")["values"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 5, "packed_points": None}


def test_series_without_a_count_are_read_from_their_points(tenant_a, small_packs):
    """Points written around the batch writer (no MetricSeries row) are still served, just never cached."""
    with tenant_a.context():
        project = Project.objects.create(name="p", slug="uncounted")
        run = services.run_create(user=None, project=project)
        MetricPoint.objects.bulk_create(MetricPoint(run=run, key="k", value=i, step=i, timestamp=i) for i in range(9))
        series = selectors._load_series(run.pk, "k", None)
        assert series.total_points == 9 and not series.packed
        assert not MetricSeries.objects.filter(run=run).exists()


def test_deleting_a_run_deletes_its_series(api_a, tenant_a, run_a, small_packs):
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0]))
    history(api_a, run_a["id"], "loss")
    with tenant_a.context():
        assert MetricSeries.objects.filter(run_id=run_a["id"]).count() == 1
        services.run_delete(run=Run.objects.get(pk=run_a["id"]))
        assert not MetricSeries.objects.filter(run_id=run_a["id"]).exists()


def test_multi_run_history_uses_each_runs_copy(api_a, tenant_a, project_a, run_a, small_packs):
    other = api_a.post("/api/v1/runs", {"project": project_a.pk, "name": "other"}, format="json").json()
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0, 5.0]))
    log(api_a, other["id"], points("loss", [9.0, 8.0, 7.0, 6.0]))
    path = f"/api/v1/metrics/history?runs={run_a['id']},{other['id']}&key=loss"
    first = api_a.get(path)
    assert first.status_code == 200, first.content
    assert series_row(tenant_a, other["id"], "loss") == {"points": 4, "packed_points": 4}
    assert api_a.get(path).json() == first.json()
    assert [s["values"] for s in first.json()["series"]] == [[1.0, 2.0, 3.0, 4.0, 5.0], [9.0, 8.0, 7.0, 6.0]]
