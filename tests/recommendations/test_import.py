"""Bulk import of historical projects and the training-data export: all or nothing with every row's errors, one
write for the rate limits, bounded by the quota, invisible to other tenants; the export is what the model trained on."""

from __future__ import annotations

import csv
import io
import json
import uuid

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from guardian.shortcuts import get_perms

from apps.artifacts.models import Artifact, ArtifactUsage
from apps.audit.models import AuditEvent
from apps.projects.models import Project, TeamMember
from apps.projects.services import project_attribute_create
from apps.recommendations import services
from apps.recommendations.choices import RunKind
from apps.recommendations.demo.generate import CATALOG, import_rows
from apps.recommendations.demo.write import ensure_artifacts
from apps.recommendations.ml.predict import deserialize_training_data
from apps.recommendations.models import SuccessModel, TrainingRun
from apps.tenants.models import Tenant
from maestro.api import throttling
from tests.recommendations.support import LENIENT_GATE, user_with_token

pytestmark = pytest.mark.django_db


def demo_rows(n: int, seed: int = 3) -> list[dict]:
    return import_rows(n, seed)


def jsonl(rows: list[dict]) -> str:
    return "\n".join(json.dumps(row) for row in rows)


@pytest.fixture
def importer(tenant_a):
    with tenant_a.context():
        ensure_artifacts(None)
    user, token = user_with_token(tenant_a, "importer", "lead")
    return user, tenant_a.api(token)


def post(api, body: str, query: str = "", content_type: str = "application/x-ndjson"):
    return api.generic("POST", f"/api/v1/projects/import{query}", body.encode(), content_type=content_type)


def test_a_thousand_projects_import_in_one_request(tenant_a, importer):
    user, api = importer
    rows = demo_rows(1000)
    response = post(api, jsonl(rows))
    assert response.status_code == 201, response.content[:2000]
    body = response.json()
    members = sum(len(r["team_members"]) for r in rows)
    usages = sum(len(r["artifact_usages"]) for r in rows)
    assert body["imported"] == 1000 and body["team_members"] == members and body["artifact_usages"] == usages
    with tenant_a.context():
        imported = Project.objects.filter(pk__in=body["project_ids"])
        assert imported.count() == 1000 and TeamMember.objects.filter(project__in=imported).count() == members
        assert set(imported.values_list("status", flat=True)) == {"completed"}
        first = imported.get(pk=body["project_ids"][0])
        assert first.success_score == rows[0]["success_score"] and first.owner == user
        assert "manage_project" in get_perms(user, first)
        name = rows[0]["artifact_usages"][0]["artifact"] if rows[0]["artifact_usages"] else CATALOG[0].name
        artifact = Artifact.objects.get(name=name)
        assert artifact.usage_count == ArtifactUsage.objects.filter(artifact=artifact).count() > 0
        assert AuditEvent.objects.filter(action="project.bulk_created").exists()
        run = TrainingRun.objects.get(pk=body["embedding_run_id"])
        assert run.kind == "embeddings" and len(run.params["project_ids"]) == 1000


def test_a_file_with_bad_rows_imports_nothing_and_names_every_row_and_field(tenant_a, importer):
    _user, api = importer
    rows = demo_rows(6)
    rows[1]["team_members"][0]["role"] = "wizard"
    rows[4]["complexity_score"] = 500
    rows[4]["artifact_usages"] = [{"artifact": "no-such-artifact", "version": "1.0.0"}]
    with tenant_a.context():
        before = Project.objects.count()
    response = post(api, jsonl(rows) + "\n{not json}")
    assert response.status_code == 400
    errors = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert {(2, "team_members[0].role"), (5, "complexity_score"), (5, "artifact_usages[0]"), (7, "row")} <= errors
    assert "nothing was imported" in response.json()["detail"]
    dry = post(api, jsonl(rows[:1]), "?dry_run=true")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True and dry.json()["imported"] == 0
    with tenant_a.context():
        assert Project.objects.count() == before


def test_csv_import_with_attributes_and_the_projects_quota(tenant_a, importer):
    _user, api = importer
    with tenant_a.context():
        project_attribute_create(data={"key": "domain", "label": "Domain", "kind": "category",
                                       "choices": ["risk", "ops"]})  # fmt: skip
    text = (
        "name,problem_class,complexity_score,start_date,completion_date,success_score,tags,team_members,"
        "artifact_usages,attr.domain\n"
        "CSV one,nlp,40,2025-01-01,2025-05-01,71.5,a;b,ml_engineer/senior/8/300; analyst/junior/1/200,"
        "eda-starter-notebook@1.0.0,risk\n"
        "CSV two,vision,55,2025-02-01,2025-06-01,64,,data_engineer/mid/4/250,,ops\n"
    )
    response = post(api, text, content_type="text/csv")
    assert response.status_code == 201, response.content
    with tenant_a.context():
        one = Project.objects.get(name="CSV one")
        assert one.attributes == {"domain": "risk"} and one.tags == ["a", "b"] and one.team_members.count() == 2
        assert one.artifact_usages.get().used_at.date().isoformat() == "2025-01-01"  # planned at the start
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_projects=Project.objects.count() + 1)
        before = Project.objects.count()
    over = post(api, jsonl(demo_rows(2)))
    assert over.status_code == 403 and over.json()["code"] == "quota_exceeded"
    with tenant_a.context():
        assert Project.objects.count() == before


