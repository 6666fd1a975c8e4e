"""The tenant Django admin (/admin/) answers to the permission matrix: no Django flag or permission lets anyone change
roles (or what amounts to one) there unless the matrix and the admin area's rules let them, as on /manage/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from apps.accounts.models import User
from apps.accounts.services import token_create, user_create
from apps.audit.models import AuditEvent
from tests.support.forms import post_form_fields

pytestmark = pytest.mark.django_db

PRIVILEGES = ("role", "is_superuser", "is_staff", "is_active")


def _row(ctx, user) -> tuple:
    with ctx.context():
        fresh = User.objects.get(pk=user.pk)
        permissions = sorted(fresh.user_permissions.values_list("pk", flat=True))
        return (*(getattr(fresh, name) for name in PRIVILEGES), permissions)


def _staff(ctx, username: str, role: str, *, superuser: bool = False, perms: tuple[str, ...] = ()):
    """A staff user of ``role`` with Django's superuser flag or model permissions, signed in to a client."""
    client = ctx.client()
    with ctx.context():
        user = user_create(username=username, role=role, is_staff=True, is_superuser=superuser)
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
        client.force_login(user)
    return client, user


def _change_url(user) -> str:
    return f"/admin/accounts/user/{user.pk}/change/"


def _submit(client, user, **changes):
    """Post the user's admin change form as a browser would, with ``changes`` applied."""
    page = client.get(_change_url(user))
    assert page.status_code == 200
    data = post_form_fields(page.content.decode(), "user_form")
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)  # an unticked checkbox is not sent
        else:
            data[name] = "on" if value is True else value
    return client.post(_change_url(user), {**data, "_save": "Save"})


def test_a_lead_with_every_django_power_cannot_change_roles_in_the_admin(tenant_a):
    """Superuser and staff, but a lead: the matrix refuses users.change, so the page is read-only and a POST is 403."""
    client, lead = _staff(tenant_a, "admin-lead", "lead", superuser=True)
    with tenant_a.context():
        member = user_create(username="plain-member", role="member")
    for target, changes in ((lead, {"role": "owner"}), (member, {"role": "admin", "is_superuser": True})):
        before = _row(tenant_a, target)
        page = client.get(_change_url(target))
        assert page.status_code == 200 and b'name="_save"' not in page.content  # view only: users.read is allowed
        data = {
            **post_form_fields(page.content.decode(), "user_form"),
            "username": target.username,
            **changes,
            "_save": "Save",
        }
        response = client.post(_change_url(target), data)
        assert response.status_code == 403
        assert _row(tenant_a, target) == before
    # Pages of resources where the lead's cell is not "all" are not shown at all (the admin cannot scope per object).
    assert client.get("/admin/projects/project/").status_code == 403
    assert b"/admin/projects/project/" not in client.get("/admin/").content
    assert client.get("/admin/accounts/user/").status_code == 200


def test_an_admin_cannot_make_owners_or_superusers_or_change_their_own_role_in_the_admin(tenant_a):
    client, admin_user = _staff(tenant_a, "admin-admin", "admin", perms=("view_user", "change_user"))
    with tenant_a.context():
        member = user_create(username="plain-member", role="member")
        owner = User.objects.get(username=tenant_a.admin_username)
    for target, changes, message in (
        (member, {"role": "owner"}, "Only an owner may grant the owner role"),
        (member, {"is_superuser": True}, "Only an owner may grant or remove superuser status"),
        (admin_user, {"role": "owner"}, "You cannot change your own role"),
        (admin_user, {"is_superuser": True}, "You cannot change your own role"),
    ):
        before = _row(tenant_a, target)
        response = _submit(client, target, **changes)
        assert response.status_code == 200, (target, changes)  # the form again, with the error
        assert message in response.content.decode(), (target, changes)
        assert _row(tenant_a, target) == before, (target, changes)
    # An owner's account, password included, is changed by owners only.
    before = _row(tenant_a, owner)
    assert client.post(_change_url(owner), {"username": owner.username, "role": "viewer"}).status_code == 403
    assert client.post(f"/admin/accounts/user/{owner.pk}/password/", {"password1": "x", "password2": "x"}
                       ).status_code == 403  # fmt: skip
    assert _row(tenant_a, owner) == before
    # What the matrix allows an admin goes through, and is audited like a change on /manage/.
    assert _submit(client, member, role="lead").status_code == 302
    assert _row(tenant_a, member)[0] == "lead"
    with tenant_a.context():
        assert AuditEvent.objects.filter(action="user.role_changed", object_id=str(member.pk)).exists()


def test_only_owners_grant_superuser_status_or_delete_owners_in_the_admin(tenant_a):
    client, owner = _staff(tenant_a, "admin-owner", "owner", superuser=True)
    admin_client, admin_user = _staff(tenant_a, "admin-admin", "admin", perms=("view_user", "delete_user"))
    with tenant_a.context():
        member = user_create(username="plain-member", role="member")
    assert _submit(client, member, is_superuser=True, is_staff=True).status_code == 302
    assert _row(tenant_a, member)[1:3] == (True, True)
    # An admin deletes neither an owner nor themselves, not even through the bulk action.
    for target in (owner, admin_user):
        assert admin_client.post(f"/admin/accounts/user/{target.pk}/delete/", {"post": "yes"}).status_code == 403
        bulk = {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"}
        admin_client.post("/admin/accounts/user/", bulk)
        with tenant_a.context():
            assert User.objects.filter(pk=target.pk).exists()
    # Tokens are revoked, never deleted: the matrix refuses tokens.delete to everyone, superusers included.
    with tenant_a.context():
        token = token_create(user=member, name="t").token
    assert client.get(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403


def test_the_admin_password_change_counts_towards_the_lockout(tenant_a, settings):
    client, _owner = _staff(tenant_a, "admin-pw", "owner", superuser=True)
    new = "a-brand-new-password-42"
    codes = [
        client.post("/admin/password_change/", {"old_password": f"guess-{i}", "new_password1": new,
                                                "new_password2": new}).status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]  # fmt: skip
    assert codes[-1] == 429
    assert codes[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)


def test_the_platform_admin_password_change_counts_towards_the_lockout(client, settings):
    operator = user_create(username="operator-pw", password="unrelated-secret-8642", is_staff=True, is_superuser=True)
    client.force_login(operator)
    new = "a-brand-new-password-42"
    codes = [
        client.post("/admin/password_change/", {"old_password": f"guess-{i}", "new_password1": new,
                                                "new_password2": new}, HTTP_HOST="localhost").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]  # fmt: skip
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]


def test_djangos_superuser_flag_is_no_role_for_delivery_data(tenant_a):
    from apps.integrations.selectors import can_manage, project_visible_list
    from tests.support.access import make_project

    with tenant_a.context():
        member = user_create(username="super-member", role="member", is_staff=True, is_superuser=True)
        robot = user_create(username="admin-robot", role="admin", is_service_account=True)
        private = make_project("Private delivery")
        for user in (member, robot):
            assert private not in project_visible_list(user=user)
        assert not can_manage(user=robot, project=private)
