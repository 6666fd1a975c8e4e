"""The packed copy of each metric series (``MetricSeries``): point counts kept by ingest, a copy that is served only
while it is current, rebuilt after new points, never stored from a stale read, and never waited for."""

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.metrics import selectors, services
from apps.metrics.models import MetricPoint, MetricSeries, Run
from apps.metrics.selectors import Source
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


def stored_copy(ctx, run_id, key):
    with ctx.context():
        row = MetricSeries.objects.values_list(
            "packed_points", "packed_steps", "packed_timestamps", "packed_values",
            "packed_last_step", "packed_last_timestamp", "packed_last_value",
        ).get(run_id=run_id, key=key)  # fmt: skip
    return (row[0], *(bytes(column) for column in row[1:4]), *row[4:])


def packed_from_points(ctx, run_id, key):
    """What a rebuild from every point would store."""
    with ctx.context(), connection.cursor() as cursor:
        cursor.execute(selectors._HISTORY_SQL, {"run": run_id, "key": key})
        total, *columns = cursor.fetchone()
        cursor.execute(
            "SELECT step, timestamp, value FROM metrics_metricpoint WHERE run_id = %s AND key = %s "
            "ORDER BY step DESC, timestamp DESC, value DESC LIMIT 1",
            [run_id, key],
        )
        last = cursor.fetchone()
    return (total, *(bytes(column) for column in columns), *last)


def load(ctx, run_id, key):
    with ctx.context():
        return selectors._load_series(run_id, key, None)


def test_history_is_served_from_the_copy_only_while_it_is_current(api_a, tenant_a, run_a, small_packs):
    values = [math.sin(i / 7) for i in range(40)]
    log(api_a, run_a["id"], points("loss", values))
    first = history(api_a, run_a["id"], "loss")
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 40, "packed_points": 40}
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY
    assert history(api_a, run_a["id"], "loss") == first
    downsampled = history(api_a, run_a["id"], "loss", "?max_points=10")
    assert downsampled["returned_points"] <= 10 and history(api_a, run_a["id"], "loss", "?max_points=10") == downsampled

    log(api_a, run_a["id"], points("loss", [-5.0, 9.0], start_step=100))  # quiet at once here: extended on read
    fresh = load(tenant_a, run_a["id"], "loss")
    assert fresh.source == Source.COPY_AND_TAIL and fresh.total_points == 42
    assert list(fresh.values[-2:]) == [-5.0, 9.0] and list(fresh.steps[-2:]) == [100, 101]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 42, "packed_points": 42}
    body = history(api_a, run_a["id"], "loss")
    assert body["total_points"] == 42 and body["values"] == [*values, -5.0, 9.0]
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY


def test_points_logged_after_the_copy_are_read_with_it(api_a, tenant_a, run_a, small_packs, settings):
    """While a run is logging, reads take the copy plus the points after it (no rewrite of the copy per batch);
    the copy is rebuilt when those reach a quarter of it, and once the series has been quiet."""
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 60
    values = [float(i) for i in range(40)]
    log(api_a, run_a["id"], points("loss", values))
    assert load(tenant_a, run_a["id"], "loss").source == Source.POINTS  # no copy yet: built even while logging
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 40, "packed_points": 40}
    for start in (40, 43, 46):
        log(api_a, run_a["id"], points("loss", [float(start), float(start + 1), float(start + 2)], start_step=start))
        series = load(tenant_a, run_a["id"], "loss")
        assert series.source == Source.COPY_AND_TAIL
        assert list(series.values) == [float(i) for i in range(start + 3)] == list(series.steps.astype(float))
        assert series_row(tenant_a, run_a["id"], "loss")["packed_points"] == 40  # the copy is not rewritten
    log(api_a, run_a["id"], points("loss", [49.0], start_step=49))  # 10 points after a 40-point copy: a quarter
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY_AND_TAIL  # … and the copy is extended
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 50, "packed_points": 50}
    assert stored_copy(tenant_a, run_a["id"], "loss") == packed_from_points(tenant_a, run_a["id"], "loss")
    log(api_a, run_a["id"], points("loss", [50.0], start_step=50))
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY_AND_TAIL
    with tenant_a.context():
        MetricSeries.objects.filter(run_id=run_a["id"]).update(written_at=timezone.now() - timedelta(seconds=61))
    quiet = load(tenant_a, run_a["id"], "loss")
    assert quiet.source == Source.COPY_AND_TAIL and list(quiet.values) == [float(i) for i in range(51)]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 51, "packed_points": 51}
    assert stored_copy(tenant_a, run_a["id"], "loss") == packed_from_points(tenant_a, run_a["id"], "loss")
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY


