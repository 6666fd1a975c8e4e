"""Property test: every MLflow endpoint (``apps.mlflow_api.api.urls.ENDPOINTS``: tracking, logged models, datasets,
the model registry, with each method its view serves) receives Hypothesis-generated requests against real
PostgreSQL: JSON bodies (POST, PATCH, DELETE), query strings (GET) and values for the path's parameters
(``logged-models/<model_id>/tags/<tag_key>``).

Each starts from a request the endpoint accepts (``valid_bodies()``, checked first), naming objects of a world that
exists: an experiment with a run and its metrics, a deleted experiment, a logged model, a registered model with a
version, an alias and tags. Most change one place of it — a field, an item or a field of an item of its lists
(``datasets[0].dataset.name``), or a path parameter — to a real id or name of the tenant, a hostile value (NUL, lone
surrogates, huge and non-finite numbers, forged page tokens, 10 kB strings, injection strings, wrong types) or
arbitrary JSON, so a hostile value reaches the service that reads it instead of stopping at an earlier invalid
field; the rest replace or add one to three of MLflow's fields, or are any object of MLflow's field names, or any
JSON. An endpoint (or method) without a valid request fails
``test_every_mlflow_endpoint_has_a_valid_body_to_start_from``.

MLflow's views have no OpenAPI schema, so the schemathesis run (``test_fuzz_api.py``) never reaches them; this
holds them to the same rule. Pass: never a 5xx or an exception, every error in MLflow's shape
(``{"error_code", "message"}``) with a status MLflow uses, and the database transaction still usable after each
request (an error PostgreSQL raised and the view swallowed would leave it aborted; ``in_savepoint`` checks). The
world is made once for the module and committed; what each request changes is rolled back, so every request meets
the same world. Derandomized; ``FUZZ_SEED`` and ``FUZZ_SCALE`` make a longer random run
(``tests/support/property.py``).
"""

from __future__ import annotations

import base64
import json
import math
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.artifacts.models import Artifact
from apps.projects.models import Project
from tests.mlflow_api.conftest import PREFIX, Mlflow
from tests.reliability.test_input_serializers import HOSTILE_TEXT, HUGE_INTEGERS
from tests.support.mlflow_routes import PLACEHOLDERS, concrete, parameters, served, template
from tests.support.property import fuzz, in_savepoint

pytestmark = pytest.mark.django_db

