"""Experiments (Maestro projects) through the MLflow REST API."""

from __future__ import annotations

import base64
import json

import pytest

from apps.audit.models import AuditEvent
from apps.metrics.models import Run
from apps.mlflow_api.models import Experiment, ExperimentTag
from apps.projects.models import Project
from tests.mlflow_api.conftest import Mlflow, error_of
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


def test_create_get_and_get_by_name(mlflow_a, tenant_a):
    exp = mlflow_a.experiment("Churn", tags=[{"key": "owner", "value": "ada"}], artifact_location="s3://b/churn")
    got = mlflow_a.ok("get", "experiments/get", {"experiment_id": exp})["experiment"]
    assert got["experiment_id"] == exp and got["name"] == "Churn" and got["lifecycle_stage"] == "active"
    assert got["artifact_location"] == "s3://b/churn" and got["tags"] == [{"key": "owner", "value": "ada"}]
    assert got["creation_time"] <= got["last_update_time"]
    by_name = mlflow_a.ok("get", "experiments/get-by-name", {"experiment_name": "Churn"})["experiment"]
    assert by_name == got
    missing = mlflow_a.get("experiments/get-by-name", {"experiment_name": "Nope"})
    assert error_of(missing, 404, "RESOURCE_DOES_NOT_EXIST") == "Could not find experiment with name 'Nope'"
    duplicate = mlflow_a.post("experiments/create", {"name": "Churn"})
    assert error_of(duplicate, 400, "RESOURCE_ALREADY_EXISTS") == "Experiment(name=Churn) already exists."
    with tenant_a.context():
        project = Project.objects.get(pk=int(exp))
        assert project.status == "active" and project.owner.username == "admin"
        assert AuditEvent.objects.filter(action="project.created", object_id=exp).count() == 1
        assert AuditEvent.objects.filter(action="mlflow_experiment_tag.bulk_created").exists()
    assert error_of(mlflow_a.post("experiments/create", {"name": ""}), 400, "INVALID_PARAMETER_VALUE")
    assert "200 characters" in error_of(mlflow_a.post("experiments/create", {"name": "x" * 201}), 400,
                                        "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert error_of(mlflow_a.get("experiments/get", {"experiment_id": "abc"}), 400, "INVALID_PARAMETER_VALUE") == (
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
    )


def test_projects_created_natively_are_experiments(mlflow_a, tenant_a):
    with tenant_a.context():
        project = Project.objects.create(name="Native", slug="native-exp")
    got = mlflow_a.ok("get", "experiments/get", {"experiment_id": str(project.pk)})["experiment"]
    assert got["lifecycle_stage"] == "active" and got["tags"] == []
    assert got["artifact_location"] == f"mlflow-artifacts:/{project.pk}"


