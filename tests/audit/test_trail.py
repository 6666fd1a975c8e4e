"""Exactly one audit event per change of an audited model — via the API, the admin, services and bulk helpers —
and per security event; secrets masked; the table refuses UPDATE and DELETE."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from apps.accounts.models import ApiToken, User
from apps.accounts.services import token_create, token_revoke, user_create
from apps.audit.context import audit_actor
from apps.audit.models import PERSONAL, AuditEvent
from apps.audit.services import (
    audit_ingest,
    audit_security_event,
    audited_bulk_create,
    audited_delete,
    audited_update,
)
from tests.support.access import make_principal, make_project, make_run_with_metric

pytestmark = pytest.mark.django_db


def events(ctx, **filters) -> list[AuditEvent]:
    with ctx.context():
        return list(AuditEvent.objects.filter(**filters).order_by("id"))


def count_for(ctx, obj) -> int:
    return len(events(ctx, object_type=obj._meta.label_lower, object_id=str(obj.pk)))


INLINE = {"api_tokens-TOTAL_FORMS": "0", "api_tokens-INITIAL_FORMS": "0", "api_tokens-MIN_NUM_FORMS": "0",
          "api_tokens-MAX_NUM_FORMS": "1000"}  # fmt: skip


def admin_client(ctx):
    client = ctx.client()
    response = client.post("/accounts/login/", {"username": ctx.admin_username, "password": ctx.admin_password})
    assert response.status_code == 302
    return client


# ---------------------------------------------------------------------------------------------- API
def test_api_create_update_deactivate_user_each_yield_one_event_with_context(tenant_a):
    admin = make_principal(tenant_a, "admin")
    api = tenant_a.api(admin.token)
    headers = {"HTTP_USER_AGENT": "audit-test/1.0", "HTTP_X_REQUEST_ID": "req-audit-000001"}
    created = api.post("/api/v1/users", {"username": "carol", "role": "member"}, format="json", **headers).json()
    [event] = events(tenant_a, object_type="accounts.user", object_id=str(created["id"]))
    assert (event.action, event.category, event.source) == ("user.created", "security", "api")
    assert (event.actor_type, event.actor_id, event.actor_username) == ("token", admin.user.pk, admin.user.username)
    assert event.actor_token == admin.token.split("_")[2]
    assert (event.ip, event.user_agent, event.request_id) == ("127.0.0.1", "audit-test/1.0", "req-audit-000001")
    assert event.display_changes["username"] == {"before": None, "after": "carol"}
    assert event.changes["username"] == {"before": None, "after": PERSONAL}  # the name is in the erasable detail
    assert event.changes["password"] == {"before": None, "after": "***"}  # unusable password, masked anyway
    api.patch(f"/api/v1/users/{created['id']}", {"first_name": "Carol"}, format="json")
    api.delete(f"/api/v1/users/{created['id']}")
    actions = [e.action for e in events(tenant_a, object_type="accounts.user", object_id=str(created["id"]))]
    assert actions == ["user.created", "user.updated", "user.updated"]
    last = events(tenant_a, object_type="accounts.user", object_id=str(created["id"]))[-1]
    assert last.changes == {"is_active": {"before": True, "after": False}}


def test_api_token_create_and_revoke_are_security_events_without_secrets(tenant_a):
    owner = make_principal(tenant_a, "owner")
    api = tenant_a.api(owner.token)
    body = api.post("/api/v1/tokens", {"name": "laptop", "scope": "read"}, format="json").json()
    api.post(f"/api/v1/tokens/{body['id']}/revoke")
    api.post(f"/api/v1/tokens/{body['id']}/revoke")  # idempotent: nothing changes, nothing recorded
    trail = events(tenant_a, object_type="accounts.apitoken", object_id=str(body["id"]))
    assert [e.action for e in trail] == ["token.created", "token.revoked"]
    assert all(e.category == "security" for e in trail)
    assert trail[0].changes["key_hash"] == {"before": None, "after": "***"}
    assert trail[0].changes["prefix"]["after"] == body["prefix"]
    secret = body["token"].rsplit("_", 1)[1]
    with tenant_a.context():
        hashed = ApiToken.objects.get(pk=body["id"]).key_hash
    for event in trail:
        text = str(event.changes) + str(event.extra)
        assert secret not in text and hashed not in text
    # Using the token (last_used_at bookkeeping) records nothing.
    assert api.get("/api/v1/me").status_code == 200
    own = owner.user.api_tokens.get(prefix=owner.token.split("_")[2])
    assert len(events(tenant_a, object_type="accounts.apitoken", object_id=str(own.pk))) == 1


# ---------------------------------------------------------------------------------------------- admin
def test_admin_add_change_delete_user_each_yield_one_event(tenant_a):
    client = admin_client(tenant_a)
    added = client.post(
        "/admin/accounts/user/add/",
        {"username": "dave", "password1": "a-very-long-pass-123", "password2": "a-very-long-pass-123",
         "usable_password": "true", **INLINE},
    )  # fmt: skip
    assert added.status_code == 302, added.context["adminform"].form.errors if added.context else added.status_code
    with tenant_a.context():
        dave = User.objects.get(username="dave")
    [created] = events(tenant_a, object_type="accounts.user", object_id=str(dave.pk))
    assert (created.action, created.source, created.actor_type) == ("user.created", "admin", "user")
    assert created.actor_username == tenant_a.admin_username
    form = {
        "username": "dave", "first_name": "", "last_name": "", "email": "", "is_active": "on", "role": "lead",
        "date_joined_0": dave.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": dave.date_joined.strftime("%H:%M:%S.%f"),
        **INLINE,
    }  # fmt: skip
    changed = client.post(f"/admin/accounts/user/{dave.pk}/change/", form)
    assert changed.status_code == 302, changed.content[:2000]
    deleted = client.post(f"/admin/accounts/user/{dave.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    trail = events(tenant_a, object_type="accounts.user", object_id=str(dave.pk))
    assert [e.action for e in trail] == ["user.created", "user.role_changed", "user.deleted"]
    assert trail[1].changes == {"role": {"before": "member", "after": "lead"}}
    assert trail[2].display_changes["username"] == {"before": "dave", "after": None}
    assert trail[0].changes["password"] == {"before": None, "after": "***"}


def test_admin_token_revocation_and_group_membership_are_recorded(tenant_a):
    with tenant_a.context():
        user = user_create(username="erin", role="member")
        token = token_create(user=user, name="erin-token").token
        group = Group.objects.create(name="ops")
    client = admin_client(tenant_a)
    response = client.post(
        f"/admin/accounts/apitoken/{token.pk}/change/",
        {"expires_at_0": "", "expires_at_1": "", "revoked_at_0": "2026-01-02", "revoked_at_1": "10:00:00"},
    )
    assert response.status_code == 302, response.content[:1500]
    with tenant_a.context():
        user.groups.add(group)
        user.groups.remove(group)
    assert [e.action for e in events(tenant_a, object_type="accounts.apitoken", object_id=str(token.pk))] == [
        "token.created", "token.revoked"
    ]  # fmt: skip
    membership = events(tenant_a, object_type="accounts.user", object_id=str(user.pk), action="user.groups_changed")
    assert [e.changes for e in membership] == [{"groups": {"added": ["ops"]}}, {"groups": {"removed": ["ops"]}}]
    assert all(e.category == "security" for e in membership)


def test_audit_events_cannot_be_deleted_or_changed_in_the_admin(tenant_a):
    client = admin_client(tenant_a)
    event = events(tenant_a, action="auth.login")[-1]
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert b"delete_selected" not in listing.content and b'name="action"' not in listing.content
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"}).status_code == 403
    assert events(tenant_a, pk=event.pk)[0].action == "auth.login"


# ---------------------------------------------------------------------------------------------- services, bulk
def test_services_outside_requests_are_attributed_to_system_or_the_named_actor(tenant_a):
    with tenant_a.context():
        frank = user_create(username="frank", role="viewer")
        created = token_create(user=frank, name="f")
        with audit_actor(frank):
            token_revoke(token=created.token)
    [made] = events(tenant_a, object_type="accounts.user", object_id=str(frank.pk))
    assert (made.actor_type, made.source, made.ip) == ("system", "system", None)
    revoked = events(tenant_a, object_type="accounts.apitoken", object_id=str(created.token.pk))[-1]
    assert (revoked.action, revoked.actor_username) == ("token.revoked", "frank")


def test_management_command_token_is_audited(tenant_a, capsys):
    call_command("create_token", "--tenant", "alpha", "--user", "admin", "--name", "cli")
    capsys.readouterr()
    with tenant_a.context():
        token = ApiToken.objects.get(name="cli")
    [event] = events(tenant_a, object_type="accounts.apitoken", object_id=str(token.pk))
    assert (event.action, event.actor_type) == ("token.created", "system")


def test_bulk_helpers_record_one_event_per_operation(tenant_a):
    with tenant_a.context():
        start = AuditEvent.objects.count()
        users = audited_bulk_create(User, [User(username=f"bulk{i}", role="viewer") for i in range(5)])
        assert AuditEvent.objects.count() == start + 1
        changed = audited_update(User.objects.filter(username__startswith="bulk"), role="member", password="x")
        assert changed == 5 and AuditEvent.objects.count() == start + 2
        for user in users[:2]:
            token_create(user=User.objects.get(username=user.username), name="t")
        mid = AuditEvent.objects.count()
        deleted, per_model = audited_delete(User.objects.filter(username__startswith="bulk"))
        assert AuditEvent.objects.count() == mid + 1  # not 5 user + 2 token events
        created_event, updated_event, deleted_event = (
            AuditEvent.objects.filter(action=a).latest("id")
            for a in ("user.bulk_created", "user.bulk_updated", "user.bulk_deleted")
        )
    assert created_event.extra["count"] == 5 and len(created_event.extra["ids"]) == 5
    assert updated_event.changes["role"] == {"before": ["viewer"], "after": "member"}
    assert updated_event.changes["password"] == {"before": ["***"], "after": "***"}
    assert deleted_event.extra["count"] == 5
    assert deleted_event.extra["deleted"] == {"accounts.User": 5, "accounts.ApiToken": 2}
    assert per_model["accounts.User"] == 5 and deleted == 7


def test_project_changes_and_ingest_are_recorded(tenant_a):
    with tenant_a.context():
        project = make_project("Audited")
        project.name = "Audited v2"
        project.save()
        run = make_run_with_metric(project)
        audit_ingest(run=run, metrics=1000, params=3, tags=2)
        audit_security_event("model.promoted", object_type="recommendations.model", object_id=7,
                             extra={"from_version": 3, "to_version": 4})  # fmt: skip
    trail = [e.action for e in events(tenant_a, object_type="projects.project", object_id=str(project.pk))]
    assert trail == ["project.created", "project.updated"]
    [ingest] = events(tenant_a, action="metrics.ingested", object_id=str(run.pk))
    assert ingest.extra == {"metrics": 1000, "params": 3, "tags": 2}
    assert events(tenant_a, object_type="metrics.metricpoint") == []
    [promoted] = events(tenant_a, action="model.promoted")
    assert promoted.category == "security" and promoted.extra == {"from_version": 3, "to_version": 4}


# ---------------------------------------------------------------------------------------------- security events
def test_dashboard_login_success_and_failure_are_recorded(tenant_a):
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": "wrong-password"}, HTTP_USER_AGENT="ua-1")
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    failed = events(tenant_a, action="auth.login_failed")[-1]
    assert failed.display_extra["username"] == "admin" and failed.user_agent == "ua-1"
    assert failed.actor_type == "anonymous"
    assert "username" not in failed.extra and failed.object_repr == ""
    assert "wrong-password" not in str(failed.extra)
    login = events(tenant_a, action="auth.login")[-1]
    assert (login.actor_username, login.source) == ("admin", "dashboard")


# ---------------------------------------------------------------------------------------------- append-only
@pytest.mark.parametrize(
    "sql", ["UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"]
)
def test_raw_update_and_delete_are_refused_by_the_database(tenant_a, sql):
    with tenant_a.context():
        event = audit_security_event("test.event", object_type="x", object_id=1)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(action="forged")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_every_tenant_schema_has_the_trigger(tenant_a, tenant_b):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_object_schema FROM information_schema.triggers "
            "WHERE trigger_name = 'audit_event_append_only' AND event_manipulation IN ('UPDATE', 'DELETE')"
        )
        schemas = {row[0] for row in cursor.fetchall()}
    assert {"alpha", "beta"} <= schemas and "public" not in schemas
