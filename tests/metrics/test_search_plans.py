"""The search's plans give the general plan's results: the index-ordered plan for searches ordered by a metric
(values, missing values and NaN, ties across pages, page tokens from either plan), and string equality through the
hash index on values of thousands of characters."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.metrics.models import LatestMetric, Run, RunParam, RunTag
from apps.metrics.search.compiler import search_runs
from tests.metrics.factories import ProjectFactory

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 5, 1, tzinfo=UTC)
RUNS = 120
# Equal up to the last of 3,000 characters (a filter is at most 4,000 characters long).
LONG_A = "v" * 2999 + "a"
LONG_B = "v" * 2999 + "b"
OPTIMIZERS = ["adam", "sgd", LONG_A, LONG_B]


def accuracy_of(i: int) -> float | None:
    """Few distinct values (many ties), and some runs without one, NaN, +Infinity and -Infinity."""
    kind = i % 11
    if kind == 0:
        return None
    if kind == 1:
        return math.nan
    if kind == 2:
        return math.inf if i % 2 else -math.inf
    return (i * 7 % 5) / 4


def loss_of(i: int) -> float | None:
    return None if i % 7 == 0 else (i * 13 % 29) / 10


@pytest.fixture
def generated(tenant_a):
    """120 runs over two projects (every 23rd deleted): metrics with ties, gaps, NaN and ±Infinity; params with
    values of 3,000 and 6,000 characters; tags up to 8,000. Returns {run id: index}."""
    with tenant_a.context():
        projects = [ProjectFactory(), ProjectFactory()]
        runs = Run.objects.bulk_create(
            [
                Run(
                    project=projects[i % 2],
                    name=f"g{i:03d}",
                    status=["finished", "failed", "running"][i % 3],
                    start_time=BASE + timedelta(hours=i % 17),
                    lifecycle_stage="deleted" if i % 23 == 5 else "active",
                )
                for i in range(RUNS)
            ]
        )
        params, tags, latest = [], [], []
        for i, run in enumerate(runs):
            params += [
                RunParam(run=run, key="optimizer", value=OPTIMIZERS[i % 4]),
                RunParam(run=run, key="lr", value=str(10.0 ** -(i % 4))),
                RunParam(run=run, key="notes", value=f"{i:04d}" + "n" * 5996),  # the longest value MLflow keeps
            ]
            tags += [
                RunTag(run=run, key="team", value=f"team-{i % 3}"),
                RunTag(run=run, key="description", value=f"{i:04d}" + "d" * 7996),
            ]
            for key, value in (("accuracy", accuracy_of(i)), ("loss", loss_of(i))):
                if value is not None:
                    latest.append(LatestMetric(run=run, key=key, value=value, step=1, timestamp=1))
        RunParam.objects.bulk_create(params)
        RunTag.objects.bulk_create(tags)
        LatestMetric.objects.bulk_create(latest)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE metrics_run, metrics_runparam, metrics_runtag, metrics_latestmetric")
        return {run.pk: i for i, run in enumerate(runs)}


def walk(filter_text: str, order_by: list[str], *, index_ordered: bool, page: int = 9) -> tuple[list[int], list]:
    """Every page of a search: the run ids in order and the page tokens."""
    ids, tokens, token = [], [], None
    while True:
        result = search_runs(
            Run.objects.filter(lifecycle_stage="active"),
            filter_text=filter_text,
            order_by=order_by,
            max_results=page,
            page_token=token,
            index_ordered=index_ordered,
        )
        ids += [run.pk for run in result.runs]
        token = result.next_page_token
        tokens.append(token)
        if token is None:
            return ids, tokens


FILTERS = [
    "",
    "metrics.accuracy > 0.3",
    "metrics.accuracy >= 0.25 and params.optimizer = 'adam'",
    f"params.optimizer = '{LONG_B}'",
    f"params.optimizer IN ('sgd', '{LONG_A}') and metrics.accuracy < 1",
    "metrics.accuracy IS NULL",
    "metrics.accuracy IS NOT NULL and tags.team = 'team-1'",
    "metrics.accuracy != 0.5 and metrics.accuracy <= 1",
    "metrics.accuracy IN (0.25, 0.75) or metrics.loss < 1",
    "metrics.loss < 2 and metrics.accuracy < 1 and metrics.accuracy > 0",
    "not metrics.accuracy > 0.5",
    "metrics.accuracy > 0.3 or params.lr = '0.1'",
    "metrics.accuracy NOT IN (0.0, 0.5) and status != 'running'",
]
ORDERS = [
    ["metrics.accuracy DESC"],
    ["metrics.accuracy ASC"],
    ["metrics.accuracy DESC", "start_time ASC"],
    ["metrics.loss ASC", "metrics.accuracy DESC"],
]


@pytest.mark.parametrize("order_by", ORDERS, ids=lambda order: ",".join(order))
def test_metric_ordered_plan_returns_the_general_plans_pages(tenant_a, generated, order_by):
    with tenant_a.context():
        for filter_text in FILTERS:
            fast_ids, fast_tokens = walk(filter_text, order_by, index_ordered=True)
            general_ids, general_tokens = walk(filter_text, order_by, index_ordered=False)
            assert fast_ids == general_ids, filter_text[:80]
            assert fast_tokens == general_tokens, filter_text[:80]
            assert len(set(fast_ids)) == len(fast_ids)
            everything = search_runs(
                Run.objects.filter(lifecycle_stage="active"),
                filter_text=filter_text,
                order_by=order_by,
                max_results=1000,
                page_token=None,
                index_ordered=False,
            )
            assert fast_ids == [run.pk for run in everything.runs], filter_text[:80]


def test_order_by_metric_puts_ties_in_id_order_and_missing_values_last_across_pages(tenant_a, generated):
    """An independent oracle: the expected order computed in Python from the generated values."""
    active = {pk: i for pk, i in generated.items() if i % 23 != 5}

    def value(pk):
        accuracy = accuracy_of(active[pk])
        return None if accuracy is None or math.isnan(accuracy) else accuracy

    with_value = [pk for pk in active if value(pk) is not None]
    without = sorted((pk for pk in active if value(pk) is None), reverse=True)
    descending = sorted(with_value, key=lambda pk: (-value(pk), -pk)) + without
    ascending = sorted(with_value, key=lambda pk: (value(pk), -pk)) + without
    with tenant_a.context():
        for page in (1, 4, 13):
            assert walk("", ["metrics.accuracy DESC"], index_ordered=True, page=page)[0] == descending
            assert walk("", ["metrics.accuracy ASC"], index_ordered=True, page=page)[0] == ascending
    assert len(with_value) > 2 * 5  # ties: five distinct finite values among them
    assert value(descending[0]) == math.inf
    assert value(ascending[0]) == -math.inf


def test_token_of_one_plan_continues_in_the_other(tenant_a, generated):
    order_by = ["metrics.accuracy DESC"]
    with tenant_a.context():
        expected, _ = walk("metrics.loss < 2", order_by, index_ordered=False, page=1000)
        first = search_runs(
            Run.objects.filter(lifecycle_stage="active"),
            filter_text="metrics.loss < 2",
            order_by=order_by,
            max_results=30,
            page_token=None,
            index_ordered=True,
        )
        rest = search_runs(
            Run.objects.filter(lifecycle_stage="active"),
            filter_text="metrics.loss < 2",
            order_by=order_by,
            max_results=1000,
            page_token=first.next_page_token,
            index_ordered=False,
        )
    assert [run.pk for run in first.runs + rest.runs] == expected


def test_string_equality_matches_long_values_exactly(tenant_a, tenant_b, generated):
    by_index = {i: pk for pk, i in generated.items()}
    with tenant_a.context():
        ids, _ = walk(f"params.optimizer = '{LONG_B}'", ["start_time DESC"], index_ordered=True, page=1000)
        expected = {by_index[i] for i in range(RUNS) if i % 4 == 3 and i % 23 != 5}
        assert set(ids) == expected and len(ids) == len(expected)
        # A value that shares all but its last character with stored ones matches none of them.
        assert walk(f"params.optimizer = '{'v' * 2999}c'", [], index_ordered=True, page=1000)[0] == []
        assert walk(f"params.optimizer = '{'v' * 2999}'", [], index_ordered=True, page=1000)[0] == []
        ids, _ = walk(f"tags.team IN ('team-2', '{LONG_A}')", ["name ASC"], index_ordered=True, page=1000)
        assert ids == sorted(
            (by_index[i] for i in range(RUNS) if i % 3 == 2 and i % 23 != 5), key=lambda pk: generated[pk]
        )
        # != keeps its meaning (runs that have the key with another value).
        ids, _ = walk(f"params.optimizer != '{LONG_B}'", [], index_ordered=True, page=1000)
        assert {generated[pk] % 4 for pk in ids} == {0, 1, 2}
    with tenant_b.context():
        assert walk(f"params.optimizer = '{LONG_B}'", [], index_ordered=True, page=1000)[0] == []
        assert walk("", ["metrics.accuracy DESC"], index_ordered=True, page=1000)[0] == []


def test_string_equality_and_metric_order_use_their_indexes(tenant_a, generated):
    """The plans the search is built for, on this small table with sequential scans priced out: equality through
    the hash index on param values and the ordered walk of (key, value) on latest metrics, stopping after a page."""
    with tenant_a.context(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        queries = []
        for filter_text, order_by in (
            (f"params.optimizer = '{LONG_B}'", ["start_time DESC"]),
            ("metrics.accuracy > 0.3", ["metrics.accuracy DESC"]),
        ):
            with CaptureQueriesContext(connection) as captured:
                search_runs(
                    Run.objects.filter(lifecycle_stage="active"),
                    filter_text=filter_text,
                    order_by=order_by,
                    max_results=5,
                    page_token=None,
                )
            queries.append(next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")))
        plans = []
        for sql in queries:
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert "Index Scan using run_param_value_hash_idx" in plans[0]
    assert "Index Scan Backward using latest_metric_key_value_idx" in plans[1]
    assert "Limit" in plans[1]
