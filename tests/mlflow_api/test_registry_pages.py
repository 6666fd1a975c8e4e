"""The model registry in the dashboard (list and detail pages) and in the Django admin: what a registered model shows
(versions, aliases, source run, download), scoped by permissions, and nothing of another tenant."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.metrics.models import Run
from apps.mlflow_api.models import RegisteredModel
from tests.dashboard.helpers import signed_in, text
from tests.mlflow_api.conftest import Mlflow
from tests.support.access import make_project

pytestmark = pytest.mark.django_db


def _registered(mlflow: Mlflow, name: str, *, run_id: str | None = None, exp: str | None = None) -> tuple[str, str]:
    exp = exp or mlflow.experiment(f"{name}-exp")
    run_id = run_id or mlflow.run(exp, run_name=f"{name}-run")["info"]["run_id"]
    model_id = mlflow.ok("post", "logged-models", {"experiment_id": exp, "source_run_id": run_id})["model"]["info"][
        "model_id"
    ]
    with mlflow.ctx.context():
        default_storage.save(f"mlflow/{exp}/models/{model_id}/artifacts/MLmodel", ContentFile(b"flavors: {}\n"))
    mlflow.ok("post", "registered-models/create", {"name": name, "description": f"{name} description"})
    mlflow.ok("post", "model-versions/create", {"name": name, "source": f"models:/{model_id}", "model_id": model_id})
    return run_id, model_id


def test_registry_pages_show_versions_aliases_source_runs_and_downloads(tenant_a, mlflow_a):
    run_id, model_id = _registered(mlflow_a, "page-model")
    mlflow_a.ok("post", "model-versions/create", {"name": "page-model", "source": f"models:/{model_id}",
                                                  "model_id": model_id, "description": "second"})  # fmt: skip
    mlflow_a.ok("post", "registered-models/alias", {"name": "page-model", "alias": "champion", "version": "2"})
    _registered(mlflow_a, "other-model")
    person = signed_in(tenant_a)
    listing = person.client.get("/registry/").content.decode()
    table = listing.split('data-testid="registry-table"', 1)[1]
    assert re.findall(r'<a href="/registry/(\d+)/">([^<]+)</a>', table)[0][1] in ("page-model", "other-model")
    row = text(table.split('data-model="page-model"', 1)[1].split("</tr>", 1)[0])
    assert "page-model description" in row and "@champion → 2" in row and " 2 " in f" {row} "
    searched = text(person.client.get("/registry/?q=other").content.decode())
    assert "other-model" in searched and "page-model" not in searched
    assert "Registry" in text(listing.split("<nav", 1)[1].split("</nav>", 1)[0])

    pk = dict((name, pk) for pk, name in re.findall(r'<a href="/registry/(\d+)/">([^<]+)</a>', table))["page-model"]
    detail = person.client.get(f"/registry/{pk}/").content.decode()
    versions = detail.split('data-testid="model-version-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-version="(\d+)">', versions) == ["2", "1"]
    with tenant_a.context():
        run = Run.objects.get(uuid=run_id)
    assert f'href="/runs/{run.pk}/"' in versions and "page-model-run" in versions
    assert versions.count('data-testid="download"') == 2 and "models:/page-model/2" in versions
    assert "@champion" in text(versions.split('data-version="2"', 1)[1].split("</tr>", 1)[0])
    assert "second" in text(versions)
    assert "models:/page-model@champion" in detail
    download = re.search(r'href="(/api/v1/artifacts/\d+/versions/\d+/download)"', versions).group(1)
    zipped = person.client.get(download)
    assert zipped.status_code == 200 and zipped["Content-Type"] == "application/zip"
    assert person.client.get("/registry/999999/").status_code == 404


def test_a_source_run_the_user_cannot_see_is_not_linked(tenant_a, mlflow_a):
    with tenant_a.context():
        hidden = make_project("Hidden registry source", visibility="private")
        run = Run.objects.create(project=hidden, name="secret-run", start_time=timezone.now())
    _registered(mlflow_a, "hidden-source", run_id=run.uuid.hex, exp=str(hidden.pk))
    person = signed_in(tenant_a, role="member", username="registry-member")
    listing = person.client.get("/registry/").content.decode()
    pk = re.search(r'<a href="/registry/(\d+)/">hidden-source</a>', listing).group(1)
    detail = person.client.get(f"/registry/{pk}/").content.decode()
    versions = detail.split('data-testid="model-version-table"', 1)[1]
    assert f"/runs/{run.pk}/" not in versions and "secret-run" not in versions
    assert run.uuid.hex[:12] in versions


def test_another_tenant_sees_no_registered_model_in_pages_or_admin(tenant_a, tenant_b, mlflow_a):
    _run_id, model_id = _registered(mlflow_a, "alpha-only-model")
    admin_a = signed_in(tenant_a)
    assert "alpha-only-model" in admin_a.client.get("/admin/mlflow_api/registeredmodel/").content.decode()
    assert "alpha-only-model" in admin_a.client.get("/admin/mlflow_api/modelversion/").content.decode()
    assert model_id in admin_a.client.get("/admin/mlflow_api/loggedmodel/").content.decode()
    assert admin_a.client.get("/admin/mlflow_api/registeredmodel/add/").status_code == 403
    with tenant_a.context():
        registered_pk = RegisteredModel.objects.get(artifact__name="alpha-only-model").pk
    person_b = signed_in(tenant_b)
    assert "alpha-only-model" not in person_b.client.get("/registry/").content.decode()
    assert person_b.client.get(f"/registry/{registered_pk}/").status_code == 404
    for page in ("registeredmodel", "modelversion", "loggedmodel"):
        body = person_b.client.get(f"/admin/mlflow_api/{page}/").content.decode()
        assert "alpha-only-model" not in body and model_id not in body


def test_registry_pages_read_a_bounded_number_of_queries(tenant_a, mlflow_a):
    """The list and a model's page run the same number of statements with three times the models and versions."""
    person = signed_in(tenant_a)
    counts = {}
    for scale in (1, 3):
        for index in range(scale):
            name = f"bounded-{scale}-{index}"
            _run_id, model_id = _registered(mlflow_a, name)
            version = {"name": name, "source": f"models:/{model_id}", "model_id": model_id}
            for _ in range(scale - 1):
                mlflow_a.ok("post", "model-versions/create", version)
            mlflow_a.ok("post", "registered-models/alias", {"name": name, "alias": "prod", "version": "1"})
        with tenant_a.context():
            pk = RegisteredModel.objects.get(artifact__name=f"bounded-{scale}-0").pk
        with CaptureQueriesContext(connection) as listing:
            assert person.client.get("/registry/").status_code == 200
        with CaptureQueriesContext(connection) as detail:
            assert person.client.get(f"/registry/{pk}/").status_code == 200
        counts[scale] = (len(listing), len(detail))
    assert counts[1] == counts[3], counts
    assert counts[1][0] <= 9 and counts[1][1] <= 13, counts  # +1 each: the notification bell
