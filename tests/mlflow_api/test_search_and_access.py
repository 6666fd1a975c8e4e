"""Run search with MLflow's grammar, and Maestro's access control (roles, object permissions, token scopes, tenant
isolation) on the MLflow API."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth import get_user_model

from apps.access.services import grant_set
from apps.audit.models import AuditEvent
from apps.metrics.models import MetricPoint, Run
from apps.projects.models import Project
from tests.mlflow_api.conftest import Mlflow, error_of
from tests.support.access import make_principal, make_project

pytestmark = pytest.mark.django_db

T0 = 1767225600000


@pytest.fixture
def runs(mlflow_a):
    exp = mlflow_a.experiment("search")
    made = {}
    for index, (name, acc, opt, status) in enumerate(
        [("r1", 0.95, "adam", "FINISHED"), ("r2", 0.80, "sgd", "FINISHED"), ("r3", 0.90, "adam", "FAILED")]
    ):
        run_id = mlflow_a.run(exp, run_name=name, start_time=T0 + index * 1000)["info"]["run_id"]
        mlflow_a.ok("post", "runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": "accuracy", "value": acc, "timestamp": T0, "step": 1}],
            "params": [{"key": "optimizer", "value": opt}],
            "tags": [{"key": "team name", "value": "vision" if index != 1 else "nlp"}],
        })  # fmt: skip
        mlflow_a.ok("post", "runs/update", {"run_id": run_id, "status": status, "end_time": T0 + 10_000})
        made[name] = run_id
    return exp, made


def _search(mlflow, exp, **body) -> list[str]:
    return [r["info"]["run_name"] for r in mlflow.ok("post", "runs/search", {"experiment_ids": [exp], **body})["runs"]]


def test_mlflow_filter_grammar_maps_onto_maestros_search(mlflow_a, runs):
    exp, ids = runs
    assert _search(mlflow_a, exp, filter="metrics.accuracy > 0.85", order_by=["metrics.accuracy DESC"]) == ["r1", "r3"]
    assert _search(mlflow_a, exp, filter="params.optimizer = 'adam' and attributes.status = 'FINISHED'") == ["r1"]
    assert _search(mlflow_a, exp, filter="parameters.optimizer != 'adam'") == ["r2"]
    assert _search(mlflow_a, exp, filter="tags.`team name` LIKE 'vis%'", order_by=["run_name ASC"]) == ["r1", "r3"]
    assert _search(mlflow_a, exp, filter="attributes.status LIKE 'FAIL%'") == ["r3"]
    assert _search(mlflow_a, exp, filter="attributes.run_name = 'r2'") == ["r2"]
    assert _search(mlflow_a, exp, filter=f"attributes.run_id IN ('{ids['r1']}', '{ids['r2']}')",
                   order_by=["attributes.created ASC"]) == ["r1", "r2"]  # fmt: skip
    assert _search(mlflow_a, exp, filter=f"attributes.start_time >= {T0 + 1000}") == ["r3", "r2"]
    assert _search(mlflow_a, exp, filter="attributes.user_id = 'admin'", order_by=["start_time ASC"]) == [
        "r1", "r2", "r3"
    ]  # fmt: skip
    assert _search(mlflow_a, exp, filter="tags.\"mlflow.runName\" = 'r3'") == ["r3"]
    bad = mlflow_a.post("runs/search", {"experiment_ids": [exp], "filter": "metrics.accuracy >"})
    assert "position" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    bad_order = mlflow_a.post("runs/search", {"experiment_ids": [exp], "order_by": ["attributes.nope DESC"]})
    assert error_of(bad_order, 400, "INVALID_PARAMETER_VALUE")
    too_big = mlflow_a.post("runs/search", {"experiment_ids": [exp], "max_results": 50001})
    assert "50000" in error_of(too_big, 400, "INVALID_PARAMETER_VALUE")


def test_search_pages_view_types_and_experiment_scope(mlflow_a, runs):
    exp, ids = runs
    other = mlflow_a.experiment("elsewhere")
    mlflow_a.run(other, run_name="elsewhere-run")
    seen, token = [], None
    while True:
        body = {"experiment_ids": [exp], "max_results": 2, "order_by": ["metrics.accuracy ASC"]}
        page = mlflow_a.ok("post", "runs/search", {**body, **({"page_token": token} if token else {})})
        seen += [r["info"]["run_name"] for r in page["runs"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["r2", "r3", "r1"]
    mlflow_a.ok("post", "runs/delete", {"run_id": ids["r2"]})
    assert _search(mlflow_a, exp, order_by=["run_name"]) == ["r1", "r3"]
    assert _search(mlflow_a, exp, run_view_type="DELETED_ONLY") == ["r2"]
    assert _search(mlflow_a, exp, run_view_type="ALL", order_by=["run_name"]) == ["r1", "r2", "r3"]
    both = mlflow_a.ok("post", "runs/search", {"experiment_ids": [exp, other]})["runs"]
    assert len(both) == 3
    page = mlflow_a.ok("post", "runs/search", {"experiment_ids": [exp]})["runs"][0]
    assert {m["key"] for m in page["data"]["metrics"]} == {"accuracy"}
    assert {"key": "optimizer", "value": "adam"} in page["data"]["params"]


def test_roles_object_permissions_and_token_scopes_apply(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("guarded")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    batch = {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0, "timestamp": T0}]}

    viewer = Mlflow(tenant_a, make_principal(tenant_a, "viewer").token)
    assert viewer.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["run_id"] == run_id
    with tenant_a.context():
        denied_before = AuditEvent.objects.filter(action="access.denied").count()
    assert error_of(viewer.post("runs/log-batch", batch), 403, "PERMISSION_DENIED")
    assert error_of(viewer.post("experiments/create", {"name": "viewer-exp"}), 403, "PERMISSION_DENIED")

    member = make_principal(tenant_a, "member")
    as_member = Mlflow(tenant_a, member.token)
    refused = as_member.post("runs/log-batch", batch)  # visible (tenant project) but no change access
    assert "change" in error_of(refused, 403, "PERMISSION_DENIED")
    with tenant_a.context():
        project = Project.objects.get(pk=int(exp))
        admin = get_user_model().objects.get(username="admin")
        grant_set(actor=admin, obj=project, level="change", user=member.user)
    assert as_member.post("runs/log-batch", batch).status_code == 200

    read_token = Mlflow(tenant_a, make_principal(tenant_a, "owner", scope="read").token)
    scoped = read_token.post("runs/log-batch", batch)
    assert "scope" in error_of(scoped, 403, "PERMISSION_DENIED")
    assert read_token.post("runs/search", {"experiment_ids": [exp]}).status_code == 200

    with tenant_a.context():
        private = make_project("Hidden", visibility="private")
        hidden_run = Run.objects.create(project=private, name="secret", start_time=project.created_at)
        assert AuditEvent.objects.filter(action="access.denied").count() >= denied_before + 3
    lead = Mlflow(tenant_a, make_principal(tenant_a, "lead").token)
    assert error_of(lead.get("runs/get", {"run_id": hidden_run.uuid.hex}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert error_of(lead.get("experiments/get", {"experiment_id": str(private.pk)}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert lead.ok("post", "runs/search", {"experiment_ids": [str(private.pk)]}) == {"runs": []}
    assert lead.get("experiments/get-by-name", {"experiment_name": "Hidden"}).status_code == 404


def test_tenants_are_isolated_and_tokens_route_on_the_platform_host(tenant_a, tenant_b, mlflow_a, mlflow_b):
    exp_b = mlflow_b.experiment("beta-only")
    run_b = mlflow_b.run(exp_b)["info"]["run_id"]
    # A's token on B's host: plain 401 in MLflow's shape
    a_token = mlflow_a.api._credentials["HTTP_AUTHORIZATION"].split()[1]
    on_b = Mlflow(tenant_b, a_token)
    assert error_of(on_b.get("runs/get", {"run_id": run_b}), 401, "UNAUTHENTICATED")
    # A's token on the platform host routes to A, where B's ids do not exist
    platform = Mlflow(tenant_a, a_token, host="localhost")
    assert error_of(platform.get("runs/get", {"run_id": run_b}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert error_of(platform.get("experiments/get", {"experiment_id": exp_b}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert platform.get("experiments/get-by-name", {"experiment_name": "beta-only"}).status_code == 404
    point = {"key": "m", "value": 1.0, "timestamp": 1}
    refused = platform.post("runs/log-batch", {"run_id": run_b, "metrics": [point]})
    assert refused.status_code == 404
    with tenant_b.context():
        assert not MetricPoint.objects.filter(run__uuid=uuid.UUID(run_b)).exists()
    mine = platform.ok("post", "experiments/search", {})
    assert "beta-only" not in [e["name"] for e in mine.get("experiments", [])]
    # no token on the platform host: 401 in MLflow's shape from the routing middleware
    anonymous = tenant_a.api(host="localhost").get("/api/2.0/mlflow/runs/get", {"run_id": run_b})
    assert error_of(anonymous, 401, "UNAUTHENTICATED") == "Authentication credentials were not provided."


def test_like_patterns_ending_in_the_escape_character_are_invalid_parameter_values(mlflow_a, runs):
    """As on the native API: refused before PostgreSQL, which would refuse them only once a row reaches them."""
    exp, _ = runs
    mlflow_a.ok("post", "experiments/set-experiment-tag", {"experiment_id": exp, "key": "team", "value": "vision"})
    for path, body in (
        ("runs/search", {"experiment_ids": [exp], "filter": "tags.`team name` ILIKE '%\\\\'"}),
        ("runs/search", {"experiment_ids": [exp], "filter": "attributes.run_name LIKE 'r\\\\'"}),
        ("experiments/search", {"filter": "name ILIKE '%\\\\'"}),
        ("experiments/search", {"filter": "tags.team LIKE 'vision\\\\'"}),
    ):
        for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"):
            message = error_of(mlflow_a.post(path, body, prefix=prefix), 400, "INVALID_PARAMETER_VALUE")
            assert message.startswith("Invalid value for parameter 'filter' supplied: A LIKE pattern must not end"), (
                message
            )
    bad_order = mlflow_a.post("experiments/search", {"order_by": ["name", "name SIDEWAYS"]})
    assert "parameter 'order_by[1]'" in error_of(bad_order, 400, "INVALID_PARAMETER_VALUE")
    assert _search(mlflow_a, exp, filter="tags.`team name` ILIKE '%\\\\\\\\'") == []  # a literal backslash: none


def test_text_postgresql_cannot_store_is_an_invalid_parameter_value_in_filters_and_order_by(mlflow_a, runs):
    """NUL and lone surrogates in a filter or order_by item: refused by MLflow's body parser, naming the field (the
    search grammar would refuse them too, with a position: tests/metrics/test_search_grammar.py)."""
    exp, _ = runs
    for path, body, field in (
        ("runs/search", {"experiment_ids": [exp], "filter": "params.optimizer = 'a\x00'"}, "filter"),
        ("runs/search", {"experiment_ids": [exp], "order_by": ["params.`a\ud800`"]}, "order_by[0]"),
        ("experiments/search", {"filter": "tags.`a\x00` = 'x'"}, "filter"),
        ("experiments/search", {"order_by": ["name", "`\x00`"]}, "order_by[1]"),
    ):
        raw = mlflow_a.api.post("/api/2.0/mlflow/" + path, json.dumps(body), content_type="application/json")
        message = error_of(raw, 400, "INVALID_PARAMETER_VALUE")
        assert message.startswith(f"{field}: ") and ("Null characters" in message or "surrogate" in message), message


@pytest.mark.parametrize("role", ["admin", "member"])
def test_metric_logging_reads_the_run_and_its_project_in_one_statement(tenant_a, mlflow_a, role):
    """log-metric and log-batch load only what they read of the run and its project (``RUN_FOR_LOGGING``): no
    deferred field is fetched afterwards, for an admin or for a member whose access comes from a grant; a rename by
    the mlflow.runName tag and a denied write still work on the partly loaded run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    exp = mlflow_a.experiment(f"lean-{role}")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    client = mlflow_a
    if role == "member":
        member = make_principal(tenant_a, "member")
        client = Mlflow(tenant_a, member.token)
        point = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": T0}
        assert "change" in error_of(client.post("runs/log-metric", point), 403, "PERMISSION_DENIED")
        with tenant_a.context():
            admin = get_user_model().objects.get(username="admin")
            grant_set(actor=admin, obj=Project.objects.get(pk=int(exp)), level="change", user=member.user)
    calls = [
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": T0, "step": 1}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [{"key": "m", "value": 2.0, "timestamp": T0, "step": 2}],
                            "params": [{"key": "lr", "value": "0.1"}],
                            "tags": [{"key": "mlflow.runName", "value": f"renamed-{role}"}]}),
    ]  # fmt: skip
    for path, body in calls:
        client.ok("post", path, body)  # the token's first request also reads its row; count the second's
        body = {**body, **({"metrics": [{**body["metrics"][0], "step": 3}]} if "metrics" in body else {"step": 4})}
        with CaptureQueriesContext(connection) as captured:
            client.ok("post", path, body)
        reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
        of_run_or_project = [sql for sql in reads if '"metrics_run"' in sql or '"projects_project"' in sql]
        assert len(of_run_or_project) == 1, of_run_or_project
    with tenant_a.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert run.name == f"renamed-{role}"
        assert MetricPoint.objects.filter(run_id=run.pk, key="m").count() == 4
