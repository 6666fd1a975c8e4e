"""Dashboard pages for runs: the run table (params and latest metrics, search expression, sort by any metric or
param, keyset pages), a run with zoomable metric charts, and a comparison of several runs."""

from __future__ import annotations

import math
import re
from collections import Counter
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.access.declarations import access
from apps.metrics import selectors
from apps.metrics.choices import RunStatus
from apps.metrics.forms import RunFilterForm
from apps.metrics.search.compiler import SearchError, search_count, search_runs
from apps.projects.selectors import project_list
from maestro.ui.charts import axis, chart, finite, xy_points
from maestro.ui.export import csv_response, wants_csv
from maestro.ui.forms import wants_partial

PER_PAGE = 50
CHART_POINTS = 1000
COMPARE_POINTS = 500
MAX_CHARTS = 6
MAX_COMPARED = 10
MAX_CHOOSABLE = 200  # runs listed to choose from when more than MAX_COMPARED were ticked
PARAM_COLUMNS = 4
METRIC_COLUMNS = 5
SORTABLE_ATTRIBUTES = {"start_time": "start_time", "name": "name", "status": "status"}
COUNT_LIMIT = 10_000  # the runs list counts matches up to this many ("more than 10,000" beyond)
CSV_LIMIT = 10_000  # runs in one CSV export (the page says so when there are more)
CSV_PAGE = 1000


def _quote(key: str) -> str:
    """A metric/param key inside a search expression (keys never contain backticks)."""
    return f"`{key}`"


