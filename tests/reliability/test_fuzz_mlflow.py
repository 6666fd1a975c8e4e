"""Property test: every MLflow endpoint (``apps.mlflow_api.api.urls.ENDPOINTS``, each method it serves) receives
Hypothesis-generated requests — JSON bodies for POST, query strings for GET — against real PostgreSQL. Most start
from a request the endpoint accepts (checked first) with one to three fields replaced by real ids of the tenant,
hostile values (NUL, lone surrogates, huge and non-finite numbers, forged page tokens, 10 kB strings, wrong types)
or arbitrary JSON, so a hostile value reaches the code that reads its field; the rest are any object of MLflow's
field names, or any JSON.

MLflow's views have no OpenAPI schema, so the schemathesis run (``test_fuzz_api.py``) never reaches them; this
holds them to the same rule. Pass: never a 5xx or an exception, and every error in MLflow's shape
(``{"error_code", "message"}``) with a status MLflow uses. Each request runs in a savepoint (writes are allowed and
rolled back). Derandomized; ``FUZZ_SEED`` and ``FUZZ_SCALE`` make a longer random run (``tests/support/property.py``).
"""

from __future__ import annotations

import base64
import json
import math
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import strategies as st

from apps.accounts.services import token_create
from apps.mlflow_api.api.urls import ENDPOINTS
from tests.mlflow_api.conftest import Mlflow
from tests.support.property import fuzz, in_savepoint

pytestmark = pytest.mark.django_db

EXAMPLES = 20  # per endpoint and method
FIELDS = (
    "experiment_id", "experiment_ids", "experiment_name", "name", "new_name", "artifact_location", "tags", "key",
    "value", "run_id", "run_uuid", "run_ids", "run_name", "start_time", "end_time", "status", "metrics", "params",
    "timestamp", "step", "metric_key", "max_results", "page_token", "filter", "order_by", "view_type",
    "run_view_type", "start_step", "end_step", "model_id", "dataset_name",
)  # fmt: skip
HOSTILE = (
    "", " ", "\x00", "a\x00b", "\ud800", "NaN", "Infinity", "-Infinity", "1e400", "-0", "9" * 40, "x" * 10_000,
    "' OR 1=1 --", "../../etc/passwd", "😀", "FINISHED", "RUNNING", "ACTIVE_ONLY", "ALL", "0", "-1",
    "eyJvZmZzZXQiOiAxZTQwMH0=", "%%%", "metrics.x > 1", "tags.t ILIKE '%\\\\'",
)  # fmt: skip
BIG = (2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -1, 0)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(BIG), st.floats(), st.text(max_size=20),
    st.sampled_from(HOSTILE),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(("key", "value", "timestamp", "step", "run_id")), children, max_size=4)
    ),
    max_leaves=8,
)
# MLflow's offset page tokens (base64 of {"offset": N}) with offsets of every kind, as a client could forge them.
offset_tokens = st.sampled_from(
    (2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, math.inf, -math.inf, math.nan, 0, -1, 1.5, "1", None, True)
).map(lambda offset: base64.b64encode(json.dumps({"offset": offset}).encode()).decode())
ROUTES = [(path, view, method) for path, view, _ in ENDPOINTS for method in ("get", "post") if hasattr(view, method)]
T0 = 1767225600000
EXPERIMENT, RUN, DELETED = "<experiment>", "<run>", "<deleted experiment>"  # replaced by the target's ids


def valid_bodies() -> dict[str, dict]:
    """A request each endpoint accepts: the generated ones change one to three of its fields (or add others), so a
    hostile value reaches the code that reads its field instead of stopping at an earlier invalid one."""
    run, exp = {"run_id": RUN}, {"experiment_id": EXPERIMENT}
    page = {"max_results": 10, "page_token": ""}
    return {
        "experiments/create": {"name": "fuzz-new", "tags": [{"key": "k", "value": "v"}]},
        "experiments/get": exp,
        "experiments/get-by-name": {"experiment_name": "fuzz-target"},
        "experiments/search": {**page, "filter": "name = 'fuzz-target'", "order_by": ["name"], "view_type": "ALL"},
        "experiments/update": {**exp, "new_name": "fuzz-renamed"},
        "experiments/delete": exp,
        "experiments/restore": {"experiment_id": DELETED},
        "experiments/set-experiment-tag": {**exp, "key": "k", "value": "v"},
        "experiments/delete-experiment-tag": {**exp, "key": "k"},
        "runs/create": {**exp, "start_time": T0, "run_name": "r", "tags": [{"key": "k", "value": "v"}]},
        "runs/get": run,
        "runs/update": {**run, "status": "FINISHED", "end_time": T0 + 1, "run_name": "fuzz-run"},
        "runs/delete": run,
        "runs/restore": run,
        "runs/search": {**page, "experiment_ids": [EXPERIMENT], "filter": "metrics.loss < 1", "order_by": ["name"],
                        "run_view_type": "ALL"},
        "runs/log-metric": {**run, "key": "m", "value": 1.0, "timestamp": T0, "step": 1},
        "runs/log-parameter": {**run, "key": "p", "value": "v"},
        "runs/log-batch": {**run, "metrics": [{"key": "m", "value": 1, "timestamp": T0, "step": 0}],
                           "params": [{"key": "p", "value": "v"}], "tags": [{"key": "t", "value": "v"}]},
        "runs/set-tag": {**run, "key": "t", "value": "v"},
        "runs/delete-tag": {**run, "key": "t"},
        "metrics/get-history": {**page, **run, "metric_key": "loss"},
        "metrics/get-history-bulk-interval": {"run_ids": [RUN], "metric_key": "loss", "max_results": 10,
                                              "start_step": 0, "end_step": 2},
    }  # fmt: skip


