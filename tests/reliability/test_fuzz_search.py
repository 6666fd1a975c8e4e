"""Property tests: filters and ``order_by`` lists written from the search grammar (``tests/support/search_filters.py``)
go through every entry point that compiles the grammar — ``POST /api/v1/runs/search``, MLflow's ``runs/search`` and
``experiments/search``, the dashboard's run table (``/runs/?q=…&sort=…``) — against real PostgreSQL holding rows
with the keys the filters name (a LIKE pattern is only checked by PostgreSQL once a row reaches it).

Pass: never a 5xx or an exception; a 400 is in the entry point's error shape and names the field (the native API's
``errors[].field`` is ``filter`` or ``order_by…``; MLflow's body is ``INVALID_PARAMETER_VALUE`` with a message); the
dashboard answers its page (a bad expression is shown on it) or, for text no query string may carry (NUL, invalid
UTF-8), the 400 of ``RequestTextGuardMiddleware``. Each request runs in a savepoint, so an error PostgreSQL raises
fails that example only, and Hypothesis shrinks it to a minimal filter.

The examples are derandomized (the same ones on every run, as CI needs); ``FUZZ_SEED`` and ``FUZZ_SCALE`` make a
longer random run (``tests/support/property.py``).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from hypothesis import example, given
from hypothesis import strategies as st

from apps.accounts.services import token_create
from apps.metrics import services as run_services
from apps.metrics.validation import parse_log_batch
from apps.mlflow_api import services as mlflow_services
from tests.dashboard.helpers import signed_in
from tests.metrics.factories import ProjectFactory
from tests.support.property import fuzz, in_savepoint
from tests.support.search_filters import KEYS, experiment_filters, experiment_order_by, run_filters, run_order_by

pytestmark = pytest.mark.django_db

EXAMPLES = 80  # per entry point
MLFLOW_ERROR_KEYS = {"error_code", "message", "sqlstate", "error_class"}
# The filter of the report that started these tests (a pattern ending in the LIKE escape character), always tried.
ISSUE_RUN_FILTER = "tags.source ILIKE '%\\\\'"


# Values stored under the generated keys: wildcards, backslashes, quotes, numbers as text, unicode.
TEXT_VALUES = ("a%b", "x\\", "\\\\", "50%", "under_score", "it's", 'say "hi"', "0.01", "1e-3", "-7", "adam", "é😀")


@pytest.fixture
def search_data(tenant_a):
    """Projects (experiments) with names and experiment tags full of LIKE characters, and runs in them with every
    stored key (metrics incl. NaN and ±Infinity, params, tags), ended and running, created by the admin."""
    with tenant_a.context():
        admin = get_user_model().objects.get(username=tenant_a.admin_username)
        projects = [ProjectFactory(name=name) for name in ("exp%\\one", "exp_two\\\\", "Ünïcode 😀", "plain")]
        for index, project in enumerate(projects):
            for key in KEYS["tag"]:
                value = TEXT_VALUES[(index + len(key)) % len(TEXT_VALUES)]
                mlflow_services.experiment_set_tag(user=admin, project=project, key=key, value=value)
        base = datetime(2026, 1, 1, tzinfo=UTC)
        metric_values = (0.5, math.nan, math.inf, -math.inf, 1e308, -0.0, 3)
        for index in range(8):
            project = projects[index % len(projects)]
            finished = index % 2 == 0
            run = run_services.run_create(
                user=admin,
                project=project,
                name=TEXT_VALUES[index % len(TEXT_VALUES)] + f"-{index}",
                status="finished" if finished else "running",
                start_time=base + timedelta(days=index),
                end_time=base + timedelta(days=index, hours=1) if finished else None,
                params={key: TEXT_VALUES[(index + n) % len(TEXT_VALUES)] for n, key in enumerate(KEYS["param"])},
                tags={key: TEXT_VALUES[(index + 2 * n) % len(TEXT_VALUES)] for n, key in enumerate(KEYS["tag"])},
            )
            metrics = [
                {"key": key, "value": metric_values[(index + n) % len(metric_values)], "step": 1, "timestamp": 1}
                for n, key in enumerate(KEYS["metric"])
            ]
            run_services.run_log_batch(run=run, batch=parse_log_batch({"metrics": metrics}))
        token = token_create(user=admin, name="search-fuzz").plaintext
    return {"token": token, "experiment_ids": [str(project.pk) for project in projects]}


def _json_post(client, path: str, body: dict):
    # json.dumps writes lone surrogates as \u escapes, as a client's JSON would carry them.
    return in_savepoint(lambda: client.post(path, json.dumps(body), content_type="application/json"))


def _native_error_names_a_field(response) -> None:
    body = response.json()
    assert response.status_code == 400, body
    assert set(body) == {"status", "code", "detail", "errors"} and body["status"] == 400, body
    fields = [error.get("field") or "" for error in body["errors"]]
    assert fields and all(field == "filter" or field.startswith("order_by") for field in fields), body
    assert all(error["message"] for error in body["errors"]), body


def _mlflow_error(response) -> None:
    body = response.json()
    assert response.status_code == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and set(body) <= MLFLOW_ERROR_KEYS, body
    assert isinstance(body["message"], str) and body["message"], body


def test_native_run_search_answers_every_generated_filter_without_a_server_error(tenant_a, search_data):
    client = tenant_a.api(search_data["token"])

    @fuzz(EXAMPLES)
    @given(filter_text=run_filters, order_by=run_order_by)
    @example(filter_text=ISSUE_RUN_FILTER, order_by=[])
    def check(filter_text, order_by):
        response = _json_post(client, "/api/v1/runs/search", {"filter": filter_text, "order_by": order_by})
        if response.status_code != 200:
            _native_error_names_a_field(response)

    check()


def test_mlflow_run_search_answers_every_generated_filter_without_a_server_error(tenant_a, search_data):
    client = tenant_a.api(search_data["token"])

    @fuzz(EXAMPLES)
    @given(filter_text=run_filters, order_by=run_order_by, view_type=st.sampled_from(("ACTIVE_ONLY", "ALL")))
    @example(filter_text=ISSUE_RUN_FILTER, order_by=[], view_type="ACTIVE_ONLY")
    def check(filter_text, order_by, view_type):
        body = {"experiment_ids": search_data["experiment_ids"], "filter": filter_text, "order_by": order_by,
                "run_view_type": view_type}  # fmt: skip
        for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"):
            response = _json_post(client, prefix + "runs/search", body)
            if response.status_code != 200:
                _mlflow_error(response)
                message = response.json()["message"]
                named = ("parameter 'filter'", "parameter 'order_by", "filter: ", "order_by[")  # search / body parser
                assert any(name in message for name in named), message

    check()


def test_mlflow_experiment_search_answers_every_generated_filter_without_a_server_error(tenant_a, search_data):
    client = tenant_a.api(search_data["token"])

    @fuzz(EXAMPLES)
    @given(filter_text=experiment_filters, order_by=experiment_order_by)
    @example(filter_text="name ILIKE '%\\\\'", order_by=[])
    def check(filter_text, order_by):
        body = {"filter": filter_text, "order_by": order_by, "view_type": "ALL"}
        response = _json_post(client, "/api/2.0/mlflow/experiments/search", body)
        if response.status_code != 200:
            _mlflow_error(response)

    check()


def _unsendable_in_a_query(text: str) -> bool:
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def test_dashboard_run_table_answers_every_generated_search_without_a_server_error(tenant_a, search_data):
    client = signed_in(tenant_a).client
    sorts = st.one_of(
        st.sampled_from(("", "name", "-start_time", "status")),
        st.tuples(st.sampled_from(("", "-")), st.sampled_from(("metrics.", "params.")), st.sampled_from(
            (*KEYS["metric"], *KEYS["param"], "a`b", "\\", "%"))).map("".join),
    )  # fmt: skip

    @fuzz(EXAMPLES)
    @given(filter_text=run_filters, sort=sorts)
    @example(filter_text=ISSUE_RUN_FILTER, sort="")
    def check(filter_text, sort):
        # Percent-encoded UTF-8 as a browser sends it (lone surrogates as the bytes a broken client would send).
        query = "q=" + quote(filter_text.encode("utf-8", "surrogatepass")) + "&sort=" + quote(sort)
        response = in_savepoint(lambda: client.get(f"/runs/?{query}"))
        if _unsendable_in_a_query(filter_text):
            assert response.status_code == 400, response.content[:300]
            return
        assert response.status_code == 200, response.content[:300]
        html = response.content.decode()
        shown = ('data-testid="run-table"', "The search expression has a problem:", '<p class="empty">')
        assert any(marker in html for marker in shown), html[:2000]

    check()


# Sort orders covering every kind of cursor value a page token carries (time, string, float, int, uuid).
TOKEN_ORDERS = (["start_time DESC"], ["name ASC", "status DESC"], ["metrics.loss DESC"], ["params.lr ASC"],
                ["id ASC"], ["run_id DESC"], ["end_time ASC", "project DESC"])  # fmt: skip
CURSOR_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8),
    st.sampled_from(("\x00", "a\x00", "\ud800", "Infinity", "-Infinity", "NaN", "2026-01-01T00:00:00+16:30",
                     "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+05:00", "0" * 32, "not-a-uuid", "")),
    st.sampled_from((math.inf, -math.inf, math.nan, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 0, -1, 1.5)),
)  # fmt: skip


def _token_payload(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_forged_page_tokens_answer_a_page_or_a_400_on_page_token(tenant_a, search_data):
    """Page tokens are opaque but not signed: a client can send back any cursor values. Each order's real token is
    taken from a first page, and its values (and last id) replaced with arbitrary JSON; experiment search gets
    MLflow's offset token with an arbitrary offset."""
    client = tenant_a.api(search_data["token"])
    real = {}
    for order_by in TOKEN_ORDERS:
        first = _json_post(client, "/api/v1/runs/search", {"order_by": order_by, "max_results": 1})
        real[tuple(order_by)] = _token_payload(first.json()["next_page_token"])

    @fuzz(EXAMPLES)
    @given(order_by=st.sampled_from(TOKEN_ORDERS), data=st.data())
    def check(order_by, data):
        payload = dict(real[tuple(order_by)])
        size = len(payload["v"])
        payload["v"] = data.draw(st.lists(CURSOR_VALUES, min_size=size, max_size=size) | st.lists(CURSOR_VALUES))
        payload["id"] = data.draw(st.one_of(st.just(payload["id"]), CURSOR_VALUES))
        body = {"order_by": order_by, "max_results": 2, "page_token": _token(payload)}
        response = _json_post(client, "/api/v1/runs/search", body)
        if response.status_code != 200:
            assert response.json()["errors"][0]["field"] == "page_token", response.json()
        mlflow = _json_post(
            client, "/api/2.0/mlflow/runs/search", {**body, "experiment_ids": search_data["experiment_ids"]}
        )
        if mlflow.status_code != 200:
            _mlflow_error(mlflow)
            assert "'page_token'" in mlflow.json()["message"], mlflow.json()
        # Experiments page with MLflow's offset tokens.
        offset = base64.b64encode(json.dumps({"offset": data.draw(CURSOR_VALUES)}).encode()).decode()
        experiments = _json_post(client, "/api/2.0/mlflow/experiments/search", {"page_token": offset})
        if experiments.status_code != 200:
            _mlflow_error(experiments)
            assert "page token" in experiments.json()["message"], experiments.json()

    check()
