"""The model registry through MLflow's REST API: registered models and versions with MLflow's shapes, codes and
rules (names, sources, aliases, stages, search grammar, paging), each registered model an artifact of the library
(same files, usages and impact), under the permission matrix, audited, and invisible to other tenants."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.access.services import grant_set
from apps.artifacts import services as artifact_services
from apps.artifacts.models import Artifact, ArtifactVersion
from apps.audit.models import AuditEvent
from apps.mlflow_api.models import LoggedModelTag, ModelVersion, RegisteredModel
from apps.projects.models import Project
from tests.mlflow_api.conftest import Mlflow, error_of
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db

MODEL_FILES = {
    "MLmodel": b"flavors:\n  sklearn: {}\n",
    "model.pkl": bytes(range(256)) * 8,
    "sub/requirements.txt": b"x",
}


@pytest.fixture
def logged(mlflow_a):
    """An experiment, a run and a READY logged model of it whose files are in the tenant's storage where the
    artifact proxy writes them."""
    exp = mlflow_a.experiment(f"reg-{uuid.uuid4().hex[:6]}")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    model = mlflow_a.ok("post", "logged-models", {"experiment_id": exp, "name": "model", "source_run_id": run_id})
    model_id = model["model"]["info"]["model_id"]
    mlflow_a.patch(f"logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"})
    with mlflow_a.ctx.context():
        for path, content in MODEL_FILES.items():
            default_storage.save(f"mlflow/{exp}/models/{model_id}/artifacts/{path}", ContentFile(content))
    return exp, run_id, model_id


def _register(mlflow: Mlflow, name: str, model_id: str, **extra) -> dict:
    mlflow.ok("post", "registered-models/create", {"name": name})
    body = {"name": name, "source": f"models:/{model_id}", "model_id": model_id, **extra}
    return mlflow.ok("post", "model-versions/create", body)["model_version"]


def test_register_a_logged_model_and_resolve_it_by_version_and_alias(tenant_a, mlflow_a, logged):
    exp, run_id, model_id = logged
    created = mlflow_a.ok("post", "registered-models/create", {"name": "churn", "description": "churn model"})
    assert created["registered_model"]["name"] == "churn"
    assert created["registered_model"]["description"] == "churn model"
    version = mlflow_a.ok("post", "model-versions/create", {
        "name": "churn", "source": f"models:/{model_id}", "model_id": model_id, "run_link": "",
        "tags": [{"key": "stage", "value": "candidate"}]})["model_version"]  # fmt: skip
    assert version["version"] == "1" and version["source"] == f"models:/{model_id}"
    assert version["run_id"] == run_id and version["status"] == "READY" and version["current_stage"] == "None"
    assert version["tags"] == [{"key": "stage", "value": "candidate"}] and version["user_id"] == "admin"
    uri = mlflow_a.ok("get", "model-versions/get-download-uri", {"name": "churn", "version": "1"})
    assert uri == {"artifact_uri": f"mlflow-artifacts:/{exp}/models/{model_id}/artifacts"}

    mlflow_a.ok("post", "registered-models/alias", {"name": "churn", "alias": "champion", "version": "1"})
    by_alias = mlflow_a.ok("get", "registered-models/alias", {"name": "churn", "alias": "champion"})
    assert by_alias["model_version"]["version"] == "1" and by_alias["model_version"]["aliases"] == ["champion"]
    latest = mlflow_a.ok("get", "registered-models/alias", {"name": "churn", "alias": "latest"})
    assert latest["model_version"]["version"] == "1"
    registered = mlflow_a.ok("get", "registered-models/get", {"name": "churn"})["registered_model"]
    assert registered["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [v["version"] for v in registered["latest_versions"]] == ["1"]
    missing = mlflow_a.get("registered-models/alias", {"name": "churn", "alias": "nope"})
    assert error_of(missing, 400, "INVALID_PARAMETER_VALUE") == "Registered model alias nope not found."
    for reserved in ("latest", "v3"):
        bad = mlflow_a.post("registered-models/alias", {"name": "churn", "alias": reserved, "version": "1"})
        assert "reserved" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    with tenant_a.context():
        tag = LoggedModelTag.objects.get(model__model_id=model_id, key="mlflow.modelVersions")
        assert tag.value == '[{"name": "churn", "version": 1}]'
        assert {"registered_model.created", "model_version.created", "registered_model_alias.created",
                "artifact.created", "artifact_version.created"} <= set(
            AuditEvent.objects.values_list("action", flat=True))  # fmt: skip


def test_a_registered_model_is_a_library_artifact_with_the_same_files(tenant_a, mlflow_a, logged):
    exp, _run_id, model_id = logged
    _register(mlflow_a, "fraud", model_id, description="first cut")
    with tenant_a.context():
        registered = RegisteredModel.objects.select_related("artifact").get(artifact__name="fraud")
        artifact = registered.artifact
        assert artifact.type == "model" and artifact.owner.username == "admin"
        library_version = ArtifactVersion.objects.get(artifact=artifact)
        assert library_version.version == "1.0.0" and library_version.changelog == "first cut"
        assert library_version.storage_prefix == f"mlflow/{exp}/models/{model_id}/artifacts"
        assert library_version.blob_id is None  # nothing copied
    listed = mlflow_a.api.get(f"/api/v1/artifacts/{artifact.pk}/versions").json()["results"]
    assert listed[0]["is_folder"] is True and listed[0]["download_url"]
    download = mlflow_a.api.get(listed[0]["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert {name: archive.read(name) for name in archive.namelist()} == MODEL_FILES

    # reuse recorded by a project counts on the artifact like any library usage
    with tenant_a.context():
        project = Project.objects.get(pk=int(exp))
        admin = get_user_model().objects.get(username="admin")
        artifact_services.artifact_usage_create(project=project, artifact_version=library_version, used_by=admin)
        assert Artifact.objects.get(pk=artifact.pk).usage_count == 1
    refused = mlflow_a.delete("model-versions/delete", {"name": "fraud", "version": "1"})
    assert "used by 1 project" in error_of(refused, 400, "INVALID_PARAMETER_VALUE")
    refused = mlflow_a.delete("registered-models/delete", {"name": "fraud"})
    assert "used by 1 project" in error_of(refused, 400, "INVALID_PARAMETER_VALUE")
    with tenant_a.context():
        assert ModelVersion.objects.filter(registered_model__artifact__name="fraud").count() == 1

    # describing and renaming the registered model describes and renames the artifact
    mlflow_a.patch("registered-models/update", {"name": "fraud", "description": "v2 pipeline"})
    mlflow_a.ok("post", "registered-models/rename", {"name": "fraud", "new_name": "fraud-detector"})
    mlflow_a.patch("model-versions/update", {"name": "fraud-detector", "version": "1", "description": "retrained"})
    with tenant_a.context():
        artifact.refresh_from_db()
        assert artifact.name == "fraud-detector" and artifact.description == "v2 pipeline"
        assert ArtifactVersion.objects.get(pk=library_version.pk).changelog == "retrained"
    error_of(mlflow_a.get("registered-models/get", {"name": "fraud"}), 404, "RESOURCE_DOES_NOT_EXIST")
    got = mlflow_a.ok("get", "model-versions/get", {"name": "fraud-detector", "version": "1"})["model_version"]
    assert got["description"] == "retrained" and got["name"] == "fraud-detector"


def test_names_sources_and_versions_follow_mlflows_rules(tenant_a, mlflow_a, logged):
    exp, run_id, model_id = logged
    _register(mlflow_a, "rules", model_id)
    duplicate = mlflow_a.post("registered-models/create", {"name": "rules"})
    assert error_of(duplicate, 400, "RESOURCE_ALREADY_EXISTS") == "Registered Model (name=rules) already exists."
    with tenant_a.context():
        Artifact.objects.create(name="a-dataset", type="dataset")
    taken = mlflow_a.post("registered-models/create", {"name": "a-dataset"})
    assert "artifact library already has an artifact named 'a-dataset'" in error_of(
        taken, 400, "RESOURCE_ALREADY_EXISTS"
    )
    assert "cannot contain '/'" in error_of(mlflow_a.post("registered-models/create", {"name": "a/b"}), 400,
                                            "INVALID_PARAMETER_VALUE")  # fmt: skip
    error_of(mlflow_a.post("registered-models/create", {}), 400, "INVALID_PARAMETER_VALUE")
    bad_version = mlflow_a.get("model-versions/get", {"name": "rules", "version": "x"})
    assert error_of(bad_version, 400, "INVALID_PARAMETER_VALUE") == "Parameter 'version' must be an integer, got 'x'."
    missing = mlflow_a.get("model-versions/get", {"name": "rules", "version": "7"})
    assert error_of(missing, 404, "RESOURCE_DOES_NOT_EXIST") == "Model Version (name=rules, version=7) not found"

    def create(**body):
        return mlflow_a.post("model-versions/create", {"name": "rules", **body})

    assert "model_id request parameter" in error_of(create(source=f"models:/{model_id}"), 400,
                                                    "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert "run_id request parameter" in error_of(create(source=f"runs:/{run_id}/model"), 400,
                                                  "INVALID_PARAMETER_VALUE")  # fmt: skip
    other_run = mlflow_a.run(exp)["info"]["run_id"]
    mismatch = create(source=f"runs:/{run_id}/model", run_id=other_run)
    error_of(mismatch, 400, "INVALID_PARAMETER_VALUE")
    outside = create(source=f"mlflow-artifacts:/{exp}/{other_run}/artifacts/model", run_id=run_id)
    error_of(outside, 400, "INVALID_PARAMETER_VALUE")
    assert "relative path" in error_of(create(source=f"mlflow-artifacts:/{exp}/{run_id}/artifacts/../../x",
                                              run_id=run_id), 400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert "local path" in error_of(create(source="/etc/passwd"), 400, "INVALID_PARAMETER_VALUE")
    # a run's own artifacts, and a copy of another version
    from_run = mlflow_a.ok("post", "model-versions/create", {"name": "rules", "source": f"runs:/{run_id}/model",
                                                             "run_id": run_id})["model_version"]  # fmt: skip
    assert from_run["version"] == "2" and from_run["run_id"] == run_id
    copied = mlflow_a.ok("post", "model-versions/create", {"name": "rules", "source": "models:/rules/1"})
    assert copied["model_version"]["source"] == "models:/rules/1" and copied["model_version"]["version"] == "3"
    with tenant_a.context():
        prefixes = dict(ArtifactVersion.objects.filter(artifact__name="rules").values_list("version", "storage_prefix"))
    assert prefixes == {"1.0.0": f"mlflow/{exp}/models/{model_id}/artifacts",
                        "2.0.0": f"mlflow/{exp}/{run_id}/artifacts/model",
                        "3.0.0": f"mlflow/{exp}/models/{model_id}/artifacts"}  # fmt: skip
    # deleted numbers are not given again; aliases of a deleted version go with it
    mlflow_a.ok("post", "registered-models/alias", {"name": "rules", "alias": "best", "version": "3"})
    assert mlflow_a.delete("model-versions/delete", {"name": "rules", "version": "3"}).status_code == 200
    assert "best" not in str(mlflow_a.ok("get", "registered-models/get", {"name": "rules"}))
    again = mlflow_a.ok("post", "model-versions/create", {"name": "rules", "source": f"models:/{model_id}",
                                                          "model_id": model_id})  # fmt: skip
    assert again["model_version"]["version"] == "4"


def test_stages_are_answered_as_mlflow_3_does(mlflow_a, logged):
    _exp, _run_id, model_id = logged
    _register(mlflow_a, "staged", model_id)
    _register_again = {"name": "staged", "source": f"models:/{model_id}", "model_id": model_id}
    mlflow_a.ok("post", "model-versions/create", _register_again)
    moved = mlflow_a.ok("post", "model-versions/transition-stage", {"name": "staged", "version": "1",
                                                                    "stage": "production"})  # fmt: skip
    assert moved["model_version"]["current_stage"] == "Production"
    mlflow_a.ok("post", "model-versions/transition-stage", {"name": "staged", "version": "2", "stage": "Production",
                                                            "archive_existing_versions": True})  # fmt: skip
    found = mlflow_a.ok("get", "model-versions/search", {"filter": "name = 'staged'"})["model_versions"]
    stages = {v["version"]: v["current_stage"] for v in found}
    assert stages == {"1": "Archived", "2": "Production"}
    latest = mlflow_a.ok("post", "registered-models/get-latest-versions", {"name": "staged", "stages": ["Production"]})
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    everything = mlflow_a.ok("get", "registered-models/get-latest-versions", {"name": "staged"})
    assert sorted(v["current_stage"] for v in everything["model_versions"]) == ["Archived", "Production"]
    bad = mlflow_a.post("model-versions/transition-stage", {"name": "staged", "version": "1", "stage": "Live"})
    assert "Invalid Model Version stage: Live" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    archive_none = mlflow_a.post("model-versions/transition-stage", {"name": "staged", "version": "1",
                                                                     "stage": "None",
                                                                     "archive_existing_versions": True})  # fmt: skip
    assert "is not an Active stage" in error_of(archive_none, 400, "INVALID_PARAMETER_VALUE")


def test_search_registered_models_and_versions_with_mlflows_filters(mlflow_a, logged):
    _exp, run_id, model_id = logged
    for name in ("alpha-model", "beta-model", "gamma"):
        _register(mlflow_a, name, model_id)
    mlflow_a.ok("post", "registered-models/set-tag", {"name": "beta-model", "key": "team", "value": "vision"})

    def names(**query):
        found = mlflow_a.ok("get", "registered-models/search", query)
        return [m["name"] for m in found.get("registered_models", [])]

    assert names(filter="name LIKE '%-model'") == ["alpha-model", "beta-model"]
    assert names(filter="tags.team = 'vision'") == ["beta-model"]
    assert names(filter="name ILIKE 'GAMMA'") == ["gamma"]
    assert names(order_by=["name DESC"]) == ["gamma", "beta-model", "alpha-model"]
    first = mlflow_a.ok("get", "registered-models/search", {"max_results": 2})
    assert len(first["registered_models"]) == 2
    rest = mlflow_a.ok("get", "registered-models/search", {"max_results": 2, "page_token": first["next_page_token"]})
    assert [m["name"] for m in rest["registered_models"]] == ["gamma"]
    mlflow_a.ok("post", "registered-models/create", {"name": "a-prompt", "tags": [
        {"key": "mlflow.prompt.is_prompt", "value": "true"}]})  # fmt: skip
    assert "a-prompt" not in names()  # MLflow's searches leave prompts out unless the filter asks for them
    assert names(filter="tags.`mlflow.prompt.is_prompt` = 'true'") == ["a-prompt"]
    bad = mlflow_a.get("registered-models/search", {"filter": "description = 'x'"})
    assert "Invalid attribute key 'description'" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    too_many = mlflow_a.get("registered-models/search", {"max_results": 1001})
    error_of(too_many, 400, "INVALID_PARAMETER_VALUE")

    versions = mlflow_a.ok("get", "model-versions/search", {"filter": f"run_id = '{run_id}'"})["model_versions"]
    assert sorted(v["name"] for v in versions) == ["alpha-model", "beta-model", "gamma"]
    one = mlflow_a.ok("get", "model-versions/search", {"filter": "name = 'gamma' AND version_number >= 1"})
    assert [(v["name"], v["version"]) for v in one["model_versions"]] == [("gamma", "1")]
    assert mlflow_a.ok("get", "model-versions/search", {"filter": "version_number > 1"}) == {}
    error_of(mlflow_a.get("model-versions/search", {"filter": "version_number > 'x'"}), 400, "INVALID_PARAMETER_VALUE")
    mlflow_a.ok("post", "model-versions/set-tag", {"name": "gamma", "version": "1", "key": "ok", "value": "yes"})
    tagged = mlflow_a.ok("get", "model-versions/search", {"filter": "tags.ok = 'yes'"})["model_versions"]
    assert [v["name"] for v in tagged] == ["gamma"]
    assert (
        mlflow_a.delete("model-versions/delete-tag", {"name": "gamma", "version": "1", "key": "ok"}).status_code == 200
    )


def test_registry_objects_follow_the_artifacts_permissions(tenant_a, mlflow_a, logged):
    _exp, _run_id, model_id = logged
    _register(mlflow_a, "guarded-model", model_id)
    viewer = Mlflow(tenant_a, make_principal(tenant_a, "viewer").token)
    assert viewer.ok("get", "registered-models/get", {"name": "guarded-model"})["registered_model"]["name"]
    assert error_of(viewer.post("registered-models/create", {"name": "v"}), 403, "PERMISSION_DENIED")
    member = make_principal(tenant_a, "member")
    as_member = Mlflow(tenant_a, member.token)
    body = {"name": "guarded-model", "source": f"models:/{model_id}", "model_id": model_id}
    assert "change" in error_of(as_member.post("model-versions/create", body), 403, "PERMISSION_DENIED")
    alias = {"name": "guarded-model", "alias": "prod", "version": "1"}
    error_of(as_member.post("registered-models/alias", alias), 403, "PERMISSION_DENIED")
    with tenant_a.context():
        artifact = Artifact.objects.get(name="guarded-model")
        admin = get_user_model().objects.get(username="admin")
        grant_set(actor=admin, obj=artifact, level="change", user=member.user)
    # with change on the artifact the member may add versions of a model from a project it can see (tenant-visible)
    assert as_member.post("registered-models/alias", alias).status_code == 200
    assert error_of(as_member.delete("registered-models/delete", {"name": "guarded-model"}), 403, "PERMISSION_DENIED")
    read_token = Mlflow(tenant_a, make_principal(tenant_a, "owner", scope="read").token)
    assert "scope" in error_of(read_token.post("registered-models/create", {"name": "r"}), 403, "PERMISSION_DENIED")
    assert read_token.ok("get", "model-versions/get", {"name": "guarded-model", "version": "1"})


def test_another_tenant_cannot_list_read_or_overwrite_registry_objects(tenant_a, tenant_b, mlflow_a, mlflow_b, logged):
    _exp, run_id, model_id = logged
    _register(mlflow_a, "secret-model", model_id)
    mlflow_a.ok("post", "registered-models/alias", {"name": "secret-model", "alias": "prod", "version": "1"})
    assert mlflow_b.ok("get", "registered-models/search", {}) == {}
    assert mlflow_b.ok("get", "model-versions/search", {"filter": f"run_id = '{run_id}'"}) == {}
    for response in (
        mlflow_b.get("registered-models/get", {"name": "secret-model"}),
        mlflow_b.get("model-versions/get", {"name": "secret-model", "version": "1"}),
        mlflow_b.get("model-versions/get-download-uri", {"name": "secret-model", "version": "1"}),
        mlflow_b.get("registered-models/alias", {"name": "secret-model", "alias": "prod"}),
        mlflow_b.post("registered-models/alias", {"name": "secret-model", "alias": "prod", "version": "1"}),
        mlflow_b.patch("registered-models/update", {"name": "secret-model", "description": "mine"}),
        mlflow_b.post("registered-models/rename", {"name": "secret-model", "new_name": "stolen"}),
        mlflow_b.delete("registered-models/delete", {"name": "secret-model"}),
        mlflow_b.post(
            "model-versions/create", {"name": "secret-model", "source": f"models:/{model_id}", "model_id": model_id}
        ),
        mlflow_b.post("model-versions/transition-stage", {"name": "secret-model", "version": "1", "stage": "Archived"}),
        mlflow_b.delete("model-versions/delete", {"name": "secret-model", "version": "1"}),
    ):
        error_of(response, 404, "RESOURCE_DOES_NOT_EXIST")
    # B may use the same name in its own registry, and cannot register A's logged model into it
    mlflow_b.ok("post", "registered-models/create", {"name": "secret-model"})
    stolen = mlflow_b.post("model-versions/create", {"name": "secret-model", "source": f"models:/{model_id}",
                                                     "model_id": model_id})  # fmt: skip
    assert "model_id request parameter" in error_of(stolen, 400, "INVALID_PARAMETER_VALUE")
    with tenant_a.context():
        version = ModelVersion.objects.get(registered_model__artifact__name="secret-model")
        assert version.stage == "None" and version.registered_model.artifact.description == ""
        assert version.aliases.get().alias == "prod"
    with tenant_b.context():
        assert not ModelVersion.objects.exists()
