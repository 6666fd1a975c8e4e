"""The model registry pages in a real browser (system Chromium via Playwright) against a real gunicorn: a model
registered through MLflow's API is found in the list, its page shows versions, aliases and the source run, the
run link leads to the run, and the download is the model's files. Any console error or failed asset fails the test
(the shared ``page`` fixture)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.artifacts.models import Artifact
from apps.projects.models import Project
from tests.dashboard.test_browser_dashboard import Api, _login, _shot
from tests.integrations.helpers import outside_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FILES = {"MLmodel": b"flavors:\n  sklearn: {}\n", "model.pkl": bytes(range(256)) * 64}


@pytest.fixture(scope="module")
def registered(_session_tenants, django_db_blocker, live_server_url):
    """A run, a logged model with its files in the tenant's storage, and two registered versions (one aliased),
    made through the live server's MLflow API; removed afterwards."""
    alpha = _session_tenants[0]

    def token():
        with alpha.context():
            admin = get_user_model().objects.get(username=alpha.admin_username)
            return token_create(user=admin, name="browser-registry").plaintext

    with django_db_blocker.unblock():
        api = Api(live_server_url, alpha.host, outside_event_loop(token))
        _, exp = api.call("POST", "/api/2.0/mlflow/experiments/create", {"name": "Browser registry"})
        exp = exp["experiment_id"]
        _, run = api.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp, "run_name": "browser-fit"})
        run_id = run["run"]["info"]["run_id"]
        _, model = api.call("POST", "/api/2.0/mlflow/logged-models", {"experiment_id": exp, "source_run_id": run_id})
        model_id = model["model"]["info"]["model_id"]

        def store():
            with alpha.context():
                for name, content in FILES.items():
                    default_storage.save(f"mlflow/{exp}/models/{model_id}/artifacts/{name}", ContentFile(content))

        outside_event_loop(store)
        api.call("POST", "/api/2.0/mlflow/registered-models/create", {"name": "browser-churn", "description": "churn"})
        for _ in range(2):
            status, _ = api.call("POST", "/api/2.0/mlflow/model-versions/create", {
                "name": "browser-churn", "source": f"models:/{model_id}", "model_id": model_id})  # fmt: skip
            assert status == 200
        api.call("POST", "/api/2.0/mlflow/registered-models/alias",
                 {"name": "browser-churn", "alias": "champion", "version": "2"})  # fmt: skip
        yield {"run_id": run_id, "model_id": model_id}

        def remove():
            with alpha.context():
                Artifact.objects.filter(name="browser-churn").delete()
                Project.objects.filter(name="Browser registry").delete()
                ApiToken.objects.filter(name="browser-registry").delete()

        outside_event_loop(remove)


def test_registry_pages_show_a_registered_model_and_download_its_files(
    _session_tenants, registered, live_server_url, page
):
    alpha = _session_tenants[0]
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.get_by_role("link", name="Registry", exact=True).click()
    page.wait_for_url("**/registry/")
    row = page.locator('[data-testid="registry-table"] tr[data-model="browser-churn"]')
    assert "@champion → 2" in row.inner_text()
    _shot(page, "registry")
    row.get_by_role("link", name="browser-churn").click()
    page.wait_for_url("**/registry/*/")
    table = page.locator('[data-testid="model-version-table"]')
    assert [r.get_attribute("data-version") for r in table.locator("tbody tr").all()] == ["2", "1"]
    assert "@champion" in table.locator('tr[data-version="2"]').inner_text()
    assert "models:/browser-churn@champion" in page.locator('[data-testid="alias-table"]').inner_text()
    _shot(page, "registry-model")
    with page.expect_download() as download_info:
        table.locator('tr[data-version="2"] [data-testid="download"]').click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert {name: archive.read(name) for name in archive.namelist()} == FILES
    table.locator('tr[data-version="1"] [data-testid="source-run"]').click()
    page.wait_for_url("**/runs/*/")
    assert "browser-fit" in page.locator("h1").inner_text()
