"""Arbitrary requests to every MLflow endpoint (tracking, logged models, datasets, the model registry): never a
server error, every refusal in MLflow's error shape, and the database transaction still usable afterwards.

The MLflow API is not in ``/api/schema/`` (MLflow documents it), so schemathesis does not reach it; this property
test does. The endpoints are enumerated from ``apps.mlflow_api.api.urls.ENDPOINTS`` (with the HTTP methods each view
serves), so an endpoint added there is covered without editing this file. Each request is built by hypothesis from
MLflow's field names with hostile values (NUL bytes, lone surrogates, huge integers, NaN, 10 kB strings, injection
strings, wrong types, nested garbage) — sometimes naming objects that exist (an experiment, a run, a logged model, a
registered model and its version), so the requests reach the services and not only the validation.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.mlflow_api.api.urls import ENDPOINTS
from tests.mlflow_api.conftest import Mlflow, admin_token
from tests.reliability.test_input_serializers import HOSTILE_TEXT, HUGE_INTEGERS, json_values

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "patch", "delete")
FIELDS = [
    "name", "new_name", "version", "alias", "source", "run_id", "run_uuid", "model_id", "experiment_id",
    "experiment_ids", "experiment_name", "description", "tags", "key", "value", "stage", "stages",
    "archive_existing_versions", "filter", "max_results", "order_by", "page_token", "datasets", "models",
    "model_json", "status", "params", "metrics", "source_run_id", "model_type", "run_link", "allow_deleted",
    "artifact_directory_path", "metric_key", "run_ids", "start_step", "end_step", "view_type", "run_view_type",
    "timestamp", "step", "start_time", "end_time", "run_name", "artifact_location",
]  # fmt: skip


def _routes() -> list[tuple[str, str, type]]:
    found = []
    for path, view, _name in ENDPOINTS:
        for method in METHODS:
            if hasattr(view, method):
                found.append((path, method, view))
    return found


ROUTES = _routes()


@pytest.fixture
def world(tenant_a):
    """Objects the generated requests may name: an experiment, a run, a logged model, a registered model."""
    mlflow = Mlflow(tenant_a, admin_token(tenant_a))
    exp = mlflow.experiment("fuzz-exp")
    run_id = mlflow.run(exp)["info"]["run_id"]
    model_id = mlflow.ok("post", "logged-models", {"experiment_id": exp, "source_run_id": run_id})["model"]["info"][
        "model_id"
    ]
    mlflow.ok("post", "registered-models/create", {"name": "fuzz-model"})
    mlflow.ok("post", "model-versions/create", {"name": "fuzz-model", "source": f"models:/{model_id}",
                                                "model_id": model_id})  # fmt: skip
    return mlflow, {"experiment_id": exp, "run_id": run_id, "model_id": model_id, "name": "fuzz-model"}


def _values(known: dict):
    real = st.sampled_from([*known.values(), "1", "champion", "Production", f"models:/{known['model_id']}"])
    key_values = st.lists(st.fixed_dictionaries({}, optional={"key": real | json_values, "value": json_values}),
                          max_size=3)  # fmt: skip
    datasets = st.lists(
        st.fixed_dictionaries({}, optional={"dataset": st.dictionaries(
            st.sampled_from(["name", "digest", "source_type", "source", "schema", "profile"]), json_values,
            max_size=6), "tags": key_values}),
        max_size=2,
    )  # fmt: skip
    models = st.lists(st.fixed_dictionaries({}, optional={"model_id": real | json_values, "step": json_values}),
                      max_size=2)  # fmt: skip
    order = st.lists(st.fixed_dictionaries({}, optional={"field_name": real | json_values, "ascending": json_values}),
                     max_size=2)  # fmt: skip
    return st.one_of(real, real, json_values, st.sampled_from(HOSTILE_TEXT), st.sampled_from(HUGE_INTEGERS),
                     key_values, datasets, models, order)  # fmt: skip


def _request(known: dict):
    return st.tuples(
        st.fixed_dictionaries({}, optional={name: _values(known) for name in FIELDS}) | json_values,
        st.sampled_from([*known.values(), "m-" + "0" * 32]) | st.text(min_size=1, max_size=40),
    )


def _sendable(text: str) -> str:
    return text.encode("utf-8", "replace").decode()


def _url(path: str, path_value: str) -> str:
    return re.sub(r"\(\?P<\w+>[^)]*\)", quote(_sendable(path_value), safe="") or "x", path)


@pytest.mark.parametrize(("path", "method", "view"), ROUTES, ids=[f"{m.upper()} {p}" for p, m, _ in ROUTES])
def test_mlflow_endpoint_answers_arbitrary_requests_without_server_errors(world, path, method, view):
    mlflow, known = world

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_request(known))
    def check(request):
        body, path_value = request
        url = _url(path, path_value)
        if method == "get":
            query = {k: v if isinstance(v, str) else str(v) for k, v in body.items()} if isinstance(body, dict) else {}
            # what a query string can carry: %00 decodes to NUL (kept), lone surrogates cannot be sent at all
            query = {_sendable(k): _sendable(v) for k, v in query.items()}
            response = mlflow.get(url, query)
        else:  # json.dumps writes NaN/Infinity literals and \u escapes of lone surrogates, as clients may
            payload = json.dumps(body)
            response = mlflow.api.generic(method.upper(), "/api/2.0/mlflow/" + url, payload, "application/json")
        assert response.status_code < 500, (method, url, body, response.content[:500])
        if response.status_code >= 400:
            answer = response.json()
            assert answer["error_code"] and answer["message"], answer
        with connection.cursor() as cursor:  # the transaction is still usable: nothing was refused by PostgreSQL
            cursor.execute("SELECT 1")

    check()
