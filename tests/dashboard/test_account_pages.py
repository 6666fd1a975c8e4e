"""One's own API tokens in the dashboard (shown once, revocable) and the home page."""

from __future__ import annotations

import re

import pytest

from apps.accounts.models import ApiToken
from tests.dashboard.helpers import json_script, signed_in, text
from tests.metrics.factories import RunFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_token_is_shown_once_works_and_stops_working_when_revoked(tenant_a):
    person = signed_in(tenant_a, role="member", username="carol")
    page = person.client.post("/account/tokens", {"name": "laptop", "scope": "read", "expires_on": ""})
    html = page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    plaintext = re.search(r'<code id="new-token-value">([^<]+)</code>', html).group(1)
    assert plaintext.startswith(f"mae_{tenant_a.schema}_") and "Copy it now: it is shown only once." in html
    with tenant_a.context():
        token = ApiToken.objects.get(name="laptop")
    assert plaintext not in token.key_hash and token.scope == "read" and token.user_id == person.user_id
    assert plaintext not in person.client.get("/account/tokens").content.decode()  # never again
    assert tenant_a.api(plaintext).get("/api/v1/me").json()["username"] == "carol"

    revoked = person.client.post(f"/account/tokens/{token.pk}/revoke", follow=True).content.decode()
    assert "Token “laptop”" in revoked and "revoked" in revoked
    assert tenant_a.api(plaintext).get("/api/v1/me").status_code == 401


def test_token_form_validates_and_others_tokens_are_not_listed_or_revocable(tenant_a):
    carol = signed_in(tenant_a, role="member", username="carol")
    dave = signed_in(tenant_a, role="member", username="dave")
    past = carol.client.post("/account/tokens", {"name": "old", "scope": "write", "expires_on": "2001-01-01"})
    assert "The expiry must be in the future." in past.content.decode()
    dave.client.post("/account/tokens", {"name": "dave-ci", "scope": "write"})
    with tenant_a.context():
        daves = ApiToken.objects.get(name="dave-ci")
    assert "dave-ci" not in carol.client.get("/account/tokens").content.decode()
    assert carol.client.post(f"/account/tokens/{daves.pk}/revoke").status_code == 404
    with tenant_a.context():
        daves.refresh_from_db()
    assert daves.revoked_at is None


def test_home_shows_counts_active_projects_runs_and_artifacts(tenant_a, tenant_b):
    with tenant_a.context():
        active = ProjectFactory(name="Live churn", status="active")
        ProjectFactory(name="Done thing", status="completed", success_score=50, success_score_source="explicit")
        RunFactory(project=active, name="nightly-train")
    with tenant_b.context():
        ProjectFactory(name="Beta live", status="active")
    html = signed_in(tenant_a).client.get("/").content.decode()
    body = text(html)
    assert "Live churn" in body and "nightly-train" in body and "Beta live" not in body
    chart = json_script(html, "status-chart-config")
    assert chart["type"] == "doughnut" and chart["data"]["datasets"][0]["data"] == [0, 1, 1, 0]


def test_home_lists_top_artifacts_by_impact_then_usage(tenant_a, tenant_b):
    from tests.artifacts.factories import ArtifactFactory

    with tenant_a.context():
        ArtifactFactory(name="popular-unscored", usage_count=9)
        ArtifactFactory(name="modest-help", impact_score=1.5, usage_count=4)
        ArtifactFactory(name="big-help", impact_score=6.4, usage_count=5)
        ArtifactFactory(name="rarely-used", usage_count=1)
    with tenant_b.context():
        ArtifactFactory(name="beta-star", impact_score=50.0, usage_count=50)
    html = signed_in(tenant_a).client.get("/").content.decode()
    card = text(html.split('id="artifacts-title"', 1)[1].split("</section>", 1)[0])
    assert "beta-star" not in card
    expected = ["big-help", "modest-help", "popular-unscored", "rarely-used"]  # impact first, then usage
    assert all(name in card for name in expected)
    assert sorted(expected, key=card.index) == expected
    assert "big-help Feature pipeline impact +6.4" in card and "impact +1.5" in card
    assert "popular-unscored Feature pipeline 9 uses" in card and card.endswith("rarely-used Feature pipeline 1 use")


def test_password_change_names_the_problems_then_changes_it_and_keeps_the_session(tenant_a):
    from django.contrib.auth import get_user_model

    from apps.accounts.services import user_create

    old, new = "first-password-8812", "second-password-4471"
    with tenant_a.context():
        user_create(username="pat", email="pat@example.test", role="member", password=old)
    client = tenant_a.client()
    login = {"username": "pat", "password": old}
    assert client.post("/accounts/login/", login)["Location"] == "/"
    form = client.get("/accounts/password/").content.decode()
    assert 'name="old_password"' in form and 'name="new_password1"' in form
    mismatch = client.post("/accounts/password/", {"old_password": old, "new_password1": new, "new_password2": "x"})
    assert mismatch.status_code == 200 and "The two password fields didn’t match." in text(mismatch.content.decode())
    changed = client.post("/accounts/password/", {"old_password": old, "new_password1": new, "new_password2": new})
    assert changed["Location"] == "/accounts/password/done/"
    assert client.get("/").status_code == 200  # still signed in
    with tenant_a.context():
        user = get_user_model().objects.get(username="pat")
        assert user.check_password(new) and not user.check_password(old)
    fresh = tenant_a.client()
    assert fresh.post("/accounts/login/", login).status_code == 200  # the old password no longer works
    assert fresh.post("/accounts/login/", {"username": "pat", "password": new})["Location"] == "/"


def test_help_pages_exist_for_their_topics_only_and_the_token_button_makes_the_users_own_token(tenant_a):
    person = signed_in(tenant_a, role="lead")
    for topic in ("log-runs", "git-ci"):
        page = person.client.get(f"/help/{topic}").content.decode()
        assert f"export MAESTRO_URL=http://{tenant_a.host}" in page
        assert "Create a token for these snippets" in page
    assert "Grammar" in person.client.get("/help/run-search").content.decode()
    assert person.client.get("/help/nothing-here").status_code == 404
    assert person.client.post("/help/run-search").status_code == 404  # only the snippet pages make tokens
    created = person.client.post("/help/log-runs").content.decode()
    with tenant_a.context():
        token = ApiToken.objects.filter(user_id=person.user_id).order_by("-id").first()
    assert token.name == "how to log runs (help page)" and token.scope == "write"
    assert f"MLFLOW_TRACKING_TOKEN=mae_{tenant_a.schema}_" in created