def test_the_import_counts_as_one_write_and_other_tenants_see_nothing(tenant_a, tenant_b, importer):
    _user, api = importer
    with override_settings(MAESTRO_RATE_LIMIT_KEY_PREFIX=f"test-rl-{uuid.uuid4().hex}"):
        throttling.limiter.reset()
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(rate_limits={"write": {"user": "2/hour", "tenant": None}})
        try:
            assert post(api, jsonl(demo_rows(50))).status_code == 201  # 50 projects: one write
            assert api.post("/api/v1/projects", {"name": "After the import"}, format="json").status_code == 201
            assert api.post("/api/v1/projects", {"name": "One too many"}, format="json").status_code == 429
        finally:
            Tenant.objects.filter(pk=tenant_a.tenant.pk).update(rate_limits={})
            throttling.limiter.reset()
    _b_user, b_token = user_with_token(tenant_b, "importer-b", "admin")
    listed = tenant_b.api(b_token).get("/api/v1/projects").json()
    assert all(not p["name"].startswith(tuple(r["name"] for r in demo_rows(3))) for p in listed["results"])
    member_api = tenant_a.api(user_with_token(tenant_a, "import-member", "member")[1])
    assert post(member_api, jsonl(demo_rows(1))).status_code == 403


def test_training_data_export_is_what_the_model_trained_on_scoped_to_the_caller(tenant_a, tenant_b, importer, settings):
    settings.RECOMMENDATIONS_SKILL_MARGIN = LENIENT_GATE["RECOMMENDATIONS_SKILL_MARGIN"]
    settings.RECOMMENDATIONS_SKILL_ALPHA = LENIENT_GATE["RECOMMENDATIONS_SKILL_ALPHA"]
    _user, api = importer
    rows = demo_rows(40, seed=8)
    rows[0]["visibility"] = "private"
    assert post(api, jsonl(rows)).status_code == 201
    with tenant_a.context():
        run = services.run_execute(run_id=services.run_request(kind=RunKind.TRAIN, dispatch=False).pk)
        assert run.status == "succeeded", run.error
        model = SuccessModel.objects.get(pk=run.model_id)
        stored = deserialize_training_data(model.training_data)
    admin_api = tenant_a.api(user_with_token(tenant_a, "export-admin", "admin")[1])
    response = admin_api.get(f"/api/v1/models/{model.pk}/training-data")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(table) == len(stored["project_ids"]) == 40 and response["X-Rows-Withheld"] == "0"
    assert list(table[0])[:6] == ["project_id", "success", "cv_predicted", "cv_baseline", "forward_predicted",
                                  "forward_baseline"] and list(table[0])[6:] == model.features  # fmt: skip
    assert np.allclose([float(r["cv_predicted"]) for r in table], stored["cv_predicted"])
    assert sum(r["forward_predicted"] == "" for r in table) >= 15  # the older projects are only trained on
    parquet = pq.read_table(io.BytesIO(admin_api.get(f"/api/v1/models/{model.pk}/training-data?file_format=parquet")
                                       .content))  # fmt: skip
    assert parquet.num_rows == 40 and parquet.column_names[6:] == model.features
    with tenant_a.context():
        exported = AuditEvent.objects.filter(action="model.training_data_exported", object_id=str(model.pk))
        assert [e.extra["format"] for e in exported.order_by("id")] == ["csv", "parquet"]
    member = tenant_a.api(user_with_token(tenant_a, "export-member", "member")[1])
    hidden = member.get(f"/api/v1/models/{model.pk}/training-data")
    assert hidden.status_code == 200 and hidden["X-Rows-Withheld"] == "1"
    assert len(list(csv.DictReader(io.StringIO(hidden.content.decode())))) == 39
    viewer = tenant_a.api(user_with_token(tenant_a, "export-viewer", "viewer")[1])
    assert viewer.get(f"/api/v1/models/{model.pk}/training-data").status_code == 403
    other = tenant_b.api(user_with_token(tenant_b, "export-b", "admin")[1])
    assert other.get(f"/api/v1/models/{model.pk}/training-data").status_code == 404


def test_the_dashboard_upload_imports_and_lists_row_errors(tenant_a, importer):
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    page = client.get("/projects/import")
    assert page.status_code == 200 and b"data-import-form" in page.content and b"project-import.js" in page.content
    rows = demo_rows(3, seed=12)
    good = client.post("/projects/import", {"file": SimpleUploadedFile("p.jsonl", jsonl(rows).encode())})
    assert good.status_code == 201 and good.json()["imported"] == 3
    rows[2]["success_score"] = 300
    bad = client.post("/projects/import?dry_run=true", {"file": SimpleUploadedFile("p.jsonl", jsonl(rows).encode())})
    assert bad.status_code == 400 and {(e["row"], e["field"]) for e in bad.json()["errors"]} == {(3, "success_score")}


def test_hostile_rows_are_row_errors_never_a_server_error(tenant_a, importer):
    _user, api = importer
    lines = [
        json.dumps({"name": "nul \u0000 name"}),
        json.dumps({"name": "not lists", "team_members": 5, "artifact_usages": "x"}),
        json.dumps({"name": "bad types", "start_date": 123, "complexity_score": "lots", "compute_cost": "NaNx"}),
        json.dumps({"name": "bad usage", "artifact_usages": [{"artifact": "eda-starter-notebook", "version": "1.0.0",
                                                              "used_at": "0001-01-01"}]}),
        "[1, 2]",
        "{" * 5000,
    ]  # fmt: skip
    response = post(api, "\n".join(lines))
    assert response.status_code == 400, response.content
    fields = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert {(1, "row"), (2, "team_members"), (2, "artifact_usages"), (3, "complexity_score"), (5, "row"),
            (6, "row")} <= fields  # fmt: skip
    assert post(api, "name\nx\x00y", content_type="text/csv").status_code == 400
    assert post(api, "", content_type="text/csv").status_code == 400
    assert post(api, "{}", content_type="application/octet-stream").json()["errors"][0]["field"] == "file_format"