EXAMPLES = 30  # per endpoint and method
FIELDS = (
    "experiment_id", "experiment_ids", "experiment_name", "name", "new_name", "artifact_location", "tags", "key",
    "value", "run_id", "run_uuid", "run_ids", "run_name", "start_time", "end_time", "status", "metrics", "params",
    "timestamp", "step", "metric_key", "max_results", "page_token", "filter", "order_by", "view_type",
    "run_view_type", "start_step", "end_step", "model_id", "dataset_name", "dataset_digest", "datasets", "models",
    "model_json", "source_run_id", "model_type", "allow_deleted", "artifact_directory_path", "path", "version",
    "alias", "source", "run_link", "description", "stage", "stages", "archive_existing_versions",
)  # fmt: skip
HOSTILE = (
    *HOSTILE_TEXT, "FINISHED", "RUNNING", "ACTIVE_ONLY", "ALL", "0", "-1", "eyJvZmZzZXQiOiAxZTQwMH0=", "%%%",
    "metrics.x > 1", "tags.t ILIKE '%\\\\'", "LOGGED_MODEL_READY", "Production", "latest", "models:/", "runs:/",
    "/etc/passwd", "..", "a/b",
)  # fmt: skip
BIG = (*HUGE_INTEGERS, -1, 0)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(BIG), st.floats(), st.text(max_size=20),
    st.sampled_from(HOSTILE),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(("key", "value", "timestamp", "step", "run_id", "model_id", "name")),
                          children, max_size=4)
    ),
    max_leaves=8,
)  # fmt: skip
# MLflow's offset page tokens (base64 of {"offset": N}) with offsets of every kind, as a client could forge them.
offset_tokens = st.sampled_from(
    (2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, math.inf, -math.inf, math.nan, 0, -1, 1.5, "1", None, True)
).map(lambda offset: base64.b64encode(json.dumps({"offset": offset}).encode()).decode())
ROUTES = served()
T0 = 1767225600000
# Replaced by the world's ids wherever they occur in a valid request (inside strings too).
EXPERIMENT, RUN, DELETED, MODEL = "<experiment>", "<run>", "<deleted experiment>", "<logged model>"
REGISTERED = "fuzz-registered"
PATH = {"model_id": MODEL, "tag_key": "t"}  # the path parameters of a valid request
DATASET = {"name": "train", "digest": "d1", "source_type": "code", "source": '{"tags": {}}',
           "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 3}'}  # fmt: skip


def route_name(path: str, method: str) -> str:
    return f"{method.upper()} {template(path)}"


def valid_bodies() -> dict[str, dict]:
    """A request each endpoint accepts, by ``"METHOD template"``: the generated ones change a place of it (or add
    fields), so a hostile value reaches the code that reads its field instead of stopping at an earlier invalid one.
    The path parameters of a valid request are ``PATH``."""
    run, exp, tags = {"run_id": RUN}, {"experiment_id": EXPERIMENT}, [{"key": "k", "value": "v"}]
    page = {"max_results": 10, "page_token": ""}
    experiments = {**page, "filter": "name = 'fuzz-target'", "order_by": ["name"], "view_type": "ALL"}
    registered, version = {"name": REGISTERED}, {"name": REGISTERED, "version": "1"}
    latest = {**registered, "stages": ["None", "Staging"]}
    model_json = json.dumps({"artifact_path": "model", "run_id": RUN, "utc_time_created": "2026-01-01 00:00:00.0",
                             "model_uuid": "fuzz", "flavors": {"sklearn": {"pickled_model": "model.pkl"}}})  # fmt: skip
    return {
        "POST experiments/create": {"name": "fuzz-new", "artifact_location": "", "tags": tags},
        "GET experiments/get": exp,
        "GET experiments/get-by-name": {"experiment_name": "fuzz-target"},
        "GET experiments/search": experiments,
        "POST experiments/search": experiments,
        "POST experiments/update": {**exp, "new_name": "fuzz-renamed"},
        "POST experiments/delete": exp,
        "POST experiments/restore": {"experiment_id": DELETED},
        "POST experiments/set-experiment-tag": {**exp, "key": "k", "value": "v"},
        "POST experiments/delete-experiment-tag": {**exp, "key": "k"},
        "POST runs/create": {**exp, "start_time": T0, "run_name": "r", "tags": tags},
        "GET runs/get": run,
        "POST runs/update": {**run, "status": "FINISHED", "end_time": T0 + 1, "run_name": "fuzz-run"},
        "POST runs/delete": run,
        "POST runs/restore": run,
        "POST runs/search": {**page, "experiment_ids": [EXPERIMENT], "filter": "metrics.loss < 1", "order_by": ["name"],
                             "run_view_type": "ALL"},
        "POST runs/log-metric": {**run, "key": "m", "value": 1.0, "timestamp": T0, "step": 1, "model_id": MODEL,
                                 "dataset_name": "train", "dataset_digest": "d1"},
        "POST runs/log-parameter": {**run, "key": "p", "value": "v"},
        "POST runs/log-batch": {**run, "metrics": [{"key": "m", "value": 1, "timestamp": T0, "step": 0,
                                                    "model_id": MODEL}],
                                "params": [{"key": "p", "value": "v"}], "tags": [{"key": "t", "value": "v"}]},
        "POST runs/set-tag": {**run, "key": "t", "value": "v"},
        "POST runs/delete-tag": {**run, "key": "t"},
        "POST runs/log-inputs": {**run, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
                                                      "dataset": DATASET}],
                                 "models": [{"model_id": MODEL}]},
        "POST runs/outputs": {**run, "models": [{"model_id": MODEL, "step": 1}]},
        "POST runs/log-model": {**run, "model_json": model_json},
        "GET metrics/get-history": {**page, **run, "metric_key": "loss"},
        "GET metrics/get-history-bulk-interval": {"run_ids": [RUN], "metric_key": "loss", "max_results": 10,
                                                  "start_step": 0, "end_step": 2},
        "GET metrics/get-history-bulk": {"run_id": [RUN], "metric_key": "loss", "max_results": 10},
        "POST logged-models": {**exp, "name": "fuzz-new-model", "model_type": "sklearn", "source_run_id": RUN,
                               "params": [{"key": "alpha", "value": "0.5"}], "tags": tags},
        "POST logged-models/search": {**page, "experiment_ids": [EXPERIMENT], "filter": "metrics.acc > 0.5",
                                      "datasets": [{"dataset_name": "train", "dataset_digest": "d1"}],
                                      "order_by": [{"field_name": "metrics.acc", "ascending": False,
                                                    "dataset_name": "train"}]},
        "GET logged-models/<model_id>": {"allow_deleted": "true"},
        "PATCH logged-models/<model_id>": {"model_id": MODEL, "status": "LOGGED_MODEL_READY"},
        "DELETE logged-models/<model_id>": {"model_id": MODEL},
        "PATCH logged-models/<model_id>/tags": {"model_id": MODEL, "tags": [{"key": "team", "value": "vision"}]},
        "DELETE logged-models/<model_id>/tags/<tag_key>": {"model_id": MODEL, "tag_key": "t"},
        "POST logged-models/<model_id>/params": {"model_id": MODEL, "params": [{"key": "depth", "value": "3"}]},
        "GET logged-models/<model_id>/artifacts/directories": {"artifact_directory_path": "sub"},
        "POST registered-models/create": {"name": "fuzz-new-registered", "description": "d", "tags": tags},
        "GET registered-models/get": registered,
        "POST registered-models/rename": {**registered, "new_name": "fuzz-renamed-registered"},
        "PATCH registered-models/update": {**registered, "description": "d"},
        "DELETE registered-models/delete": registered,
        "GET registered-models/search": {**page, "filter": f"name = '{REGISTERED}'", "order_by": ["name ASC"]},
        "GET registered-models/get-latest-versions": latest,
        "POST registered-models/get-latest-versions": latest,
        "POST registered-models/set-tag": {**registered, "key": "k", "value": "v"},
        "DELETE registered-models/delete-tag": {**registered, "key": "k"},
        "GET registered-models/alias": {**registered, "alias": "champion"},
        "POST registered-models/alias": {**registered, "alias": "champion", "version": "1"},
        "DELETE registered-models/alias": {**registered, "alias": "champion"},
        "POST model-versions/create": {**registered, "source": f"models:/{MODEL}", "model_id": MODEL,
                                       "run_link": "", "description": "d", "tags": tags},
        "GET model-versions/get": version,
        "PATCH model-versions/update": {**version, "description": "d"},
        "DELETE model-versions/delete": version,
        "GET model-versions/search": {**page, "filter": f"name = '{REGISTERED}'", "order_by": ["version_number DESC"]},
        "POST model-versions/transition-stage": {**version, "stage": "Staging", "archive_existing_versions": True},
        "GET model-versions/get-download-uri": version,
        "POST model-versions/set-tag": {**version, "key": "k", "value": "v"},
        "DELETE model-versions/delete-tag": {**version, "key": "k"},
        "GET artifacts/list": {**run, "path": "model"},
    }  # fmt: skip