def _order_by(sort: str) -> tuple[str, list[str]]:
    """``?sort=`` → (normalised sort parameter, search ``order_by``). ``metrics.<key>`` / ``params.<key>`` sort by
    that column, attributes by themselves; ``-`` means descending. The default is newest first."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    direction = "DESC" if descending else "ASC"
    for prefix in ("metrics.", "params."):
        if name.startswith(prefix) and len(name) > len(prefix):
            return sort, [f"{prefix}{_quote(name[len(prefix) :])} {direction}"]
    if name in SORTABLE_ATTRIBUTES:
        return sort, [f"{SORTABLE_ATTRIBUTES[name]} {direction}"]
    return "-start_time", ["start_time DESC"]


def _frequent(keys: Counter, limit: int, *, keep: str | None = None) -> list[str]:
    """The ``limit`` most common keys (alphabetical among equals), always including ``keep`` when present."""
    chosen = [key for key, _count in sorted(keys.items(), key=lambda item: (-item[1], item[0]))[:limit]]
    if keep and keep in keys and keep not in chosen:
        chosen = [*chosen[: limit - 1], keep]
    return sorted(chosen)


@access("runs")
@login_required
def run_list(request):
    """Runs the user may see. Filters (project, status, name) narrow the selector's queryset; the optional search
    expression and the column sort go through the run search compiler, which pages by keyset (``cursor``)."""
    form = RunFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    queryset = selectors.with_run_data(selectors.run_list(user=request.user).select_related("project"))
    project = None
    if data.get("project"):
        project = project_list(user=request.user).filter(pk=data["project"]).first()
        queryset = queryset.filter(project_id=project.pk if project else 0)
    if data.get("status"):
        queryset = queryset.filter(status=data["status"])
    if data.get("name"):
        queryset = queryset.filter(name__icontains=data["name"])
    sort, order_by = _order_by(request.GET.get("sort", ""))
    if wants_csv(request):
        return _runs_csv(queryset, data.get("q") or None, order_by)
    search_error = None
    total = None
    try:
        total = search_count(queryset, filter_text=data.get("q") or None, limit=COUNT_LIMIT)
        page = search_runs(
            queryset,
            filter_text=data.get("q") or None,
            order_by=order_by,
            max_results=PER_PAGE,
            page_token=request.GET.get("cursor") or None,
        )
    except SearchError as exc:
        search_error = exc
        page = None
    runs = selectors.run_data_from_query(page.runs) if page else []
    sort_key = sort.lstrip("-")
    params = Counter(key for run in runs for key in run.data.params)
    metrics = Counter(key for run in runs for key in run.data.metrics)
    next_query = None
    if page and page.next_page_token:
        query = request.GET.copy()
        query["cursor"] = page.next_page_token
        next_query = query.urlencode()
    first_query = None
    if request.GET.get("cursor"):
        query = request.GET.copy()
        query.pop("cursor")
        first_query = query.urlencode()
    metric_keys = _frequent(metrics, METRIC_COLUMNS, keep=sort_key.removeprefix("metrics."))
    overrides = best_overrides(request)
    best_runs = {}  # metric key → id of the run with the best value on this page
    for key in metric_keys:
        values = [run.data.metrics[key][0] if key in run.data.metrics else None for run in runs]
        index = best_index(values, best_direction(key, overrides))
        if index is not None:
            best_runs[key] = runs[index].pk
    context = {
        "form": form,
        "runs": runs,
        "project": project,
        "param_keys": _frequent(params, PARAM_COLUMNS, keep=sort_key.removeprefix("params.")),
        "metric_keys": metric_keys,
        "best_runs": best_runs,
        "sort": sort,
        "search_error": search_error,
        "total": total,
        "next_query": next_query,
        "first_query": first_query,
        "filtered": bool(data.get("q") or data.get("status") or data.get("name") or project),
        "statuses": RunStatus,
        "max_compared": MAX_COMPARED,
    }
    template = "metrics/_runs_results.html" if wants_partial(request) else "metrics/runs.html"
    return render(request, template, context)


def _runs_csv(queryset, filter_text: str | None, order_by: list[str]):
    """Every run the filters and search match (up to CSV_LIMIT), in the page's order: attributes, then one column
    per param and per metric (its latest value). A wrong search expression exports nothing but the header."""
    runs = []
    token = None
    try:
        while len(runs) < CSV_LIMIT:
            page = search_runs(
                queryset, filter_text=filter_text, order_by=order_by, max_results=CSV_PAGE, page_token=token
            )
            runs += selectors.run_data_from_query(page.runs)
            token = page.next_page_token
            if not token:
                break
    except SearchError:
        runs = []
    runs = runs[:CSV_LIMIT]
    params = sorted({key for run in runs for key in run.data.params})
    metrics = sorted({key for run in runs for key in run.data.metrics})
    header = ["id", "uuid", "name", "project_id", "project", "status", "start_time", "end_time", "created_by"]
    header += [f"params.{key}" for key in params] + [f"metrics.{key}" for key in metrics]
    rows = (
        [
            run.pk,
            run.uuid.hex,
            run.name,
            run.project_id,
            run.project.name,
            run.status,
            run.start_time,
            run.end_time,
            run.data.created_by,
        ]
        + [run.data.params.get(key) for key in params]
        + [run.data.metrics[key][0] if key in run.data.metrics else None for key in metrics]
        for run in runs
    )
    return csv_response("runs", header, rows)


def _series_chart(series_list, labels: list[str]) -> tuple[dict, dict]:
    """A zoomable line chart of one metric for one or more runs, and facts for its caption."""
    datasets = []
    total = shown = non_finite = 0
    for series, label in zip(series_list, labels, strict=True):
        points = xy_points(series.steps, series.values, series.timestamps)
        datasets.append({"label": label, "data": points, "spanGaps": False})
        total += series.total_points
        shown += len(series.steps)
        non_finite += sum(1 for value in series.values.tolist() if not math.isfinite(value))
    config = chart(
        "line",
        datasets=datasets,
        options={
            "parsing": False,
            "normalized": True,
            "interaction": {"mode": "nearest", "intersect": False},
            "scales": {"x": {"type": "linear", **axis("step")}, "y": axis("value")},
            "plugins": {"legend": {"display": len(datasets) > 1}},
        },
        zoom=True,
    )
    config["metricControls"] = True  # x axis by step / wall clock / relative time, log scale, smoothing (charts.js)
    return config, {"total": total, "shown": shown, "non_finite": non_finite}


def _chosen_keys(request, available: list[str]) -> list[str]:
    """Metric keys to chart: the ones asked for (``?key=…``) that exist, else the first few."""
    asked = [key for key in request.GET.getlist("key") if key in available]
    return (asked or available)[:MAX_CHARTS]


@access("runs")
@login_required
def run_detail(request, pk: int):
    run = selectors.run_get(user=request.user, run_id=pk)
    selectors.run_data_attach([run])
    keys = sorted(run.data.metrics)
    charts = []
    for index, key in enumerate(_chosen_keys(request, keys)):
        series = selectors.metric_history(user=request.user, run=run, key=key, max_points=CHART_POINTS)
        config, facts = _series_chart([series], [key])
        charts.append({"key": key, "id": f"metric-chart-{index}", "config": config, **facts})
    context = {
        "run": run,
        "project": run.project,
        "charts": charts,
        "metric_keys": keys,
        "charted": [item["key"] for item in charts],
        "duration": (run.end_time - run.start_time) if run.end_time else None,
    }
    return render(request, "metrics/run_detail.html", context)


# Metric names whose smaller values are better (matched as words of the key, e.g. val/loss, train_mae, wer).
# Laid out by hand, not by ruff: a word list reads better packed than one word per line.
LOWER_IS_BETTER = {
    "loss",
    "error",
    "err",
    "mae",
    "mse",
    "rmse",
    "mape",
    "perplexity",
    "ppl",
    "wer",
    "cer",
    "latency",
    "time",
    "duration",
    "cost",
    "fpr",
    "fnr",
    "brier",
    "logloss",
    "nll",
}


def best_direction(key: str, overrides: dict[str, str]) -> str:
    """ "min" or "max": what the lead chose for ``key`` (``?best=key:min``), else guessed from its name."""
    if key in overrides:
        return overrides[key]
    words = {word for word in re.split(r"[^a-z0-9]+", key.lower()) if word}
    return "min" if words & LOWER_IS_BETTER else "max"


def best_overrides(request) -> dict[str, str]:
    """``?best=val/loss:min&best=f1:max`` → {key: direction}; malformed entries are ignored."""
    found = {}
    for raw in request.GET.getlist("best"):
        key, _, direction = raw.rpartition(":")
        if key and direction in ("min", "max"):
            found[key] = direction
    return found


def best_index(values: list, direction: str) -> int | None:
    """Index of the best finite value (first of equals), or None when there is none."""
    candidates = [(value, i) for i, value in enumerate(values) if finite(value) is not None]
    if not candidates:
        return None
    sign = 1 if direction == "min" else -1
    return min(candidates, key=lambda item: (sign * item[0], item[1]))[1]


def _metric_row(key: str, runs, direction: str) -> dict:
    """One metric's latest value per run, each with its bar length relative to the row's largest magnitude (rows
    have their own scale: a loss and a step count never share an axis), and which run is best for it."""
    values = [run.data.metrics[key][0] if key in run.data.metrics else None for run in runs]
    magnitudes = [abs(value) for value in values if finite(value) is not None]
    largest = max(magnitudes, default=0.0)
    best = best_index(values, direction)
    cells = []
    for index, value in enumerate(values):
        share = abs(value) / largest * 100 if largest and finite(value) is not None else 0.0
        cells.append({"value": value, "bar": round(share, 1), "best": index == best})
    return {"key": key, "cells": cells, "direction": direction}


def _compare_ids(request) -> list[int]:
    ids = []
    for raw in request.GET.getlist("ids"):
        for part in raw.split(","):
            if part.strip().isdecimal():
                ids.append(int(part))
    return list(dict.fromkeys(ids))


@access("runs")
@login_required
def run_compare(request):
    """Several runs side by side: params (differences highlighted), latest metrics with bars scaled per metric, and one
    overlaid history chart per shared metric."""
    ids = _compare_ids(request)
    problem = None
    if len(ids) < 2:
        problem = "Select at least two runs to compare."
    elif len(ids) > MAX_CHOOSABLE:
        problem = f"Compare at most {MAX_COMPARED} runs at a time ({len(ids)} were selected)."
    runs = []
    if not problem:
        visible = selectors.run_list(user=request.user).select_related("project").filter(pk__in=ids)
        found = {run.pk: run for run in visible}
        missing = [run_id for run_id in ids if run_id not in found]
        if missing:
            problem = f"No such run: {', '.join(map(str, missing))}."
        else:
            runs = [found[run_id] for run_id in ids]
    if not problem and len(runs) > MAX_COMPARED:
        # the selection stays: the lead unticks some of them here instead of starting again (a page to act on: 200)
        context = {"choose": runs, "max_compared": MAX_COMPARED, "runs": []}
        context["problem"] = f"{len(runs)} runs are selected; compare at most {MAX_COMPARED} at a time."
        return render(request, "metrics/compare.html", context)
    if problem:
        return render(request, "metrics/compare.html", {"problem": problem, "runs": []}, status=400)
    selectors.run_data_attach(runs)
    labels = [f"{run} (#{run.pk})" for run in runs]
    param_keys = sorted({key for run in runs for key in run.data.params})
    param_rows = []
    for key in param_keys:
        values = [run.data.params.get(key) for run in runs]
        param_rows.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    metric_keys = sorted({key for run in runs for key in run.data.metrics})
    overrides = best_overrides(request)
    metric_rows = [_metric_row(key, runs, best_direction(key, overrides)) for key in metric_keys]
    for row in metric_rows:  # the link that flips which end is best, keeping the rest of the page's query
        query = request.GET.copy()
        kept = [raw for raw in query.getlist("best") if raw.rpartition(":")[0] != row["key"]]
        query.setlist("best", [*kept, f"{row['key']}:{'max' if row['direction'] == 'min' else 'min'}"])
        row["flip_query"] = query.urlencode()
    shared = [key for key in metric_keys if all(key in run.data.metrics for run in runs)]
    charts = []
    for index, key in enumerate(_chosen_keys(request, shared)):
        series = selectors.metric_history_many(user=request.user, run_ids=ids, key=key, max_points=COMPARE_POINTS)
        config, facts = _series_chart(series, labels)
        charts.append({"key": key, "id": f"compare-chart-{index}", "config": config, **facts})
    context = {
        "runs": runs,
        "labels": labels,
        "param_rows": param_rows,
        "metric_rows": metric_rows,
        "charts": charts,
        "shared_keys": shared,
        "charted": [item["key"] for item in charts],
        "ids_query": urlencode([("ids", run_id) for run_id in ids]),
    }
    return render(request, "metrics/compare.html", context)
