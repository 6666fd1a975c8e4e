"""The tenant admin area: users and roles, groups, object grants, every API token, the audit log and its CSV export —
and that only the roles the permission matrix allows reach it."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group

from apps.access.selectors import level_for
from apps.accounts.models import ApiToken, User
from apps.accounts.services import token_create
from apps.audit.models import AuditEvent
from tests.artifacts.factories import ArtifactFactory
from tests.dashboard.helpers import signed_in, text
from tests.projects.factories import ProjectFactory, TeamMemberFactory

pytestmark = pytest.mark.django_db


def test_only_owners_and_admins_reach_the_admin_area(tenant_a):
    for role, status in (("admin", 200), ("lead", 403), ("member", 403), ("viewer", 403)):
        client = signed_in(tenant_a, role=role).client
        for path in ("/manage/users", "/manage/groups", "/manage/tokens", "/manage/audit", "/manage/audit/export"):
            assert client.get(path).status_code == status, (role, path)
    # leads may reach grants (on what they manage); members and viewers not at all
    assert signed_in(tenant_a, role="lead").client.get("/manage/grants").status_code == 200
    assert signed_in(tenant_a, role="member").client.get("/manage/grants").status_code == 403
    nav = signed_in(tenant_a, role="viewer").client.get("/").content.decode()
    assert 'href="/manage/' not in nav


def test_create_user_change_role_and_deactivate(tenant_a):
    admin = signed_in(tenant_a, role="admin", username="root-admin").client
    bad = admin.post("/manage/users", {"username": "", "role": "member"}).content.decode()
    assert "This field is required." in bad
    # admins may not create owners: the choice is not even offered
    create_form = admin.get("/manage/users").content.decode().split('id="id_role"', 1)[1].split("</select>", 1)[0]
    assert 'value="owner"' not in create_form and 'value="admin"' in create_form
    created = admin.post("/manage/users", {"username": "erin", "email": "erin@example.test", "role": "lead",
                                           "password": "correct horse battery 9"})  # fmt: skip
    with tenant_a.context():
        erin = User.objects.get(username="erin")
    assert (
        created["Location"] == f"/manage/users/{erin.pk}"
        and erin.role == "lead"
        and erin.check_password("correct horse battery 9")
    )
    weak = admin.post("/manage/users", {"username": "frank", "role": "member", "password": "123"}).content.decode()
    assert "too short" in weak
    admin.post(f"/manage/users/{erin.pk}", {"email": "erin@example.test", "role": "viewer", "first_name": "Erin"})
    with tenant_a.context():
        erin.refresh_from_db()
        changed = AuditEvent.objects.filter(object_type="accounts.user", object_id=str(erin.pk)).values_list(
            "action", flat=True
        )
    assert (erin.role, erin.first_name, erin.is_active) == ("viewer", "Erin", False)  # unticked "Active"
    assert "user.role_changed" in set(changed)
    with tenant_a.context():
        me = User.objects.get(username="root-admin")
    own = admin.post(f"/manage/users/{me.pk}", {"role": "viewer", "is_active": "on"}).content.decode()
    assert "You cannot change your own role." in own
    assert admin.get("/manage/users/999999").status_code == 404


def test_user_directory_filters(tenant_a):
    admin = signed_in(tenant_a).client
    signed_in(tenant_a, role="viewer", username="vera")
    html = admin.get("/manage/users?role=viewer").content.decode()
    table = html.split('data-testid="user-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<a href="/manage/users/\d+">([^<]+)</a>', table) == ["vera"]


def test_groups_members_and_group_grants(tenant_a):
    admin = signed_in(tenant_a).client
    grace = signed_in(tenant_a, role="member", username="grace")
    with tenant_a.context():
        private = ProjectFactory(name="Private thing", visibility="private")
    admin.post("/manage/groups", {"name": "Vision team"})
    with tenant_a.context():
        group = Group.objects.get(name="Vision team")
    assert "exists already" in admin.post("/manage/groups", {"name": "vision TEAM"}).content.decode()
    admin.post(f"/manage/groups/{group.pk}", {"user": str(grace.user_id)})
    assert "grace" in text(admin.get(f"/manage/groups/{group.pk}").content.decode())
    assert grace.client.get(f"/projects/{private.pk}/").status_code in (200, 404)
    url = f"/manage/grants?object_type=project&object_id={private.pk}"
    response = admin.post(url, {"principal": f"group:{group.pk}", "level": "change"})
    assert response.status_code == 302
    with tenant_a.context():
        member = User.objects.get(pk=grace.user_id)
        assert level_for(member, private) == "change"
    grants = admin.get(f"/manage/grants?object_type=project&object_id={private.pk}").content.decode()
    assert f'data-principal="group:{group.pk}"' in grants and ">change</span>" in grants
    admin.post(f"/manage/groups/{group.pk}/members/{grace.user_id}/remove")
    with tenant_a.context():
        assert level_for(member, private) is None
    admin.post(f"/manage/groups/{group.pk}/delete")
    with tenant_a.context():
        assert not Group.objects.filter(pk=group.pk).exists()


def test_grants_for_users_with_audit_and_removal(tenant_a):
    admin = signed_in(tenant_a).client
    bob = signed_in(tenant_a, role="member", username="bob")
    with tenant_a.context():
        artifact = ArtifactFactory(name="shared-prompt")
    url = f"/manage/grants?object_type=artifact&object_id={artifact.pk}"
    admin.post(url, {"principal": f"user:{bob.user_id}", "level": "manage"})
    with tenant_a.context():
        bob_user = User.objects.get(pk=bob.user_id)
        assert level_for(bob_user, artifact) == "manage"
        assert AuditEvent.objects.filter(action="grant.changed", object_id=str(artifact.pk)).exists()
    remove = f"/manage/grants/remove?object_type=artifact&object_id={artifact.pk}"
    admin.post(remove, {"principal": f"user:{bob.user_id}"})
    with tenant_a.context():
        assert level_for(bob_user, artifact) == "view"  # artifacts stay visible to everyone
    assert "shared-prompt" in text(admin.get("/manage/grants?q=shared").content.decode())
    assert admin.get("/manage/grants?object_type=project&object_id=999999").status_code == 404


def test_lead_grants_only_on_what_they_manage(tenant_a):
    lead = signed_in(tenant_a, role="lead", username="lena")
    with tenant_a.context():
        own = ProjectFactory(name="Lena's project", owner=User.objects.get(pk=lead.user_id))
        other = ProjectFactory(name="Someone else's")
    assert lead.client.get(f"/manage/grants?object_type=project&object_id={own.pk}").status_code == 200
    assert "Grant access" in lead.client.get(f"/manage/grants?object_type=project&object_id={own.pk}").content.decode()
    assert lead.client.get(f"/manage/grants?object_type=project&object_id={other.pk}").status_code == 403
    assert lead.client.post(f"/manage/grants?object_type=project&object_id={other.pk}",
                            {"principal": f"user:{lead.user_id}", "level": "manage"}).status_code == 403  # fmt: skip


def test_admin_sees_every_token_creates_one_for_a_service_account_and_revokes(tenant_a):
    admin = signed_in(tenant_a)
    with tenant_a.context():
        bot = User.objects.create(username="ci-bot", role="member", is_service_account=True)
        member = User.objects.create(username="mia", role="member")
        token_create(user=member, name="mia-laptop")
    page = admin.client.post("/manage/tokens", {"user": str(bot.pk), "name": "ci", "scope": "write"})
    html = page.content.decode()
    plaintext = re.search(r'<code id="new-token-value">([^<]+)</code>', html).group(1)
    assert "for ci-bot created" in html and "mia-laptop" in html
    assert tenant_a.api(plaintext).get("/api/v1/me").json()["username"] == "ci-bot"
    refused = admin.client.post("/manage/tokens", {"user": str(member.pk), "name": "x", "scope": "read"})
    assert "Select a valid choice" in refused.content.decode()  # only service accounts are offered
    with tenant_a.context():
        token = ApiToken.objects.get(name="ci")
    response = admin.client.post(f"/account/tokens/{token.pk}/revoke", {"next": "manage"})
    assert response["Location"] == "/manage/tokens"
    assert tenant_a.api(plaintext).get("/api/v1/me").status_code == 401


def test_audit_log_filters_and_exports_csv(tenant_a, tenant_b):
    admin = signed_in(tenant_a)
    admin.client.post("/manage/users", {"username": "zoe", "role": "member"})
    admin.client.post("/manage/groups", {"name": "=HYPERLINK(evil)"})
    with tenant_b.context():
        User.objects.create(username="beta-person", role="member")
    html = admin.client.get("/manage/audit?action_prefix=user.").content.decode()
    rows = html.split('data-testid="audit-table"', 1)[1]
    assert "zoe" in rows and "beta-person" not in rows
    assert "?action_prefix=user." in html  # the export link keeps the filters
    export = admin.client.get("/manage/audit/export?object_type=auth.group")
    assert export["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert table[0][:4] == ["id", "occurred_at", "category", "action"]
    assert table[1][table[0].index("object_repr")] == "'=HYPERLINK(evil)"  # defused for spreadsheets
    assert all(row[table[0].index("object_type")] == "auth.group" for row in table[1:])
    bad = admin.client.get("/manage/audit?since=not-a-date").content.decode()
    assert "since:" in bad and "No events match." in bad


def test_home_shows_recent_audit_events_to_admins_only(tenant_a):
    admin = signed_in(tenant_a)
    admin.client.post("/manage/groups", {"name": "Reviewers"})
    assert "Recent audit events" in admin.client.get("/").content.decode()
    assert "Recent audit events" not in signed_in(tenant_a, role="lead").client.get("/").content.decode()


def test_a_viewer_posting_to_edit_and_admin_endpoints_is_refused_and_nothing_changes(tenant_a):
    admin = signed_in(tenant_a)
    viewer = signed_in(tenant_a, role="viewer", username="vic")
    with tenant_a.context():
        project = ProjectFactory(name="Guarded", visibility="tenant")
        member = TeamMemberFactory(project=project)
        group = Group.objects.create(name="Guarded group")
        admin_user = User.objects.get(pk=admin.user_id)
        token = token_create(user=admin_user, name="admin-laptop").token
        last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    grant_url = f"/manage/grants?object_type=project&object_id={project.pk}"
    posts = [
        (f"/projects/{project.pk}/team/{member.pk}/remove", {}),
        (f"/projects/{project.pk}/edit", {"name": "Hijacked"}),
        (grant_url, {"principal": f"user:{viewer.user_id}", "level": "manage"}),
        (f"/manage/grants/remove?object_type=project&object_id={project.pk}", {"principal": f"user:{admin.user_id}"}),
        ("/manage/users", {"username": "intruder", "role": "owner"}),
        (f"/manage/users/{admin.user_id}", {"role": "viewer"}),
        ("/manage/groups", {"name": "Intruders"}),
        (f"/manage/groups/{group.pk}", {"user": str(viewer.user_id)}),
        (f"/manage/groups/{group.pk}/delete", {}),
        ("/manage/tokens", {"user": str(admin.user_id), "name": "stolen", "scope": "admin"}),
        (f"/account/tokens/{token.pk}/revoke", {"next": "manage"}),
    ]
    for path, data in posts:
        assert viewer.client.post(path, data).status_code in (403, 404), path
    assert 'href="/manage/grants' not in viewer.client.get(f"/projects/{project.pk}/").content.decode()
    with tenant_a.context():
        project.refresh_from_db()
        token.refresh_from_db()
        assert project.name == "Guarded" and project.team_members.filter(pk=member.pk).exists()
        assert level_for(User.objects.get(pk=viewer.user_id), project) == "view"  # organisation-visible only
        assert not User.objects.filter(username="intruder").exists()
        assert User.objects.get(pk=admin.user_id).role == "owner"
        assert set(Group.objects.values_list("name", flat=True)) == {"Guarded group"}
        assert not group.user_set.exists()
        assert token.revoked_at is None and not ApiToken.objects.filter(name="stolen").exists()
        # the only trace: each refused attempt is recorded as a security event
        new = list(AuditEvent.objects.filter(id__gt=last_event).values_list("action", "actor__username"))
        assert set(new) == {("access.denied", "vic")}
