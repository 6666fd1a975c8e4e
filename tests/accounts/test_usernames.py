"""Issue 22 item 8: usernames keep to a documented safe set (letters, digits and . _ - @) in the API, the dashboard,
the services and the Django admin; users created before keep signing in, and ``usernames_check`` finds them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from apps.accounts.models import User
from apps.accounts.services import user_create
from tests.dashboard.helpers import signed_in, text
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db

BAD = "bad user!<script>"
SAFE = "ana.maria_o-neil@acme"


def test_service_refuses_characters_outside_the_set_and_names_them(tenant_a):
    with tenant_a.context():
        with pytest.raises(ValidationError) as refused:
            user_create(username=BAD, role="lead", validate_password=False)
        assert refused.value.message_dict["username"] == [
            "A username may contain only letters (a–z, A–Z), digits and . _ - @; not space, '!', '<', '>'."
        ]
        with pytest.raises(ValidationError):
            user_create(username="аdmin", validate_password=False)  # a Cyrillic "а"
        assert user_create(username=SAFE, validate_password=False).username == SAFE
        assert not User.objects.filter(username__in=[BAD, "аdmin"]).exists()


def test_api_and_dashboard_answer_a_bad_username_with_a_field_error_and_write_nothing(tenant_a):
    admin = make_principal(tenant_a, "admin")
    response = tenant_a.api(admin.token).post("/api/v1/users", {"username": BAD}, format="json")
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["username"]
    page = signed_in(tenant_a).client.post("/manage/users", {"username": BAD, "role": "member"}).content.decode()
    assert "A username may contain only letters (a–z, A–Z), digits and . _ - @" in text(page)
    with tenant_a.context():
        assert not User.objects.filter(username=BAD).exists()


def test_django_admin_refuses_a_bad_username_on_rename(tenant_a):
    client = signed_in(tenant_a).client
    with tenant_a.context():
        victim = user_create(username="rename-me", validate_password=False)
    page = client.get(f"/admin/accounts/user/{victim.pk}/change/")
    assert page.status_code == 200
    form = {"username": BAD, "email": "", "first_name": "", "last_name": "", "role": "member", "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "api_tokens-TOTAL_FORMS": "0",
            "api_tokens-INITIAL_FORMS": "0"}  # fmt: skip
    answer = client.post(f"/admin/accounts/user/{victim.pk}/change/", form).content.decode()
    assert "A username may contain only letters" in answer
    with tenant_a.context():
        assert User.objects.get(pk=victim.pk).username == "rename-me"


def test_existing_users_outside_the_set_still_sign_in_and_the_data_check_lists_them(tenant_a, capsys):
    with tenant_a.context():
        legacy = User(username="legacy user+1", role="member")  # written before the rule, bypassing validation
        legacy.set_password("legacy-pass-4821")
        legacy.save()
    login = tenant_a.client().post("/accounts/login/", {"username": "legacy user+1", "password": "legacy-pass-4821"})
    assert login.status_code == 302 and login["Location"] == "/"
    with pytest.raises(SystemExit) as exited:
        call_command("usernames_check", "--tenant", tenant_a.schema)
    output = capsys.readouterr().out
    assert exited.value.code == 1
    assert f"{tenant_a.schema}\tuser {legacy.pk}\t'legacy user+1'" in output and "not space, '+'" in output
    assert "1 username(s) outside the safe character set." in output
