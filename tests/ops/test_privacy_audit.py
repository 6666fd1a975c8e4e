"""Privacy requests and the audit trail: a user who logged in and acted is, once erased, nowhere in the audit
tables or on any surface that shows them, while the trail stays append-only and its hash chain still verifies; their
data export holds their audit events. The same person in another tenant is untouched."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from apps.access.services import grant_set
from apps.accounts.models import User
from apps.accounts.services import token_create, user_create
from apps.audit.chain import audit_chain_verify, audit_seal
from apps.audit.models import AuditEvent, AuditIdentity
from apps.projects.models import Project, TeamMember
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db

PASSWORD = "Carol-secret-pass-42"
CAROL_IP = "203.0.113.77"
CAROL_AGENT = "CarolBrowser/7.3 (Jones family laptop)"
# Everything that identifies her; none may be left in the audit trail of her tenant after erasure.
NEEDLES = ["carol", "jones", CAROL_IP, "carolbrowser"]


def audit_dump() -> str:
    """Every row of every audit table of the current schema, every column, as PostgreSQL prints it (lower case)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name LIKE 'audit\\_%%' ORDER BY table_name"
        )
        tables = [row[0] for row in cursor.fetchall()]
        assert {"audit_auditevent", "audit_auditidentity", "audit_auditeventdetail", "audit_auditseal"} <= set(tables)
        parts = []
        for table in tables:
            cursor.execute(f"SELECT t::text FROM {connection.ops.quote_name(table)} t")
            parts += [row[0] for row in cursor.fetchall()]
    return "\n".join(parts).lower()


def act_as_carol(ctx, admin) -> User:
    """Carol is created and renamed by an admin, mistypes her password, logs in and out through the dashboard, uses
    an API token from her laptop (a project, so a grant; a refused request), and is put on a team."""
    with ctx.context():
        carol = user_create(username="carol", email="carol@example.test", password=PASSWORD, role="member")
    admin_api = ctx.api(admin.token)
    renamed = admin_api.patch(f"/api/v1/users/{carol.pk}", {"first_name": "Carol", "last_name": "Jones"}, format="json")
    assert renamed.status_code == 200, renamed.content
    browser = ctx.client()
    where = {"REMOTE_ADDR": CAROL_IP, "HTTP_USER_AGENT": CAROL_AGENT}
    assert browser.post("/accounts/login/", {"username": "carol", "password": "wrong"}, **where).status_code == 200
    assert browser.post("/accounts/login/", {"username": "carol", "password": PASSWORD}, **where).status_code == 302
    assert browser.get("/", **where).status_code == 200
    with ctx.context():
        token = token_create(user=carol, name="Carol's Jones-laptop", scope="write").plaintext
    api = ctx.api(token)
    made = api.post("/api/v1/projects", {"name": "Demand forecast"}, format="json", **where)
    assert made.status_code == 201, made.content
    assert api.get("/api/v1/audit-events", **where).status_code == 403
    with ctx.context():
        project = Project.objects.get(pk=made.json()["id"])
        TeamMember.objects.create(
            project=project, user=carol, display_name="Carol Jones", role="data_scientist", experience_level="senior"
        )
        other = Project.objects.create(name="Churn", slug="churn-audit")
        grant_set(actor=User.objects.get(pk=admin.user.pk), obj=other, level="view", user=carol)
    assert browser.post("/accounts/logout/", **where).status_code in (200, 302)
    return carol


def admin_browser(ctx):
    browser = ctx.client()
    response = browser.post("/accounts/login/", {"username": ctx.admin_username, "password": ctx.admin_password})
    assert response.status_code == 302
    return browser


def surfaces(ctx, admin, carol_event_id: int) -> dict[str, str]:
    """What the audit log, home page, API, CSV exports and Django admin show, as lower-case text."""
    browser = admin_browser(ctx)
    api = ctx.api(admin.token)
    shown = {}
    for path in ("/manage/audit", "/", f"/admin/audit/auditevent/{carol_event_id}/change/", "/admin/audit/auditevent/"):
        response = browser.get(path)
        assert response.status_code == 200, path
        shown[path] = response.content.decode()
    export = browser.get("/manage/audit/export")
    shown["/manage/audit/export"] = b"".join(export.streaming_content).decode()
    pages, url = [], "/api/v1/audit-events?page_size=500"
    while url:
        body = api.get(url).json()
        pages.append(json.dumps(body, ensure_ascii=False))
        url = body["next"]
    shown["/api/v1/audit-events"] = "\n".join(pages)
    api_export = api.get("/api/v1/audit-events/export")
    shown["/api/v1/audit-events/export"] = b"".join(api_export.streaming_content).decode()
    return {path: text.lower() for path, text in shown.items()}