def test_rename_tags_delete_and_restore(mlflow_a, tenant_a):
    exp = mlflow_a.experiment("Lifecycle")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    mlflow_a.experiment("Taken")
    taken = mlflow_a.post("experiments/update", {"experiment_id": exp, "new_name": "Taken"})
    assert error_of(taken, 400, "RESOURCE_ALREADY_EXISTS")
    mlflow_a.ok("post", "experiments/update", {"experiment_id": exp, "new_name": "Lifecycle 2"})
    mlflow_a.ok("post", "experiments/set-experiment-tag", {"experiment_id": exp, "key": "k", "value": "1"})
    mlflow_a.ok("post", "experiments/set-experiment-tag", {"experiment_id": exp, "key": "k", "value": "2"})
    mlflow_a.ok("post", "experiments/set-experiment-tag", {"experiment_id": exp, "key": "gone", "value": "x"})
    mlflow_a.ok("post", "experiments/delete-experiment-tag", {"experiment_id": exp, "key": "gone"})
    missing_tag = mlflow_a.post("experiments/delete-experiment-tag", {"experiment_id": exp, "key": "gone"})
    message = error_of(missing_tag, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"No tag with name: gone in experiment with id {exp}"
    with tenant_a.context():
        assert Project.objects.get(pk=int(exp)).name == "Lifecycle 2"
        assert dict(ExperimentTag.objects.filter(project_id=int(exp)).values_list("key", "value")) == {"k": "2"}

    mlflow_a.ok("post", "experiments/delete", {"experiment_id": exp})
    with tenant_a.context():
        assert Experiment.objects.get(project_id=int(exp)).lifecycle_stage == "deleted"
        assert list(Run.objects.filter(project_id=int(exp)).values_list("lifecycle_stage", flat=True)) == ["deleted"]
        assert Project.objects.filter(pk=int(exp)).exists()  # the project stays; only MLflow's view is trashed
    assert mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"
    again = mlflow_a.post("experiments/delete", {"experiment_id": exp})
    assert error_of(again, 404, "RESOURCE_DOES_NOT_EXIST") == f"No Experiment with id={exp} exists"
    rename = mlflow_a.post("experiments/update", {"experiment_id": exp, "new_name": "x"})
    assert error_of(rename, 400, "INVALID_STATE") == "Cannot rename a non-active experiment."
    tag = mlflow_a.post("experiments/set-experiment-tag", {"experiment_id": exp, "key": "k", "value": "3"})
    assert "must be in the 'active' state" in error_of(tag, 400, "INVALID_PARAMETER_VALUE")
    new_run = mlflow_a.post("runs/create", {"experiment_id": exp})
    assert "must be in the 'active' state" in error_of(new_run, 400, "INVALID_PARAMETER_VALUE")

    mlflow_a.ok("post", "experiments/restore", {"experiment_id": exp})
    assert mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "active"
    assert error_of(mlflow_a.post("experiments/restore", {"experiment_id": exp}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_search_experiments_filters_orders_and_pages(mlflow_a):
    ids = {name: mlflow_a.experiment(name, tags=[{"key": "team", "value": team}])
           for name, team in [("s-alpha", "vision"), ("s-beta", "nlp"), ("s-gamma", "vision")]}  # fmt: skip
    mlflow_a.ok("post", "experiments/delete", {"experiment_id": ids["s-beta"]})

    def names(**body):
        return [e["name"] for e in mlflow_a.ok("post", "experiments/search", body).get("experiments", [])]

    assert names(filter="name LIKE 's-%'", order_by=["name ASC"]) == ["s-alpha", "s-gamma"]
    assert names(filter="name LIKE 's-%'", view_type="ALL", order_by=["name DESC"]) == ["s-gamma", "s-beta", "s-alpha"]
    assert names(filter="name LIKE 's-%'", view_type="DELETED_ONLY") == ["s-beta"]
    assert names(filter="tags.team = 'vision' AND name ILIKE 'S-%'", order_by=["name"]) == ["s-alpha", "s-gamma"]
    assert names(filter="name LIKE 's-%'")[0] == "s-gamma"  # default: newest first
    first = mlflow_a.ok("post", "experiments/search", {"filter": "name LIKE 's-%'", "max_results": 1})
    assert json.loads(base64.b64decode(first["next_page_token"])) == {"offset": 1}
    second = mlflow_a.ok(
        "post", "experiments/search",
        {"filter": "name LIKE 's-%'", "max_results": 1, "page_token": first["next_page_token"]},
    )  # fmt: skip
    assert [e["name"] for e in second["experiments"]] == ["s-alpha"] and "next_page_token" not in second
    via_get = mlflow_a.ok("get", "experiments/search", {"filter": "name = 's-alpha'", "max_results": 5})
    assert [e["experiment_id"] for e in via_get["experiments"]] == [ids["s-alpha"]]
    bad = mlflow_a.post("experiments/search", {"filter": "metrics.x > 1"})
    assert "Invalid attribute key" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    bad_token = mlflow_a.post("experiments/search", {"page_token": "%%%"})
    assert "Invalid page token" in error_of(bad_token, 400, "INVALID_PARAMETER_VALUE")


def test_experiment_zero_is_the_tenants_default_experiment(mlflow_a, tenant_a):
    reader = Mlflow(tenant_a, make_principal(tenant_a, "owner", scope="read").token)
    assert error_of(reader.get("experiments/get", {"experiment_id": "0"}), 404, "RESOURCE_DOES_NOT_EXIST")
    viewer = Mlflow(tenant_a, make_principal(tenant_a, "viewer").token)
    assert viewer.get("experiments/get-by-name", {"experiment_name": "Default"}).status_code == 404
    with tenant_a.context():
        assert not Experiment.objects.filter(is_default=True).exists()  # neither may create it
    run = mlflow_a.run("0", run_name="no experiment set")
    with tenant_a.context():
        state = Experiment.objects.get(is_default=True)
        assert state.project.name == "Default" and run["info"]["experiment_id"] == str(state.project_id)
    assert mlflow_a.ok("get", "experiments/get", {"experiment_id": "0"})["experiment"]["name"] == "Default"
    searched = mlflow_a.ok("post", "runs/search", {"experiment_ids": ["0"]})
    assert [r["info"]["run_id"] for r in searched["runs"]] == [run["info"]["run_id"]]
    assert mlflow_a.post("runs/create", {}).json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_offset_page_tokens_beyond_int64_or_not_finite_are_invalid_parameter_values(mlflow_a):
    """MLflow's page tokens are base64 of {"offset": N}; an offset PostgreSQL cannot take (or int() cannot make) was
    a 500 on experiments/search; get-history reads the same tokens."""
    run_id = mlflow_a.run(mlflow_a.experiment("paged"))["info"]["run_id"]
    for offset in (2**63, 10**30, float("inf"), float("-inf")):
        token = base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
        searched = mlflow_a.post("experiments/search", {"page_token": token})
        assert "Invalid page token" in error_of(searched, 400, "INVALID_PARAMETER_VALUE")
        history = mlflow_a.get(
            "metrics/get-history", {"run_id": run_id, "metric_key": "m", "max_results": 5, "page_token": token}
        )
        assert "Invalid page token" in error_of(history, 400, "INVALID_PARAMETER_VALUE")
    last = base64.b64encode(json.dumps({"offset": 2**63 - 1}).encode()).decode()
    assert mlflow_a.ok("post", "experiments/search", {"page_token": last}) == {"experiments": []}
