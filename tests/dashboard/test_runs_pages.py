"""Run pages: the table with params and latest metrics (search expression, sort by metric), a run's charts drawn
from server-side downsampled history, and the comparison of several runs."""

from __future__ import annotations

import math
import re

import pytest
from django.contrib.auth import get_user_model

from apps.metrics import services
from apps.metrics.validation import parse_log_batch
from tests.dashboard.helpers import json_script, signed_in, text
from tests.metrics.factories import RunFactory, points
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _log(run, metrics=(), params=None, tags=None):
    batch = {"metrics": list(metrics), "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
             "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}  # fmt: skip
    services.run_log_batch(run=run, batch=parse_log_batch(batch))


@pytest.fixture
def runs(tenant_a):
    with tenant_a.context():
        project = ProjectFactory(name="Vision models")
        admin = get_user_model().objects.get(username=tenant_a.admin_username)
        made = {}
        for name, lr, losses in (("adam-fast", "0.01", [0.9, 0.5, 0.2]), ("sgd-slow", "0.1", [1.0, 0.8, 0.6]),
                                 ("adam-slow", "0.001", [0.95, 0.7, 0.4])):  # fmt: skip
            run = RunFactory(project=project, name=name, created_by=admin)
            _log(
                run,
                points("val/loss", losses) + points("accuracy", [0.5, 0.7, 1 - losses[-1]]),
                params={"lr": lr, "optimizer": name.split("-")[0]},
                tags={"stage": "train"},
            )
            made[name] = run
    return made


def _run_names(html: str) -> list[str]:
    table = html.split('data-testid="run-table"', 1)[1]
    return re.findall(r'<a href="/runs/\d+/">([^<]+)</a>', table)


def test_run_table_shows_params_and_latest_metrics_and_sorts_by_a_metric(tenant_a, runs):
    client = signed_in(tenant_a).client
    html = client.get("/runs/").content.decode()
    header = html.split("<thead", 1)[1].split("</thead>", 1)[0]
    assert [label for label in re.findall(r'class="sort" href="[^"]*">([^<]+)<', header)] == [
        "Run", "Status", "Started", "lr", "optimizer", "accuracy", "val/loss"
    ]  # fmt: skip
    row = text(html.split(f'value="{runs["sgd-slow"].pk}"', 1)[1].split("</tr>", 1)[0])
    assert row.endswith("0.1 sgd 0.4000 0.6000")
    ascending = client.get("/runs/?sort=metrics.val/loss").content.decode()
    assert _run_names(ascending) == ["adam-fast", "adam-slow", "sgd-slow"]
    assert _run_names(client.get("/runs/?sort=-metrics.val/loss").content.decode()) == [
        "sgd-slow", "adam-slow", "adam-fast"
    ]  # fmt: skip
    assert _run_names(client.get("/runs/?sort=params.lr").content.decode()) == ["adam-slow", "adam-fast", "sgd-slow"]


def test_run_table_search_expression_and_its_errors(tenant_a, runs):
    client = signed_in(tenant_a).client
    html = client.get("/runs/", {"q": "params.optimizer = 'adam' AND metrics.`val/loss` < 0.3"}).content.decode()
    assert _run_names(html) == ["adam-fast"]
    broken = client.get("/runs/", {"q": "metrics.accuracy >"}).content.decode()
    assert "The search expression has a problem:" in broken and "(at character" in broken
    named = client.get("/runs/", {"name": "slow", "sort": "name"}).content.decode()
    assert _run_names(named) == ["adam-slow", "sgd-slow"]
    project = runs["adam-fast"].project_id
    assert "Runs of Vision models" in client.get("/runs/", {"project": project}).content.decode()


def test_run_table_pages_with_a_cursor(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
        for index in range(55):
            RunFactory(project=project, name=f"r{index:02d}")
    client = signed_in(tenant_a).client
    first = client.get("/runs/?sort=name").content.decode()
    assert len(_run_names(first)) == 50
    next_link = re.search(r'<a href="\?([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = client.get(f"/runs/?{next_link}").content.decode()
    assert _run_names(second) == [f"r{index}" for index in range(50, 55)]
    assert "« First page" in second and 'rel="next"' not in second


def test_run_detail_charts_hold_the_logged_points(tenant_a, runs):
    run = runs["adam-fast"]
    with tenant_a.context():
        _log(run, [{"key": "grad_norm", "value": value, "step": step, "timestamp": 1_700_000_000_000 + step}
                   for step, value in enumerate([1.0, math.nan, math.inf, 0.5])])  # fmt: skip
    html = signed_in(tenant_a).client.get(f"/runs/{run.pk}/").content.decode()
    charts = dict(re.findall(r'data-metric-key="([^"]+)">.*?data-chart="([^"]+)"', html, re.S))
    assert sorted(charts) == ["accuracy", "grad_norm", "val/loss"]
    loss = json_script(html, charts["val/loss"])
    drawn = loss["data"]["datasets"][0]["data"]
    assert loss["zoom"] is True and [{"x": p["x"], "y": p["y"]} for p in drawn] == [
        {"x": 0, "y": 0.9}, {"x": 1, "y": 0.5}, {"x": 2, "y": 0.2}
    ]  # fmt: skip
    assert all(isinstance(p["t"], int) for p in drawn) and loss["metricControls"] is True  # wall clock on x
    grad = json_script(html, charts["grad_norm"])
    assert [point["y"] for point in grad["data"]["datasets"][0]["data"]] == [1.0, None, None, 0.5]
    assert "2 NaN/infinite values shown as gaps." in text(html)
    assert "optimizer" in html and "adam" in html and "stage" in html


def test_run_detail_downsamples_long_histories_on_the_server(tenant_a, runs):
    run = runs["sgd-slow"]
    values = [math.sin(step / 50) + (5.0 if step == 1234 else 0.0) for step in range(3000)]
    with tenant_a.context():
        for start in range(0, 3000, 1000):
            _log(run, points("long", values[start : start + 1000], start_step=start, timestamp=1_800_000_000_000))
    html = signed_in(tenant_a).client.get(f"/runs/{run.pk}/?key=long").content.decode()
    config = json_script(html, "metric-chart-0-config")
    drawn = config["data"]["datasets"][0]["data"]
    assert 900 <= len(drawn) <= 1000
    assert max(point["y"] for point in drawn) == max(values)  # the spike survives downsampling
    assert drawn[0]["x"] == 0 and drawn[-1]["x"] == 2999
    assert "downsampled on the server from 3000" in html


def test_compare_overlays_histories_and_marks_differing_params(tenant_a, runs):
    ids = [runs["adam-fast"].pk, runs["sgd-slow"].pk]
    html = signed_in(tenant_a).client.get(f"/runs/compare?ids={ids[0]}&ids={ids[1]}").content.decode()
    loss = json_script(html, "compare-chart-1-config")
    assert [dataset["label"] for dataset in loss["data"]["datasets"]] == [
        f"adam-fast (#{ids[0]})", f"sgd-slow (#{ids[1]})"
    ]  # fmt: skip
    assert [[p["y"] for p in dataset["data"]] for dataset in loss["data"]["datasets"]] == [
        [0.9, 0.5, 0.2], [1.0, 0.8, 0.6]
    ]  # fmt: skip
    params = html.split('data-testid="compare-params"', 1)[1].split("</table>", 1)[0]
    assert params.count(">differs</span>") == 2  # lr and optimizer; both rows flagged
    metrics = html.split('data-testid="compare-metrics"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<rect class="bar" width="([\d.]+)"', metrics) == ["100.0", "50.0", "33.3", "100.0"]


def test_compare_needs_two_visible_runs(tenant_a, tenant_b, runs):
    client = signed_in(tenant_a).client
    one = client.get(f"/runs/compare?ids={runs['adam-fast'].pk}")
    assert one.status_code == 400 and "Select at least two runs" in one.content.decode()
    with tenant_b.context():
        foreign = RunFactory(project=ProjectFactory(), name="beta-run")
    response = client.get(f"/runs/compare?ids={runs['adam-fast'].pk}&ids={foreign.pk + 10_000}")
    assert response.status_code == 400 and "No such run" in response.content.decode()


def test_other_tenants_runs_are_invisible(tenant_a, tenant_b, runs):
    with tenant_b.context():
        RunFactory(project=ProjectFactory(), name="beta-secret-run")
    assert "beta-secret-run" not in signed_in(tenant_a).client.get("/runs/").content.decode()
    assert "beta-secret-run" in signed_in(tenant_b).client.get("/runs/").content.decode()