def test_an_erased_user_is_nowhere_in_the_audit_trail_and_the_chain_still_verifies(tenant_a, tenant_b):
    admin_a, admin_b = make_principal(tenant_a, "admin"), make_principal(tenant_b, "admin")
    carol = act_as_carol(tenant_a, admin_a)
    act_as_carol(tenant_b, admin_b)  # the same person in another organisation
    with tenant_a.context():
        before = audit_dump()
        assert all(needle.lower() in before for needle in NEEDLES)  # the trail did name her: the check can fail
        carol_event = AuditEvent.objects.filter(actor_id=carol.pk, action="auth.login").get()
        assert (carol_event.ip, carol_event.user_agent) == (CAROL_IP, CAROL_AGENT)
        assert audit_seal().sealed > 0 and audit_chain_verify().ok
        seals_before = list(AuditEvent.objects.filter(seal__isnull=False).values_list("pk", "seal__digest"))
    with tenant_b.context():
        beta_before = audit_dump()
    shown_before = surfaces(tenant_a, admin_a, carol_event.pk)
    assert all("carol" in text for text in shown_before.values())

    out = StringIO()
    call_command("erase_user_data", "--tenant", tenant_a.schema, "--user", "carol", "--yes", stdout=out)
    assert "audit event details cleared" in out.getvalue()

    label = f"erased user #{carol.pk}"
    with tenant_a.context():
        after = audit_dump()
        for needle in NEEDLES:
            assert needle.lower() not in after, f"{needle!r} is still in the audit tables"
        identity = AuditIdentity.objects.get(actor_id=carol.pk)
        assert (identity.username, identity.label) == ("", label) and identity.erased_at is not None
        # History kept: her events are all still there, pseudonymous; the sealed ones unchanged.
        assert AuditEvent.objects.filter(actor_id=carol.pk, action="auth.login").exists()
        assert AuditEvent.objects.filter(action="user.erased", object_id=str(carol.pk)).exists()
        assert list(AuditEvent.objects.filter(seal__isnull=False).values_list("pk", "seal__digest")) == seals_before
        assert audit_seal().sealed > 0  # the erasure's own events
        report = audit_chain_verify()
        assert report.ok and report.unsealed == 0, report.problems

    shown = surfaces(tenant_a, admin_a, carol_event.pk)
    for path, text in shown.items():
        for needle in NEEDLES:
            assert needle.lower() not in text, f"{needle!r} is still shown on {path}"
    for path in ("/manage/audit", "/", "/admin/audit/auditevent/", "/api/v1/audit-events", "/manage/audit/export"):
        assert label in shown[path], path
    rows = list(csv.DictReader(io.StringIO(shown["/api/v1/audit-events/export"])))
    logins = [row for row in rows if row["action"] == "auth.login" and row["actor_id"] == str(carol.pk)]
    assert logins and all((r["actor_username"], r["ip"], r["user_agent"]) == (label, "", "") for r in logins)
    by_name = tenant_a.api(admin_a.token).get("/api/v1/audit-events", {"actor": "carol"}).json()
    assert by_name["count"] == 0

    with tenant_b.context():  # the other tenant's trail is exactly as it was
        assert audit_dump() == beta_before
        assert AuditIdentity.objects.get(username="carol").erased_at is None


def test_the_users_data_export_holds_their_audit_events(tenant_a, tenant_b, tmp_path):
    admin_a, admin_b = make_principal(tenant_a, "admin"), make_principal(tenant_b, "admin")
    carol = act_as_carol(tenant_a, admin_a)
    act_as_carol(tenant_b, admin_b)
    out = tmp_path / "carol.json"
    call_command(
        "export_user_data", "--tenant", tenant_a.schema, "--user", "carol", "--out", str(out), stderr=StringIO()
    )
    data = json.loads(out.read_text())
    events = data["related"]["audit.auditevent (as actor)"]
    with tenant_a.context():
        expected = list(AuditEvent.objects.filter(actor_id=carol.pk).order_by("occurred_at", "id").values_list("pk"))
    assert [(e["id"],) for e in events] == expected and len(events) >= 4
    assert {e["actor_username"] for e in events} == {"carol"}
    login = next(e for e in events if e["action"] == "auth.login")
    assert (login["ip"], login["user_agent"], login["source"]) == (CAROL_IP, CAROL_AGENT, "dashboard")
    assert {"auth.login", "auth.logout", "project.created", "access.denied"} <= {e["action"] for e in events}
    # Exactly her events in this tenant (the list above): not the admin's rename of her, not the other tenant's.
    assert not any(e["action"] == "user.updated" for e in events) and data["tenant"] == tenant_a.schema
