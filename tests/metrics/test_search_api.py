"""POST /api/v1/runs/search against real data: semantics of every operator, ordering, page tokens, errors,
SQL-injection strings as data, tenant isolation."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from apps.metrics import services
from apps.metrics.models import Run
from apps.metrics.validation import parse_log_batch
from tests.metrics.factories import ProjectFactory

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 5, 1, tzinfo=UTC)

# name: (status, day offset, metrics, params, tags)
RUNS = {
    "r1": ("finished", 0, {"accuracy": 0.91, "loss": 0.20}, {"optimizer": "adam", "lr": "0.001"}, {"team": "vision"}),
    "r2": ("finished", 1, {"accuracy": 0.85, "loss": 0.35}, {"optimizer": "sgd", "lr": "0.1"}, {"team": "vision-2"}),
    "r3": ("failed", 2, {"accuracy": math.nan, "loss": 9.0}, {"optimizer": "adam", "lr": "1e-4"}, {"team": "nlp"}),
    "r4": ("running", 3, {"loss": 0.5}, {"optimizer": "Adam W", "lr": "fast"}, {}),
    "r5": ("killed", 4, {"accuracy": 0.97, "loss": math.inf}, {"optimizer": "x'; DROP TABLE metrics_run; --"}, {}),
}


@pytest.fixture
def runs(tenant_a):
    """Five runs in two projects; returns {name: id}."""
    ids = {}
    with tenant_a.context():
        vision, other = ProjectFactory(slug="vision"), ProjectFactory(slug="other")
        for index, (name, (status, day, metrics, params, tags)) in enumerate(RUNS.items()):
            run = services.run_create(
                user=None,
                project=vision if index < 3 else other,
                name=name,
                status=status,
                start_time=BASE + timedelta(days=day),
                params=params,
                tags=tags,
            )
            batch = parse_log_batch(
                {"metrics": [{"key": k, "value": v, "step": 1, "timestamp": 1} for k, v in metrics.items()]}
            )
            services.run_log_batch(run=run, batch=batch)
            ids[name] = run.pk
    return ids


def search(api, filter_text=None, order_by=None, **extra):
    payload = {"filter": filter_text, **extra}
    if order_by is not None:
        payload["order_by"] = order_by
    response = api.post("/api/v1/runs/search", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def names(api, filter_text=None, order_by=None) -> list[str]:
    return [run["name"] for run in search(api, filter_text, order_by)["runs"]]


def matching(api, filter_text) -> set[str]:
    return set(names(api, filter_text))


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("metrics.accuracy > 0.9", {"r1", "r5"}),  # NaN never matches a comparison
        ("metrics.accuracy >= 0.85 AND metrics.accuracy < 0.95", {"r1", "r2"}),
        ("metrics.accuracy != 0.91", {"r2", "r5"}),  # runs without the metric, or NaN, do not match
        ("metrics.loss > 1", {"r3", "r5"}),  # Infinity compares as usual
        ("metrics.loss IN (0.2, 0.5)", {"r1", "r4"}),
        ("metrics.loss NOT IN (0.2, 0.5)", {"r2", "r3", "r5"}),
        ("metrics.accuracy IS NULL", {"r4"}),
        ("metrics.accuracy IS NOT NULL", {"r1", "r2", "r3", "r5"}),
        ("params.optimizer = 'adam'", {"r1", "r3"}),
        ("params.optimizer != 'adam'", {"r2", "r4", "r5"}),
        ("params.optimizer LIKE 'a%'", {"r1", "r3"}),
        ("params.optimizer ILIKE 'a%'", {"r1", "r3", "r4"}),
        ("params.optimizer NOT LIKE 'a%'", {"r2", "r4", "r5"}),
        ("params.optimizer IN ('sgd', 'Adam W')", {"r2", "r4"}),
        ("params.lr < 0.01", {"r1", "r3"}),  # numeric comparison; 'fast' is not a number
        ("params.lr = 0.1", {"r2"}),
        ("params.lr = '0.1'", {"r2"}),
        ("params.lr > 'a'", {"r4"}),  # string comparison with a string literal
        ("tags.team LIKE 'vision%'", {"r1", "r2"}),
        ("tags.team = 'nlp' OR tags.team IS NULL", {"r3", "r4", "r5"}),
        ("status = 'FINISHED'", {"r1", "r2"}),
        ("status IN ('failed', 'killed')", {"r3", "r5"}),
        ("status != 'finished'", {"r3", "r4", "r5"}),
        ("name LIKE 'r_'", {"r1", "r2", "r3", "r4", "r5"}),
        ("name NOT ILIKE 'R1'", {"r2", "r3", "r4", "r5"}),
        ("name > 'r3'", {"r4", "r5"}),
        ("start_time >= '2026-05-03'", {"r3", "r4", "r5"}),
        ("start_time <= 1777680000000", {"r1", "r2"}),  # 2026-05-02T00:00:00Z in ms, r2's start
        ("start_time < 1777680000000", {"r1"}),
        ("end_time IS NULL", {"r4"}),
        ("project = 'other'", {"r4", "r5"}),
        ("project != 'other'", {"r1", "r2", "r3"}),
        ("metrics.accuracy > 0.9 OR params.optimizer = 'sgd' AND status = 'finished'", {"r1", "r2", "r5"}),
        ("(metrics.accuracy > 0.9 OR params.optimizer = 'sgd') AND status = 'finished'", {"r1", "r2"}),
        ("NOT (params.optimizer = 'adam' OR status = 'killed')", {"r2", "r4"}),
        ("params.optimizer = 'x''; DROP TABLE metrics_run; --'", {"r5"}),
        ('params.`optimizer` = "adam"', {"r1", "r3"}),
        ("tags.`team` LIKE '%\\\\%'", set()),  # a literal backslash pattern matches nothing here
        ("", {"r1", "r2", "r3", "r4", "r5"}),
    ],
)
def test_filter_semantics(api_a, runs, filter_text, expected):
    assert matching(api_a, filter_text) == expected


def test_attribute_ids(api_a, runs, tenant_a):
    assert matching(api_a, f"id = {runs['r2']}") == {"r2"}
    assert matching(api_a, f"id IN ({runs['r1']}, {runs['r3']})") == {"r1", "r3"}
    with tenant_a.context():
        uuid = Run.objects.get(pk=runs["r4"]).uuid
    assert matching(api_a, f"run_id = '{uuid.hex}'") == {"r4"}
    project = api_a.get(f"/api/v1/runs/{runs['r1']}").json()["project"]
    assert matching(api_a, f"project = {project}") == {"r1", "r2", "r3"}


def test_injection_strings_are_data_and_tables_survive(api_a, runs, tenant_a):
    assert matching(api_a, "name = 'r1'' OR ''1''=''1'") == set()
    assert matching(api_a, "tags.`team'; DELETE FROM metrics_run; --` = 'x'") == set()
    assert matching(api_a, "name LIKE '%'' OR 1=1 --'") == set()
    with tenant_a.context():
        assert Run.objects.count() == 5


def test_order_by_metrics_params_and_attributes(api_a, runs):
    # Missing values and NaN go last in both directions.
    assert names(api_a, order_by=["metrics.accuracy DESC"]) == ["r5", "r1", "r2", "r4", "r3"]
    assert names(api_a, order_by=["metrics.accuracy ASC"]) == ["r2", "r1", "r5", "r4", "r3"]
    assert names(api_a, order_by=["metrics.loss DESC"]) == ["r5", "r3", "r4", "r2", "r1"]
    # Numeric-looking params first in numeric order, then the rest as strings; no param last.
    assert names(api_a, order_by=["params.lr ASC"]) == ["r3", "r1", "r2", "r4", "r5"]
    assert names(api_a, order_by=["status ASC", "start_time DESC"]) == ["r3", "r2", "r1", "r5", "r4"]
    assert names(api_a) == ["r5", "r4", "r3", "r2", "r1"]  # default: newest first
    assert names(api_a, "status = 'finished'", ["name DESC"]) == ["r2", "r1"]


def test_page_tokens_walk_every_result_exactly_once(api_a, runs):
    order_by = ["metrics.accuracy DESC", "start_time ASC"]
    seen, token, pages = [], None, 0
    while True:
        body = search(api_a, "name LIKE 'r%'", order_by, max_results=2, page_token=token)
        seen += [run["name"] for run in body["runs"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == 3
    assert seen == ["r5", "r1", "r2", "r3", "r4"]  # r3 (NaN) and r4 (none) tie last; start_time ASC decides
    # The same token gives the same page again (stable).
    first = search(api_a, "name LIKE 'r%'", order_by, max_results=2)
    again_a = search(api_a, "name LIKE 'r%'", order_by, max_results=2, page_token=first["next_page_token"])
    again_b = search(api_a, "name LIKE 'r%'", order_by, max_results=2, page_token=first["next_page_token"])
    assert again_a["runs"] == again_b["runs"]


def test_page_tokens_over_params_with_ties_and_nulls(api_a, runs):
    seen, token = [], None
    for _ in range(10):
        body = search(api_a, None, ["params.optimizer DESC"], max_results=1, page_token=token)
        seen += [run["name"] for run in body["runs"]]
        token = body["next_page_token"]
        if not token:
            break
    assert sorted(seen) == ["r1", "r2", "r3", "r4", "r5"] and len(seen) == 5


def test_page_token_must_belong_to_the_query(api_a, runs):
    token = search(api_a, "name LIKE 'r%'", max_results=1)["next_page_token"]
    response = api_a.post(
        "/api/v1/runs/search", {"filter": "name LIKE 'x%'", "page_token": token, "max_results": 1}, format="json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "page_token"
    for garbage in ["not-a-token", "eyJ2IjpbXX0", "e30", "!!!"]:
        response = api_a.post("/api/v1/runs/search", {"page_token": garbage}, format="json")
        assert response.status_code == 400, garbage
        assert response.json()["errors"][0]["field"] == "page_token"


def test_results_carry_params_tags_and_latest_metrics(api_a, runs):
    run = search(api_a, "name = 'r5'")["runs"][0]
    assert run["metrics"]["loss"] == {"value": "Infinity", "step": 1, "timestamp": 1}
    assert run["params"] == {"optimizer": "x'; DROP TABLE metrics_run; --"}
    run3 = search(api_a, "name = 'r3'")["runs"][0]
    assert run3["metrics"]["accuracy"]["value"] == "NaN" and run3["tags"] == {"team": "nlp"}


@pytest.mark.parametrize(
    ("payload", "field", "position", "fragment"),
    [
        ({"filter": "metrics.accuracy >"}, "filter", 18, "Expected a value"),
        ({"filter": "metrics.accuracy > 0.9 AND (status = 'finished'"}, "filter", 47, "')' to close"),
        ({"filter": "colour = 'red'"}, "filter", 0, "Unknown attribute 'colour'"),
        ({"filter": "metrics.loss LIKE 'a%'"}, "filter", 0, "LIKE does not apply to metrics"),
        ({"filter": "metrics.loss = 'low'"}, "filter", 15, "compare it with a number"),
        ({"filter": "status = 'exploded'"}, "filter", 9, "Unknown status"),
        ({"filter": "status > 'a'"}, "filter", 0, "does not apply to status"),
        ({"filter": "start_time > 'yesterday'"}, "filter", 13, "Expected a time"),
        ({"filter": "start_time > 99999999999999999"}, "filter", 13, "Time out of range"),
        ({"filter": "start_time IN (1, 2)"}, "filter", 0, "IN does not apply"),
        ({"filter": "name = 5"}, "filter", 7, "quote the value"),
        ({"filter": "id = 'x'"}, "filter", 5, "integer"),
        ({"filter": "run_id = 'zz'"}, "filter", 9, "uuid"),
        ({"filter": "project > 1"}, "filter", 0, "does not apply to project"),
        ({"filter": "name IS NULL"}, "filter", 0, "IS NULL applies to end_time"),
        ({"filter": "params.lr IN (1, 'a')"}, "filter", 0, "Mix of numbers and strings"),
        ({"filter": "id = 99999999999999999999"}, "filter", 5, "int64"),
        ({"filter": "tags.team ILIKE '%\\\\'"}, "filter", 16, "must not end with the escape character"),
        ({"filter": "name LIKE 'r\\\\'"}, "filter", 10, "must not end with the escape character"),
        ({"filter": "start_time > '9999-12-31T23:59:59-23:59'"}, "filter", 13, "Time out of range"),
        ({"order_by": ["metrics.acc SIDEWAYS"]}, "order_by[0]", 12, "ASC, DESC"),
        ({"order_by": ["start_time", "colour"]}, "order_by[1]", 0, "Unknown attribute"),
    ],
)
def test_errors_are_400_with_field_and_position(api_a, runs, payload, field, position, fragment):
    response = api_a.post("/api/v1/runs/search", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert error["position"] == position, error
    assert fragment in error["message"], error
    assert f"(at position {position})" in response.json()["detail"]


def test_request_shape_limits(api_a, runs):
    def field_of(payload):
        response = api_a.post("/api/v1/runs/search", payload, format="json")
        assert response.status_code == 400
        return response.json()["errors"][0]

    assert field_of({"max_results": 1001})["field"] == "max_results"
    assert field_of({"max_results": 0})["field"] == "max_results"
    assert field_of({"order_by": ["a", "b", "c", "d", "e", "f"]})["field"] == "order_by"
    assert field_of({"order_by": "start_time"})["field"] == "order_by"
    too_complex = field_of({"filter": " OR ".join(f"id = {i}" for i in range(60))})
    assert too_complex["field"] == "filter" and too_complex["code"] == "too_complex"
    assert field_of({"filter": "x" * 5000})["code"] == "too_complex"


def test_search_never_shows_another_tenants_runs(api_a, api_b, runs, project_b):
    assert search(api_b)["runs"] == []
    assert search(api_b, "params.optimizer = 'adam'")["runs"] == []
    assert search(api_b, f"id = {runs['r1']}")["runs"] == []
    own = api_b.post("/api/v1/runs", {"project": project_b.pk, "name": "r1"}, format="json").json()
    assert [run["id"] for run in search(api_b, "name = 'r1'")["runs"]] == [own["id"]]
    assert [run["id"] for run in search(api_a, "name = 'r1'")["runs"]] == [runs["r1"]]


def test_like_wildcards_and_escaped_percent(api_a, tenant_a, project_a):
    with tenant_a.context():
        for name, value in [("pct", "50%"), ("five-hundred", "500"), ("under", "5_0")]:
            services.run_create(user=None, project=project_a, name=name, tags={"share": value})
    assert matching(api_a, "tags.share LIKE '50%'") == {"pct", "five-hundred"}
    assert matching(api_a, "tags.share LIKE '50\\\\%'") == {"pct"}
    assert matching(api_a, "tags.share LIKE '5_0'") == {"five-hundred", "under"}
    assert matching(api_a, "tags.share NOT LIKE '5\\\\_0'") == {"pct", "five-hundred"}


def test_like_pattern_ending_in_the_escape_character_is_a_400_not_a_database_error(api_a, runs):
    """PostgreSQL refuses such a pattern only once a row reaches it (r1-r3 carry the tag): the parser refuses it
    first, for every row set, and an escaped backslash at the end stays a valid pattern."""
    for pattern in ("'%\\\\'", "'vision\\\\'", "'%\\\\\\\\\\\\'"):
        response = api_a.post("/api/v1/runs/search", {"filter": f"tags.team LIKE {pattern}"}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0] | {"message": ""} == {
            "field": "filter", "code": "invalid_pattern", "message": "", "position": 15
        }  # fmt: skip
    assert matching(api_a, "tags.team LIKE '%\\\\\\\\'") == set()  # ends in a literal backslash: none does


def test_times_with_offsets_postgresql_refuses_are_compared_in_utc(api_a, runs):
    # 2026-05-02T16:30+16:30 is 2026-05-02T00:00Z: only r1 started before it (r2 started at that very instant).
    assert matching(api_a, "start_time < '2026-05-02T16:30:00+16:30'") == {"r1"}
    assert matching(api_a, "start_time >= '2026-05-04T23:59:00+23:59'") == {"r4", "r5"}