def test_every_mlflow_endpoint_has_a_valid_body_to_start_from():
    assert sorted(valid_bodies()) == sorted(route_name(path, method) for path, _, method in ROUTES)
    assert {name for path, _, _ in ROUTES for name in parameters(path)} <= set(PATH)


MLFLOW_STATUSES = {400, 401, 403, 404, 405, 413, 429}


def _with_ids(value, ids: dict[str, str]):
    if isinstance(value, dict):
        return {key: _with_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_ids(item, ids) for item in value]
    if isinstance(value, str):
        for placeholder, real in ids.items():
            value = value.replace(placeholder, real)
    return value


def _build_world(mlflow: Mlflow) -> dict[str, str]:
    experiment_id = mlflow.experiment("fuzz-target")
    mlflow.ok("post", "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"})
    run_id = mlflow.run(experiment_id, run_name="fuzz-run")["info"]["run_id"]
    model = {"experiment_id": experiment_id, "name": "fuzz-model", "source_run_id": run_id,
             "tags": [{"key": "t", "value": "v"}], "params": [{"key": "p", "value": "v"}]}  # fmt: skip
    model_id = mlflow.ok("post", "logged-models", model)["model"]["info"]["model_id"]
    mlflow.ok("post", "runs/log-batch", {"run_id": run_id, "tags": [{"key": "t", "value": "v"}], "metrics": [
        *({"key": "loss", "value": v, "timestamp": 1, "step": i} for i, v in enumerate((0.5, 0.4, 0.3))),
        {"key": "acc", "value": 0.9, "timestamp": T0, "step": 0, "model_id": model_id, "dataset_name": "train",
         "dataset_digest": "d1"}]})  # fmt: skip
    deleted = mlflow.experiment("fuzz-deleted")
    mlflow.ok("post", "experiments/delete", {"experiment_id": deleted})
    tags = [{"key": "k", "value": "v"}]
    mlflow.ok("post", "registered-models/create", {"name": REGISTERED, "tags": tags})
    version = {"name": REGISTERED, "source": f"models:/{model_id}", "model_id": model_id, "tags": tags}
    mlflow.ok("post", "model-versions/create", version)
    mlflow.ok("post", "registered-models/alias", {"name": REGISTERED, "alias": "champion", "version": "1"})
    return {EXPERIMENT: experiment_id, RUN: run_id, DELETED: deleted, MODEL: model_id}


