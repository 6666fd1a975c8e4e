"""The integrations API: create (secret shown once), list, change, rotate, delete, deliveries, re-process;
permissions; tenant isolation; OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from apps.access import policy
from apps.access.services import grant_set
from apps.accounts.services import token_create, user_create
from apps.audit.models import AuditEvent
from apps.integrations.models import Commit, Integration, WebhookDelivery
from apps.projects.models import Project, TeamMember
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.payloads import deliver_github, deliver_gitlab, gh_commit, gh_push, gl_commit, gl_push

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _token(ctx, username="admin", *, role="member", scope="write") -> str:
    with ctx.context():
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            user = user_create(username=username, email=f"{username}@x.test", password="a-long-password-1", role=role)
        return token_create(user=user, name="t", scope=scope).plaintext


def _url(project, suffix=""):
    return f"/api/v1/projects/{project.pk}/integrations{suffix}"


def test_create_shows_the_secret_once_and_the_webhook_url_on_the_tenant_host(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
    api = tenant_a.api(_token(tenant_a))
    created = api.post(_url(project), {"provider": "github", "name": " acme/churn "}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) == 70
    assert body["name"] == "acme/churn" and body["provider"] == "github" and body["created_by"] == "admin"
    assert body["webhook_url"] == f"http://alpha.localhost/api/v1/webhooks/{body['webhook_id']}"
    listed = api.get(_url(project)).json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    assert all("secret" not in item for item in listed["results"])
    assert "secret" not in api.get(_url(project, f"/{body['id']}")).json()
    # The secret works: a delivery signed with it is accepted.
    with tenant_a.context():
        integration = Integration.objects.get(pk=body["id"])
    payload = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github(tenant_a.host, integration, body["secret"], "push", payload).status_code == 200


def test_webhook_url_names_the_tenant_host_when_called_on_the_platform_host(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
    api = tenant_a.api(_token(tenant_a), host="localhost")
    body = api.post(_url(project), {"provider": "gitlab", "name": "acme/vision"}, format="json").json()
    assert body["webhook_url"].startswith("http://alpha.localhost/api/v1/webhooks/")
    assert body["secret"].startswith("glwh_")
    with tenant_a.context():
        integration = Integration.objects.get(pk=body["id"])
    payload = gl_push([gl_commit("g1", at=T0)])
    assert deliver_gitlab(tenant_a.host, integration, body["secret"], "Push Hook", payload).status_code == 200


def test_create_errors_name_the_field_and_write_nothing(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
    api = tenant_a.api(_token(tenant_a))
    response = api.post(_url(project), {"provider": "bitbucket", "name": ""}, format="json")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"provider", "name"}
    assert api.post(_url(project), {"provider": "github"}, format="json").json()["errors"][0]["field"] == "name"
    with tenant_a.context():
        assert not Integration.objects.filter(project=project).exists()


def test_update_rotate_deliveries_and_delete(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
        integration, secret = make_integration(project)
    api = tenant_a.api(_token(tenant_a))
    detail = _url(project, f"/{integration.pk}")
    renamed = api.patch(detail, {"name": "acme/renamed", "is_active": False}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "acme/renamed"
    assert renamed.json()["is_active"] is False
    assert api.patch(detail, {"name": "  "}, format="json").json()["errors"][0]["field"] == "name"
    api.patch(detail, {"is_active": True}, format="json")

    rotated = api.post(detail + "/rotate-secret").json()
    assert rotated["secret"] != secret and rotated["secret_rotated_at"] is not None
    payload = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github(tenant_a.host, integration, secret, "push", payload).status_code == 401
    assert (
        deliver_github(tenant_a.host, integration, rotated["secret"], "push", payload, delivery="d-9").status_code
        == 200
    )

    deliveries = api.get(detail + "/deliveries").json()
    assert [(d["delivery_id"], d["event"], d["status"]) for d in deliveries["results"]] == [
        ("d-9", "push", "processed")
    ]
    assert "payload" not in deliveries["results"][0]

    assert api.delete(detail).status_code == 204
    with tenant_a.context():
        assert not Integration.objects.filter(pk=integration.pk).exists()
        assert not WebhookDelivery.objects.filter(integration_id=integration.pk).exists()
        assert not Commit.objects.filter(project=project).exists()
    assert api.get(detail).status_code == 404


def test_permissions(tenant_a):
    """Viewers read but do not manage; members manage only projects they own or are on the team of; private
    projects are invisible to others; read-scoped tokens cannot manage."""
    with tenant_a.context():
        owner = user_create(username="owner1", email="o1@x.test", password="a-long-password-1", role="member")
        public = ProjectFactory(owner=owner)
        private = ProjectFactory(visibility="private", owner=owner)
        integration, _ = make_integration(public)
    viewer = tenant_a.api(_token(tenant_a, "viewer1", role="viewer"))
    member = tenant_a.api(_token(tenant_a, "member1", role="member"))
    owner_read = tenant_a.api(_token(tenant_a, "owner1", scope="read"))
    owner_write = tenant_a.api(_token(tenant_a, "owner1"))
    new = {"provider": "github", "name": "x"}

    assert viewer.get(_url(public)).status_code == 200
    assert viewer.get(f"/api/v1/projects/{public.pk}/delivery-metrics").status_code == 200
    assert viewer.post(_url(public), new, format="json").status_code == 403
    assert member.post(_url(public), new, format="json").status_code == 403
    assert member.post(_url(public, f"/{integration.pk}/rotate-secret")).status_code == 403
    assert owner_read.post(_url(public), new, format="json").status_code == 403
    assert owner_write.post(_url(public), new, format="json").status_code == 201

    for client in (viewer, member):
        assert client.get(_url(private)).status_code == 404
        assert client.get(f"/api/v1/projects/{private.pk}/delivery-metrics").status_code == 404
    assert owner_write.get(_url(private)).status_code == 200

    with tenant_a.context():
        TeamMember.objects.create(
            project=private, user=get_user_model().objects.get(username="member1"), display_name="M",
            role="ml_engineer", experience_level="mid",
        )  # fmt: skip
    assert member.post(_url(private), new, format="json").status_code == 201
    assert tenant_a.api().get(_url(public)).status_code == 401
    assert tenant_a.api(_token(tenant_a)).get("/api/v1/projects/999999/integrations").status_code == 404


def test_object_grants_count_as_on_the_project(tenant_a):
    """Integrations follow the access matrix like every resource: a view grant on a private project shows its
    delivery data, a change grant lets a member manage its integrations, a viewer's change grant does not."""
    with tenant_a.context():
        owner = user_create(username="owner2", email="o2@x.test", password="a-long-password-1", role="lead")
        private = ProjectFactory(visibility="private", owner=owner)
    viewer = tenant_a.api(_token(tenant_a, "viewer2", role="viewer"))
    member = tenant_a.api(_token(tenant_a, "member2", role="member"))
    new = {"provider": "github", "name": "granted"}
    for client in (viewer, member):
        assert client.get(_url(private)).status_code == 404
    users = get_user_model().objects
    with tenant_a.context():
        grant_set(actor=owner, obj=private, level=policy.VIEW, user=users.get(username="viewer2"))
        grant_set(actor=owner, obj=private, level=policy.VIEW, user=users.get(username="member2"))
    assert viewer.get(_url(private)).status_code == 200
    assert viewer.get(f"/api/v1/projects/{private.pk}/delivery-metrics").status_code == 200
    assert member.post(_url(private), new, format="json").status_code == 403
    with tenant_a.context():
        grant_set(actor=owner, obj=private, level=policy.CHANGE, user=users.get(username="member2"))
        grant_set(actor=owner, obj=private, level=policy.CHANGE, user=users.get(username="viewer2"))
    assert member.post(_url(private), new, format="json").status_code == 201
    assert viewer.post(_url(private), {**new, "name": "viewer's"}, format="json").status_code == 403


