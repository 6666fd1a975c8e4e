"""The notification bell: the same events, for the projects the user can see (and tenant-wide ones), per tenant;
API, dashboard page and the top bar's count."""

from __future__ import annotations

import pytest

from apps.accounts.services import user_create
from apps.artifacts.models import Artifact
from apps.artifacts.services import artifact_version_create
from apps.webhooks import selectors
from apps.webhooks.models import Event
from tests.support.access import make_principal, make_project
from tests.webhooks.helpers import finish_run

pytestmark = pytest.mark.django_db


def _world(ctx):
    """A member on the team of one private project; another private project; a tenant-visible one; a library
    artifact. One event each (plus the artifact's)."""
    member = make_principal(ctx, "member")
    with ctx.context():
        mine = make_project("Mine", visibility="private", team=[member.user])
        hidden = make_project("Hidden", visibility="private")
        shared = make_project("Shared", visibility="tenant")
        for project in (mine, hidden, shared):
            finish_run(project, f"{project.slug}-run")
        artifact_version_create(
            artifact=Artifact.objects.create(name="lib", type="dataset"), version="1.0.0", user=None
        )
    return member, mine, hidden, shared


def _names(events) -> list[str]:
    return [e.payload.get("project", {}).get("name") or e.type for e in events]


def test_the_bell_shows_events_of_visible_projects_and_tenant_wide_events_only(tenant_a):
    admin = make_principal(tenant_a, "admin")
    member, _mine, _hidden, _shared = _world(tenant_a)
    with tenant_a.context():
        assert _names(selectors.notification_list(user=member.user)) == ["artifact.version_created", "Shared", "Mine"]
        assert _names(selectors.notification_list(user=admin.user)) == [
            "artifact.version_created", "Shared", "Hidden", "Mine",
        ]  # fmt: skip
        assert selectors.notification_unread_count(user=member.user) == 3


def test_a_user_sees_no_events_from_before_they_joined_nor_test_pings(tenant_a):
    _world(tenant_a)
    with tenant_a.context():
        newcomer = user_create(username="newcomer", role="owner")
        Event.objects.create(type="ping", payload={})
        assert list(selectors.notification_list(user=newcomer)) == []


def test_another_tenants_users_see_none_of_a_tenants_events(tenant_a, tenant_b):
    _world(tenant_a)
    beta_owner = make_principal(tenant_b, "owner")
    with tenant_b.context():
        assert list(selectors.notification_list(user=beta_owner.user)) == []
    response = tenant_b.api(beta_owner.token).get("/api/v1/notifications")
    assert response.status_code == 200 and response.json()["results"] == []


def test_the_api_lists_marks_read_and_counts(tenant_a):
    member, *_ = _world(tenant_a)
    api = tenant_a.api(member.token)
    listed = api.get("/api/v1/notifications").json()["results"]
    assert [item["type"] for item in listed] == ["artifact.version_created", "run.finished", "run.finished"]
    assert all(item["unread"] for item in listed)
    assert listed[1]["summary"] == "Run “shared-run” finished in project “Shared”."
    assert api.get("/api/v1/notifications/unread-count").json()["unread"] == 3
    marked = api.post("/api/v1/notifications/read", {"up_to": listed[1]["id"]}, format="json").json()
    assert marked == {"last_read_event_id": listed[1]["id"], "unread": 1}
    assert api.post("/api/v1/notifications/read", {}, format="json").json()["unread"] == 0
    assert [item["unread"] for item in api.get("/api/v1/notifications").json()["results"]] == [False] * 3
    bad = api.post("/api/v1/notifications/read", {"up_to": "soon"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "up_to"


def test_the_bell_and_the_notifications_page(tenant_a):
    member, *_ = _world(tenant_a)
    client = tenant_a.client()
    with tenant_a.context():
        client.force_login(member.user)
    home = client.get("/").content.decode()
    assert 'data-testid="notification-bell"' in home and 'data-testid="notification-count">3<' in home
    page = client.get("/notifications").content.decode()
    assert "Run “shared-run” finished in project “Shared”." in page and "hidden-run" not in page
    newest = selectors.notification_list
    with tenant_a.context():
        up_to = newest(user=member.user).first().pk
    assert client.post("/notifications", {"up_to": up_to}).status_code == 302
    assert 'data-testid="notification-count"' not in client.get("/").content.decode()
