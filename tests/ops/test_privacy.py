"""Privacy requests: a user's data export holds their rows and no secrets; erasure anonymises them in place so the
history keeps a pseudonymous actor, and cuts every way they could still get in."""

import json
from io import StringIO

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.accounts.services import token_create, user_create
from apps.ops import privacy
from apps.projects.models import Project, TeamMember

pytestmark = pytest.mark.django_db

PASSWORD = "Carol-secret-pass-42"


@pytest.fixture
def carol(tenant_a):
    with tenant_a.context():
        user = user_create(username="carol", email="carol@alpha.test", password=PASSWORD)
        user.first_name, user.last_name = "Carol", "Jones"
        user.save()
        project = Project.objects.create(name="Churn model", slug="churn", owner=user)
        TeamMember.objects.create(
            project=project, user=user, display_name="Carol Jones", role="data_scientist", experience_level="senior"
        )
        token = token_create(user=user, name="carol laptop")
        LogEntry.objects.create(
            user=get_user_model().objects.get(username="admin"),
            content_type=ContentType.objects.get(app_label="accounts", model="user"),
            object_id=str(user.pk),
            object_repr="carol",
            action_flag=CHANGE,
            change_message="Changed email of Carol Jones",
        )
    return user, token


def test_user_export_holds_the_users_rows_without_secrets(tenant_a, tenant_b, carol, tmp_path):
    user, token = carol
    with tenant_b.context():
        user_create(username="carol", email="carol@beta.test")  # same name, other tenant: not exported
    out = tmp_path / "carol.json"
    call_command("export_user_data", "--tenant", "alpha", "--user", "carol", "--out", str(out), stderr=StringIO())
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    data = json.loads(out.read_text())
    assert data["format"] == "maestro-user-export" and data["tenant"] == "alpha"
    assert data["user"]["pk"] == user.pk and data["user"]["fields"]["email"] == "carol@alpha.test"
    assert "password" not in data["user"]["fields"]
    tokens = data["related"]["accounts.apitoken (via user)"]
    assert [t["fields"]["name"] for t in tokens] == ["carol laptop"] and "key_hash" not in tokens[0]["fields"]
    assert data["related"]["projects.project (via owner)"][0]["fields"]["name"] == "Churn model"
    assert data["related"]["projects.teammember (via user)"][0]["fields"]["display_name"] == "Carol Jones"
    text = out.read_text()
    assert token.token.key_hash not in text and token.plaintext not in text and "carol@beta.test" not in text

    printed = StringIO()
    call_command("export_user_data", "--tenant", "alpha", "--user", "carol", stdout=printed)
    assert json.loads(printed.getvalue())["user"]["pk"] == user.pk
    with pytest.raises(CommandError, match="No user 'nobody' in tenant 'alpha'"):
        call_command("export_user_data", "--tenant", "alpha", "--user", "nobody", stdout=StringIO())


def test_erasure_anonymises_in_place_and_locks_the_user_out(tenant_a, carol, monkeypatch):
    user, token = carol
    seen = []
    monkeypatch.setattr(privacy, "_erasure_handlers", [])
    privacy.register_erasure_handler(lambda *, user, pseudonym: seen.append((user.pk, pseudonym)))
    browser = tenant_a.client()
    assert browser.post("/accounts/login/", {"username": "carol", "password": PASSWORD}).status_code == 302
    assert tenant_a.api(token.plaintext).get("/api/v1/me").status_code == 200
    with tenant_a.context():
        pseudonym = privacy.actor_pseudonym(user)

    out = StringIO()
    call_command("erase_user_data", "--tenant", "alpha", "--user", "carol", "--yes", stdout=out)
    assert f"now '{pseudonym}'; 1 tokens, 1 sessions" in out.getvalue()

    with tenant_a.context():
        erased = get_user_model().objects.get(pk=user.pk)
        assert (erased.username, erased.email, erased.first_name, erased.last_name) == (pseudonym, "", "", "")
        assert not erased.is_active and not erased.has_usable_password() and not erased.is_superuser
        assert Project.objects.get(slug="churn").owner_id == user.pk  # history kept, pointing at the pseudonym
        assert TeamMember.objects.get(user=user).display_name == pseudonym
        entry = LogEntry.objects.get(object_id=str(user.pk))
        assert (entry.object_repr, entry.change_message) == (pseudonym, "")
        assert privacy.actor_pseudonym(erased) == pseudonym  # stable: audit events keep the same actor
    assert seen == [(user.pk, pseudonym)]
    assert browser.get("/").status_code == 302  # session gone
    assert tenant_a.api(token.plaintext).get("/api/v1/me").status_code == 401
    relogin = tenant_a.client().post("/accounts/login/", {"username": "carol", "password": PASSWORD})
    assert relogin.status_code == 200


def test_pseudonyms_are_stable_per_tenant_and_differ_across_tenants(tenant_a, tenant_b):
    with tenant_a.context():
        a1 = privacy.actor_pseudonym(1)
        assert privacy.actor_pseudonym(get_user_model().objects.get(pk=1)) == a1
        assert a1.startswith("user-") and len(a1) == 21 and privacy.actor_pseudonym(2) != a1
    with tenant_b.context():
        assert privacy.actor_pseudonym(1) != a1


def test_the_last_administrator_cannot_be_erased(tenant_b):
    with tenant_b.context():
        admin = get_user_model().objects.get(username="admin")
        with pytest.raises(ValidationError, match="last active administrator"):
            privacy.user_erase(user=admin)
        assert get_user_model().objects.get(pk=admin.pk).username == "admin"
    with pytest.raises(CommandError, match=r"Nothing was changed\. user: This is the organisation's last active"):
        call_command("erase_user_data", "--tenant", "beta", "--user", "admin", "--yes", stdout=StringIO())


def test_erasure_asks_for_the_username_without_yes(tenant_a, carol, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "not-carol")
    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("erase_user_data", "--tenant", "alpha", "--user", "carol", stdout=StringIO())
    with tenant_a.context():
        assert get_user_model().objects.filter(username="carol", is_active=True).exists()
    with pytest.raises(CommandError, match="No tenant with slug 'nowhere'"):
        call_command("erase_user_data", "--tenant", "nowhere", "--user", "carol", "--yes", stdout=StringIO())
