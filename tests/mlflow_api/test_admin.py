"""The MLflow state of projects is visible, read-only, in the tenant admin; another tenant's is not."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.mlflow_api.models import Experiment, ExperimentTag
from apps.projects.models import Project


def test_experiments_and_tags_are_listed_read_only_per_tenant(tenant_a, tenant_b):
    with tenant_a.context():
        owner = get_user_model().objects.get(username=tenant_a.admin_username)
        project = Project.objects.create(name="Churn in admin", slug="churn-admin", owner=owner)
        Experiment.objects.create(project=project, artifact_location="mlflow-artifacts:/churn")
        ExperimentTag.objects.create(project=project, key="team", value="growth-squad")
    client = tenant_a.client()
    with tenant_a.context():
        client.force_login(owner)
    page = client.get("/admin/mlflow_api/experiment/").content.decode()
    assert "Churn in admin" in page and "mlflow-artifacts:/churn" in page
    assert "growth-squad" in client.get("/admin/mlflow_api/experimenttag/").content.decode()
    assert client.get("/admin/mlflow_api/experiment/add/").status_code == 403

    with tenant_b.context():
        other = get_user_model().objects.get(username=tenant_b.admin_username)
    client_b = tenant_b.client()
    with tenant_b.context():
        client_b.force_login(other)
    assert "Churn in admin" not in client_b.get("/admin/mlflow_api/experiment/").content.decode()
