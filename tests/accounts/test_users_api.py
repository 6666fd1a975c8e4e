"""Users and service accounts through the API: who may create, change roles, deactivate; tokens for services."""

import pytest

from apps.accounts.models import ApiToken, User
from apps.audit.models import AuditEvent
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


def test_admin_creates_a_service_account_and_a_token_for_it(tenant_a):
    admin = make_principal(tenant_a, "admin")
    api = tenant_a.api(admin.token)
    created = api.post("/api/v1/users", {"username": "ci-bot", "is_service_account": True}, format="json")
    assert created.status_code == 201, created.json()
    bot = created.json()
    assert bot["is_service_account"] is True and bot["role"] == "member"
    token = api.post("/api/v1/tokens", {"name": "ci", "scope": "write", "user": bot["id"]}, format="json")
    assert token.status_code == 201, token.json()
    assert token.json()["username"] == "ci-bot"
    me = tenant_a.api(token.json()["token"]).get("/api/v1/me").json()
    assert me["username"] == "ci-bot" and me["is_service_account"] is True
    with tenant_a.context():
        assert not User.objects.get(pk=bot["id"]).has_usable_password()
        assert AuditEvent.objects.filter(action="token.created", object_id=str(token.json()["id"])).count() == 1
    # The service account itself may not read the user directory nor mint tokens.
    service_api = tenant_a.api(token.json()["token"])
    assert service_api.get("/api/v1/users").status_code == 403
    assert service_api.post("/api/v1/tokens", {"name": "more"}, format="json").status_code == 403


def test_tokens_for_other_people_and_scope_escalation_are_refused(tenant_a):
    admin = make_principal(tenant_a, "admin", scope="write")
    lead = make_principal(tenant_a, "lead")
    api = tenant_a.api(admin.token)
    other_human = api.post("/api/v1/tokens", {"name": "x", "user": lead.user.pk}, format="json")
    assert other_human.status_code == 400 and other_human.json()["errors"][0]["field"] == "user"
    escalate = api.post("/api/v1/tokens", {"name": "x", "scope": "admin"}, format="json")
    assert escalate.status_code == 400 and escalate.json()["errors"][0]["field"] == "scope"
    assert api.post("/api/v1/tokens", {"name": "x", "scope": "write"}, format="json").status_code == 201
    lead_api = tenant_a.api(lead.token)
    for_admin = lead_api.post("/api/v1/tokens", {"name": "x", "user": admin.user.pk}, format="json")
    assert for_admin.status_code == 403


def test_role_change_is_audited_and_only_owners_touch_owners(tenant_a):
    admin = make_principal(tenant_a, "admin")
    member = make_principal(tenant_a, "member")
    api = tenant_a.api(admin.token)
    changed = api.patch(f"/api/v1/users/{member.user.pk}", {"role": "lead"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "lead"
    with tenant_a.context():
        event = AuditEvent.objects.get(action="user.role_changed", object_id=str(member.user.pk))
        assert event.category == "security"
        assert event.changes == {"role": {"before": "member", "after": "lead"}}
        assert (event.actor_username, event.source) == (admin.user.username, "api")
    to_owner = api.patch(f"/api/v1/users/{member.user.pk}", {"role": "owner"}, format="json")
    assert to_owner.status_code == 403 and "owner" in to_owner.json()["detail"]
    with tenant_a.context():
        owner = User.objects.get(username=tenant_a.admin_username)
    assert api.patch(f"/api/v1/users/{owner.pk}", {"is_active": False}, format="json").status_code == 403
    own = api.patch(f"/api/v1/users/{admin.user.pk}", {"role": "member"}, format="json")
    assert own.status_code == 400 and own.json()["errors"][0]["field"] == "role"
    unknown = api.patch(f"/api/v1/users/{member.user.pk}", {"role": "emperor"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "role"


def test_deactivation_stops_tokens_and_keeps_the_row(tenant_a):
    admin = make_principal(tenant_a, "admin")
    member = make_principal(tenant_a, "member")
    assert tenant_a.api(member.token).get("/api/v1/me").status_code == 200
    assert tenant_a.api(admin.token).delete(f"/api/v1/users/{member.user.pk}").status_code == 204
    assert tenant_a.api(member.token).get("/api/v1/me").status_code == 401
    with tenant_a.context():
        assert User.objects.get(pk=member.user.pk).is_active is False
        assert ApiToken.objects.filter(user=member.user).count() == 1


def test_directory_is_readable_by_people_but_only_admins_create(tenant_a, tenant_b):
    viewer = make_principal(tenant_a, "viewer")
    api = tenant_a.api(viewer.token)
    names = [u["username"] for u in api.get("/api/v1/users?page_size=500").json()["results"]]
    assert viewer.user.username in names and tenant_a.admin_username in names
    assert api.post("/api/v1/users", {"username": "nope"}, format="json").status_code == 403
    make_principal(tenant_b, "member", username="only-in-beta")
    assert "only-in-beta" not in names


def test_user_creation_errors_name_the_field(tenant_a):
    api = tenant_a.api(make_principal(tenant_a, "owner").token)
    weak = api.post("/api/v1/users", {"username": "weakling", "password": "123"}, format="json")
    assert weak.status_code == 400 and weak.json()["errors"][0]["field"] == "password"
    taken = api.post("/api/v1/users", {"username": tenant_a.admin_username}, format="json")
    assert taken.status_code == 400 and taken.json()["errors"][0]["field"] == "username"
    ok = api.post(
        "/api/v1/users",
        {"username": "newbie", "email": "n@alpha.test", "first_name": "New", "role": "viewer",
         "password": "correct-horse-battery-9"},
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201 and ok.json()["first_name"] == "New"
    login = tenant_a.client().post("/accounts/login/", {"username": "newbie", "password": "correct-horse-battery-9"})
    assert login.status_code == 302