def _with_ids(value, ids: dict[str, str]):
    if isinstance(value, list):
        return [_with_ids(item, ids) for item in value]
    return ids.get(value, value) if isinstance(value, str) else value


def test_every_mlflow_endpoint_has_a_valid_body_to_start_from():
    assert sorted(valid_bodies()) == sorted(path for path, _, _ in ENDPOINTS)


MLFLOW_STATUSES = {400, 401, 403, 404, 405, 413, 429}


@pytest.fixture
def target(tenant_a):
    with tenant_a.context():
        admin = get_user_model().objects.get(username=tenant_a.admin_username)
        token = token_create(user=admin, name="mlflow-fuzz").plaintext
    mlflow = Mlflow(tenant_a, token)
    experiment_id = mlflow.experiment("fuzz-target")
    run_id = mlflow.run(experiment_id, run_name="fuzz-run")["info"]["run_id"]
    mlflow.ok("post", "runs/log-batch", {"run_id": run_id, "tags": [{"key": "t", "value": "v"}], "metrics": [
        {"key": "loss", "value": v, "timestamp": 1, "step": i} for i, v in enumerate((0.5, 0.4, 0.3))]})  # fmt: skip
    mlflow.ok("post", "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"})
    deleted = mlflow.experiment("fuzz-deleted")
    mlflow.ok("post", "experiments/delete", {"experiment_id": deleted})
    return mlflow, {EXPERIMENT: experiment_id, RUN: run_id, DELETED: deleted}


def _send(mlflow, method: str, url: str, body):
    """POST ``body`` as JSON, or GET it as a query string (lists as repeated keys), in a savepoint."""
    if method == "post":
        payload = json.dumps(body)
        return in_savepoint(lambda: mlflow.api.post(url, payload, content_type="application/json"))
    items = body.items() if isinstance(body, dict) else []
    query = "&".join(
        f"{quote(name)}={quote(str(v).encode('utf-8', 'surrogatepass'))}"
        for name, item in items
        for v in (item if isinstance(item, list) else [item])
    )
    return in_savepoint(lambda: mlflow.api.get(f"{url}?{query}"))


@pytest.mark.parametrize(("path", "view", "method"), ROUTES, ids=[f"{m.upper()} {p}" for p, _, m in ROUTES])
def test_mlflow_endpoint_answers_generated_requests_without_a_server_error(target, path, view, method):
    mlflow, ids = target
    real = st.sampled_from((*ids.values(), "0", "loss", [ids[EXPERIMENT]], [ids[RUN]]))
    value = st.one_of(st.sampled_from(HOSTILE), st.sampled_from(BIG), real, scalars, json_values)
    values = {name: value for name in FIELDS} | {"page_token": st.one_of(offset_tokens, value)}
    base = {name: _with_ids(item, ids) for name, item in valid_bodies()[path].items()}
    # Mostly the valid body with one of its fields replaced, else with one to three of any fields replaced or
    # added, else any object of MLflow's field names, else any JSON.
    one = st.sampled_from(sorted(base)).flatmap(lambda name: values[name].map(lambda item: {**base, name: item}))
    some = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: values[name] for name in names})
    )
    bodies = st.one_of(one, one, one, some.map(lambda fields: {**base, **fields}),
                       st.fixed_dictionaries({}, optional=values), json_values)  # fmt: skip

    url = f"/api/2.0/mlflow/{path}"
    accepted = _send(mlflow, method, url, base)
    assert accepted.status_code == 200, f"the valid body of {path} is refused: {accepted.content[:300]}"

    @fuzz(EXAMPLES)
    @given(body=bodies)
    def check(body):
        response = _send(mlflow, method, url, body)
        if response.status_code != 200:
            answer = response.json()
            assert response.status_code in MLFLOW_STATUSES, answer
            assert isinstance(answer.get("error_code"), str) and answer.get("message"), answer

    check()