def test_a_point_logged_before_the_copys_end_is_not_missed(api_a, tenant_a, run_a, small_packs, settings):
    """A point that sorts inside the copied range (a late or out-of-order log) makes the copy and the points after
    it fall short of the count: the series is read from all its points, in order."""
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 60
    log(api_a, run_a["id"], points("loss", [float(i) for i in range(10)], timestamp=1000))
    load(tenant_a, run_a["id"], "loss")
    log(api_a, run_a["id"], [{"key": "loss", "value": -1.0, "step": 4, "timestamp": 2000}])
    series = load(tenant_a, run_a["id"], "loss")
    assert series.source == Source.POINTS and series.total_points == 11
    assert list(series.values) == [0.0, 1.0, 2.0, 3.0, 4.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert list(series.timestamps[4:6]) == [1004, 2000]
    assert series_row(tenant_a, run_a["id"], "loss") == {"points": 11, "packed_points": 11}


def test_copy_round_trips_nan_and_infinity_and_keeps_step_order(api_a, tenant_a, run_a, small_packs, settings):
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 60
    metrics = [
        {"key": "odd", "value": v, "step": s, "timestamp": t}
        for v, s, t in [(math.inf, 4, 40), (math.nan, 5, 50), (-math.inf, 3, 30), (0.5, 3, 31), (2.0, 0, 1)]
    ]
    log(api_a, run_a["id"], metrics)
    built, cached = load(tenant_a, run_a["id"], "odd"), load(tenant_a, run_a["id"], "odd")
    assert (built.source, cached.source) == (Source.POINTS, Source.COPY)
    for name in ("steps", "timestamps", "values"):
        np.testing.assert_array_equal(getattr(built, name), getattr(cached, name))
    assert list(cached.steps) == [0, 3, 3, 4, 5] and list(cached.timestamps) == [1, 30, 31, 40, 50]
    body = json.loads(api_a.get(f"/api/v1/runs/{run_a['id']}/metrics/odd/history").content)
    assert body["values"] == [2.0, "-Infinity", 0.5, "Infinity", "NaN"]
    # After a copy ending in NaN (the largest float8): a later timestamp follows it, a smaller value at the same
    # step and timestamp sorts before it.
    log(api_a, run_a["id"], [{"key": "odd", "value": 0.0, "step": 5, "timestamp": 51}])
    tail = load(tenant_a, run_a["id"], "odd")
    assert tail.source == Source.COPY_AND_TAIL and list(tail.timestamps) == [1, 30, 31, 40, 50, 51]
    log(api_a, run_a["id"], [{"key": "odd", "value": 7.0, "step": 5, "timestamp": 50}])
    inside = load(tenant_a, run_a["id"], "odd")
    assert inside.source == Source.POINTS
    np.testing.assert_array_equal(inside.values, [2.0, -math.inf, 0.5, math.inf, 7.0, math.nan, 0.0])


def test_short_series_keep_no_copy(api_a, tenant_a, run_a, small_packs, settings):
    settings.METRIC_HISTORY_PACK_MIN_POINTS = 50
    log(api_a, run_a["id"], points("loss", [float(i) for i in range(49)]))
    assert history(api_a, run_a["id"], "loss")["total_points"] == 49
    assert series_row(tenant_a, run_a["id"], "loss")["packed_points"] is None
    log(api_a, run_a["id"], points("loss", [1.0], start_step=49))
    assert history(api_a, run_a["id"], "loss")["total_points"] == 50
    assert series_row(tenant_a, run_a["id"], "loss")["packed_points"] == 50


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
        assert series.total_points == 9 and series.source == Source.POINTS
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


def test_extending_a_copy_ending_in_nan_matches_a_rebuild(api_a, tenant_a, run_a, small_packs):
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, math.nan]))
    assert load(tenant_a, run_a["id"], "loss").source == Source.POINTS
    log(api_a, run_a["id"], points("loss", [4.0, math.inf], start_step=4))
    extended = load(tenant_a, run_a["id"], "loss")
    assert extended.source == Source.COPY_AND_TAIL
    np.testing.assert_array_equal(extended.values, [1.0, 2.0, 3.0, math.nan, 4.0, math.inf])
    assert stored_copy(tenant_a, run_a["id"], "loss") == packed_from_points(tenant_a, run_a["id"], "loss")
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY


def test_extending_is_refused_when_a_point_arrived_inside_the_copy_meanwhile(api_a, tenant_a, run_a, small_packs):
    """The extension re-checks copy + newer points against the count on the row it updates: a point that sorts
    inside the copied range, committed after the read, leaves the copy as it was."""
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0], timestamp=100))
    load(tenant_a, run_a["id"], "loss")
    log(api_a, run_a["id"], points("loss", [5.0, 6.0], start_step=4, timestamp=104))
    before = stored_copy(tenant_a, run_a["id"], "loss")
    seen = {"packed": 4, "last_step": 3, "last_timestamp": 103, "last_value": 4.0}  # what a read saw
    log(api_a, run_a["id"], [{"key": "loss", "value": 9.0, "step": 1, "timestamp": 500}])  # inside the copy
    with tenant_a.context(), connection.cursor() as cursor:
        cursor.execute(selectors._EXTEND_SQL, {"run": run_a["id"], "key": "loss", **seen})
        assert cursor.rowcount == 0
    assert stored_copy(tenant_a, run_a["id"], "loss") == before
    series = load(tenant_a, run_a["id"], "loss")
    assert series.source == Source.POINTS and list(series.values) == [1.0, 2.0, 9.0, 3.0, 4.0, 5.0, 6.0]


def test_a_copy_that_cannot_be_written_still_serves_the_series(api_a, tenant_a, run_a, small_packs, caplog):
    """In a read-only transaction the copy's write fails; the read answers from the points all the same."""
    log(api_a, run_a["id"], points("loss", [1.0, 2.0, 3.0, 4.0, 5.0]))
    with tenant_a.context(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL transaction_read_only = on")
        series = selectors._load_series(run_a["id"], "loss", None)
        assert series.source == Source.POINTS and list(series.values) == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert MetricSeries.objects.get(run_id=run_a["id"]).packed_points is None
        transaction.set_rollback(True)  # back to read-write for the rest of the test
    assert load(tenant_a, run_a["id"], "loss").source == Source.POINTS  # read-write again: packed and stored
    assert load(tenant_a, run_a["id"], "loss").source == Source.COPY
    assert "packed copy not stored" in caplog.text