@pytest.fixture(scope="module")
def world(_session_tenants, django_db_blocker):
    """``(mlflow, ids)``: tenant A's admin token and the objects valid requests name, made through MLflow's API once
    for the module and committed (each test's transaction rolls back what its requests change); deleted at the end
    with the token (audit events stay, as in every committed-data test)."""
    tenant = _session_tenants[0]
    with django_db_blocker.unblock(), tenant.context():
        projects = set(Project.objects.values_list("pk", flat=True))
        artifacts = set(Artifact.objects.values_list("pk", flat=True))
        admin = get_user_model().objects.get(username=tenant.admin_username)
        token = token_create(user=admin, name="mlflow-fuzz")
    try:
        with django_db_blocker.unblock():
            mlflow = Mlflow(tenant, token.plaintext)
            ids = _build_world(mlflow)
        connection.set_schema_to_public()
        yield mlflow, ids
    finally:
        with django_db_blocker.unblock(), tenant.context():
            Artifact.objects.exclude(pk__in=artifacts).delete()  # registered models and their versions
            Project.objects.exclude(pk__in=projects).delete()  # experiments with their runs and logged models
            ApiToken.objects.filter(pk=token.token.pk).delete()
        connection.set_schema_to_public()


def _places(value, at: tuple = ()):
    """Every place of a JSON value another value can take: each field of an object, each item of a list, nested."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*at, key)
        yield from _places(item, (*at, key))


def _put(value, place: tuple, new):
    """A copy of ``value`` with ``new`` at ``place``."""
    if not place:
        return new
    head, *rest = place
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _put(value[head], rest, new)
    return copy


def _send(mlflow, method: str, path: str, request: dict):
    """The request (``{"path": {parameter: value}, "body": …}``): GET with the body as a query string (lists as
    repeated keys), other methods with it as JSON (NaN and lone surrogates as ``json.dumps`` writes them, as clients
    may). In a savepoint (``in_savepoint``: no 5xx, the transaction still usable), then rolled back, so every request
    meets the same world (a valid ``delete-tag`` would otherwise leave the next requests nothing to delete)."""
    url = PREFIX + concrete(path, request["path"])
    body = request["body"]
    if method == "get":
        items = body.items() if isinstance(body, dict) else []
        query = "&".join(
            f"{quote(name)}={quote(str(v).encode('utf-8', 'surrogatepass'))}"
            for name, item in items
            for v in (item if isinstance(item, list) else [item])
        )
        url, payload = f"{url}?{query}", ""
    else:
        payload = json.dumps(body)
    with transaction.atomic():
        response = in_savepoint(lambda: mlflow.api.generic(method.upper(), url, payload, "application/json"))
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize(
    ("path", "method"), [(p, m) for p, _, m in ROUTES], ids=[route_name(p, m) for p, _, m in ROUTES]
)
def test_mlflow_endpoint_answers_generated_requests_without_a_server_error(world, path, method):
    mlflow, ids = world
    known = (*ids.values(), REGISTERED, "1", "champion", "loss", "t", "k", PLACEHOLDERS["model_id"])
    real = st.sampled_from((*known, "0", "Production", f"models:/{ids[MODEL]}", f"models:/{REGISTERED}/1",
                            [ids[EXPERIMENT]], [ids[RUN]]))  # fmt: skip
    value = st.one_of(st.sampled_from(HOSTILE), st.sampled_from(BIG), real, scalars, json_values)
    values = {name: value for name in FIELDS} | {"page_token": st.one_of(offset_tokens, value)}
    in_path = st.one_of(st.sampled_from(known), st.sampled_from(HOSTILE), st.text(max_size=40))
    base = {
        "path": {name: _with_ids(PATH[name], ids) for name in parameters(path)},
        "body": _with_ids(valid_bodies()[route_name(path, method)], ids),
    }

    def value_at(place: tuple):
        if place[0] == "path":
            return in_path
        name = next((part for part in reversed(place) if isinstance(part, str)), "")
        return values.get(name, value)

    # Mostly the valid request with one place replaced (a path parameter, a field, an item of a list or a field of
    # one), else with one to three of MLflow's fields replaced or added, else any object of MLflow's field names,
    # else any JSON.
    places = [("path", name) for name in base["path"]] + [("body", *place) for place in _places(base["body"])]
    one = st.sampled_from(places).flatmap(lambda place: value_at(place).map(lambda new: _put(base, place, new)))
    some = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: values[name] for name in names})
    )
    extended = some.map(lambda fields: {**base, "body": {**base["body"], **fields}})
    requests = st.one_of(
        one, one, one, one, extended, extended,
        st.fixed_dictionaries({"path": st.just(base["path"]), "body": st.fixed_dictionaries({}, optional=values)}),
        st.fixed_dictionaries({"path": st.just(base["path"]), "body": json_values}),
    )  # fmt: skip

    accepted = _send(mlflow, method, path, base)
    assert accepted.status_code == 200, f"the valid request {base} is refused: {accepted.content[:300]}"

    @fuzz(EXAMPLES)
    @given(request=requests)
    def check(request):
        response = _send(mlflow, method, path, request)
        if response.status_code != 200:
            answer = response.json()
            assert response.status_code in MLFLOW_STATUSES, answer
            assert isinstance(answer.get("error_code"), str) and answer.get("message"), answer

    check()