def test_another_tenant_sees_none_of_the_integrations(tenant_a, tenant_b):
    with tenant_a.context():
        project = ProjectFactory()
        integration, _ = make_integration(project)
    token_b = _token(tenant_b)
    with tenant_b.context():
        assert not Project.objects.filter(pk=project.pk).exists()
    api_b = tenant_b.api(token_b)
    for path in (_url(project), _url(project, f"/{integration.pk}"), _url(project, f"/{integration.pk}/deliveries")):
        response = api_b.get(path)
        assert response.status_code == 404
        assert str(integration.webhook_id) not in response.content.decode()
    assert api_b.post(_url(project, f"/{integration.pk}/rotate-secret")).status_code == 404
    assert api_b.get(_url(project), HTTP_HOST="localhost").status_code == 404  # routed to B by B's token
    assert tenant_b.api(_token(tenant_a)).get(_url(project)).status_code == 401


def test_a_reprocess_request_and_its_completion_are_audited(tenant_a, tenant_b):
    """Both writes of ``reprocess_requested_at`` bypass ``save()``: each records one ``integration.bulk_updated``
    event naming the integration, who acted and the field's change; the other tenant's trail has neither."""
    from apps.integrations.tasks import reprocess_integration

    with tenant_a.context():
        integration, _ = make_integration(ProjectFactory())
        start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    with tenant_b.context():
        b_start = AuditEvent.objects.count()
    response = tenant_a.api(_token(tenant_a)).post(_url(integration.project, f"/{integration.pk}/reprocess"))
    assert response.status_code == 202
    with tenant_a.context():
        requested_at = Integration.objects.get(pk=integration.pk).reprocess_requested_at
    assert requested_at is not None
    assert reprocess_integration(schema_name="alpha", integration_id=integration.pk) is not None
    with tenant_a.context():
        trail = list(AuditEvent.objects.filter(id__gt=start, object_type="integrations.integration").order_by("id"))
    assert [(e.action, e.extra["ids"], e.actor_type, e.actor_username) for e in trail] == [
        ("integration.bulk_updated", [integration.pk], "token", "admin"),
        ("integration.bulk_updated", [integration.pk], "system", ""),
    ]
    assert trail[0].changes == {"reprocess_requested_at": {"before": [None], "after": requested_at.isoformat()}}
    assert trail[1].changes == {"reprocess_requested_at": {"before": [requested_at.isoformat()], "after": None}}
    with tenant_b.context():
        assert AuditEvent.objects.count() == b_start


def test_openapi_schema_describes_the_integration_endpoints(tenant_a):
    schema = tenant_a.api(_token(tenant_a)).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/v1/projects/{project_pk}/integrations/" in paths
    assert "/api/v1/projects/{project_pk}/integrations/{id}/rotate-secret/" in paths
    assert "/api/v1/projects/{project_pk}/integrations/{id}/reprocess/" in paths
    metrics = paths["/api/v1/projects/{project_pk}/delivery-metrics/"]["get"]
    assert {p["name"] for p in metrics["parameters"]} >= {"project_pk", "from", "to"}
    webhook = paths["/api/v1/webhooks/{webhook_id}/"]["post"]
    assert webhook.get("security", []) in ([], [{}])  # signed by the provider, no Maestro credentials
    assert {"200", "202", "400", "401", "404", "413"} <= set(webhook["responses"])
    created = paths["/api/v1/projects/{project_pk}/integrations/"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "secret" in schema["components"]["schemas"][ref]["properties"]
