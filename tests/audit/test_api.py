"""/api/v1/audit-events: admins only (admin-scope tokens), filters, streamed CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_security_event
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(tenant_a):
    admin = make_principal(tenant_a, "admin")
    member = make_principal(tenant_a, "member")
    with tenant_a.context():
        audit_security_event("model.promoted", object_type="recommendations.model", object_id=1, user=member.user)
        audit_security_event("model.promoted", object_type="recommendations.model", object_id=2)
        audit_security_event("test.formula", object_type="x", object_id=3, object_repr='=HYPERLINK("http://evil")')
    return admin, member


def test_admins_list_and_filter_events(tenant_a, trail):
    admin, member = trail
    api = tenant_a.api(admin.token)
    promoted = api.get("/api/v1/audit-events?action=model.promoted").json()
    assert promoted["count"] == 2
    assert [e["object_id"] for e in promoted["results"]] == ["2", "1"]  # newest first
    by_actor = api.get(f"/api/v1/audit-events?actor={member.user.username}&action=model.promoted").json()
    assert [e["object_id"] for e in by_actor["results"]] == ["1"]
    by_object = api.get("/api/v1/audit-events?object_type=recommendations.model&object_id=2").json()
    assert by_object["count"] == 1
    by_prefix = api.get("/api/v1/audit-events?action_prefix=token.").json()
    # token.* events only; other tests' committed token events (e.g. token.deleted) may share this tenant's trail
    actions = {e["action"] for e in by_prefix["results"]}
    assert "token.created" in actions and all(action.startswith("token.") for action in actions), actions
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get("/api/v1/audit-events", {"since": future}).json()["count"] == 0
    assert api.get("/api/v1/audit-events", {"until": future, "action": "model.promoted"}).json()["count"] == 2
    bad = api.get("/api/v1/audit-events?since=yesterday")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "since"
    one = api.get(f"/api/v1/audit-events/{promoted['results'][0]['id']}").json()
    assert one["action"] == "model.promoted" and one["category"] == "security"


def test_only_admins_with_admin_scope_read_the_trail(tenant_a, trail):
    _, member = trail
    assert tenant_a.api(member.token).get("/api/v1/audit-events").status_code == 403
    admin_write = make_principal(tenant_a, "admin", scope="write")
    response = tenant_a.api(admin_write.token).get("/api/v1/audit-events")
    assert response.status_code == 403 and "'admin' token is needed" in response.json()["detail"]
    lead = make_principal(tenant_a, "lead")
    assert tenant_a.api(lead.token).get("/api/v1/audit-events/export").status_code == 403


def test_csv_export_streams_filtered_events_and_defuses_formulas(tenant_a, trail):
    admin, _ = trail
    response = tenant_a.api(admin.token).get("/api/v1/audit-events/export?action_prefix=test.", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["action"] == "test.formula"
    assert rows[0]["object_repr"] == '\'=HYPERLINK("http://evil")'


def test_csv_export_covers_all_matching_rows_in_chunks(tenant_a, trail, monkeypatch):
    from apps.audit.api import views

    monkeypatch.setattr(views, "EXPORT_CHUNK", 7)
    admin, _ = trail
    with tenant_a.context():
        for i in range(30):
            audit_security_event("bulk.row", object_type="x", object_id=i)
        expected = AuditEvent.objects.filter(action="bulk.row").count()
    response = tenant_a.api(admin.token).get("/api/v1/audit-events/export?action=bulk.row")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "occurred_at", "category"]
    assert len(rows) - 1 == expected == 30
    assert sorted(int(r[5]) for r in rows[1:]) == list(range(30))
