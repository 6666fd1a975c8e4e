"""Structured logs: one JSON event per line with request id, tenant, actor, route, status, duration; no password,
token or secret in any line; the request id reaches the Celery task the request started."""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.services import token_create, user_create
from apps.ops.models import TenantExport
from maestro.logging import REDACTED, redact_text, redact_value
from tests.support.celery import wait_for
from tests.support.log_secrets import find_secrets


@pytest.fixture
def log_output():
    """Everything logged while the test runs, formatted by the production handler's formatter and filters."""
    root = logging.getLogger()
    console = next(h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream is not None)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def _events(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db
def test_a_whole_auth_flow_leaves_no_password_or_token_in_the_logs(tenant_a, log_output):
    wrong_password = "Wrong-Horse-Battery-9"
    browser = tenant_a.client()
    login = browser.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    assert login.status_code == 302
    created = browser.post("/api/v1/tokens", {"name": "flow"}, content_type="application/json")
    assert created.status_code == 201
    token = created.json()["token"]
    me = tenant_a.api(token).get("/api/v1/me", HTTP_X_REQUEST_ID="flow-me-request-1")
    assert me.status_code == 200
    failed = tenant_a.client().post("/accounts/login/", {"username": "admin", "password": wrong_password})
    assert failed.status_code == 200
    forged = token[:-6] + ("000000" if not token.endswith("000000") else "111111")
    assert tenant_a.api(forged).get("/api/v1/me").status_code == 401
    platform = Client(HTTP_HOST="localhost").get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert platform.status_code == 200

    # Careless code paths: secrets in messages, extras, nested headers and exception text.
    log = logging.getLogger("maestro.test")
    log.info("debug token %s", token)
    log.warning("login failed", extra={"password": wrong_password, "form": {"password": tenant_a.admin_password}})
    log.info(
        "outgoing call", extra={"headers": {"Authorization": f"Bearer {token}"}, "body": f"password={wrong_password}"}
    )
    try:
        raise RuntimeError(f"could not use {token} with password: {tenant_a.admin_password}")
    except RuntimeError:
        log.exception("crash")

    text = log_output.getvalue()
    secret = token.rsplit("_", 1)[1]
    for value in (tenant_a.admin_password, wrong_password, token, secret, forged):
        assert value not in text
    assert text.count(REDACTED) >= 6
    prefix = token.split("_")[2]
    assert f"mae_alpha_{prefix}_{REDACTED}" in text  # the public prefix stays usable for support

    events = _events(log_output)  # every line is one JSON object
    requests = [e for e in events if e["logger"] == "maestro.request"]
    with tenant_a.context():
        admin_pk = User.objects.get(username="admin").pk
    login_line = next(e for e in requests if e["path"] == "/accounts/login/" and e["status"] == 302)
    assert login_line["actor"] == f"user:{admin_pk}" and login_line["tenant"] == "alpha"
    assert login_line["route"] == "accounts/login/" and login_line["method"] == "POST"
    assert login_line["duration_ms"] > 0 and len(login_line["request_id"]) == 32
    token_line = next(e for e in requests if e["request_id"] == "flow-me-request-1")
    assert token_line["actor"] == f"token:{prefix}" and token_line["status"] == 200
    assert token_line["route"].startswith("api/v1/me") and token_line["tenant"] == "alpha"
    assert me["X-Request-ID"] == "flow-me-request-1"
    failed_line = [e for e in requests if e["path"] == "/accounts/login/" and e["status"] == 200]
    assert failed_line and failed_line[-1]["actor"] == "-"
    assert any(e["status"] == 401 and e["actor"] == "-" for e in requests)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Authorization: Bearer abc.def-123_XYZ", f"Authorization: Bearer {REDACTED}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {REDACTED}"),
        ("authorization=basic dXNlcjpwYXNz", f"authorization=basic {REDACTED}"),
        ("basic settings stay", "basic settings stay"),
        ("GET /x?password=hunter22&page=2", f"GET /x?password={REDACTED}&page=2"),
        ("{'passwd': 'hunter22', 'user': 'bob'}", f"{{'passwd': {REDACTED}, 'user': 'bob'}}"),
        ('"secret": "s3cr3t value"', f'"secret": {REDACTED}'),
        ("Cookie: sessionid=abc123; csrftoken=zzz", f"Cookie: sessionid={REDACTED}; csrftoken={REDACTED}"),
        ("mae_acme-2_0123abcd_" + "f" * 40 + " used", f"mae_acme-2_0123abcd_{REDACTED} used"),
        ("token revoked for actor token:0123abcd", "token revoked for actor token:0123abcd"),
    ],
)
def test_redact_text(raw, expected):
    assert redact_text(raw) == expected


def test_redact_value_by_key_at_any_depth():
    data = {"user": "bob", "auth": {"api_key": "k-123", "items": [{"Password": "p"}, "Bearer abcdefgh"]}, "prefix": "x"}
    assert redact_value(data) == {
        "user": "bob",
        "auth": {"api_key": REDACTED, "items": [{"Password": REDACTED}, f"Bearer {REDACTED}"]},
        "prefix": "x",
    }


def test_suite_wide_secret_check_finds_a_leaked_secret(tmp_path):
    log = tmp_path / "suite.jsonl"
    log.write_text('{"message": "fine"}\n{"message": "oops hunter2-long-password"}\n')
    assert find_secrets(log, {"hunter2-long-password": "password", "never-logged-secret": "API token"}) == [
        ("password", 2)
    ]
    assert find_secrets(tmp_path / "missing.jsonl", {"x" * 10: "password"}) == []


def _delete_committed_exports(created_by: str) -> None:
    """The worker committed the export row; the test transaction cannot undo it, a separate connection can."""
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT path FROM ops_tenantexport WHERE created_by = %s", [created_by])
            for (path,) in cursor.fetchall():
                Path(path).unlink(missing_ok=True)
            cursor.execute("DELETE FROM ops_tenantexport WHERE created_by = %s", [created_by])
    finally:
        other.close()


@pytest.mark.slow
@pytest.mark.django_db
def test_request_id_and_actor_reach_the_task_the_request_started(committed, celery_worker):
    operator = user_create(username=f"op-{uuid.uuid4().hex[:6]}", email="op@platform.test", is_superuser=True)
    operator.is_staff = True
    operator.save()
    alpha = committed[0]
    request_id = f"ops-e2e-{uuid.uuid4().hex[:12]}"
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator)
    try:
        response = client.post(
            "/admin/tenants/tenant/",
            {"action": "export", "_selected_action": [alpha.tenant.pk]},
            HTTP_X_REQUEST_ID=request_id,
        )
        assert response.status_code == 302 and response["X-Request-ID"] == request_id
        record = wait_for(
            lambda: TenantExport.objects.filter(schema_name="alpha", created_by=f"admin:{operator.pk}").first(),
            timeout=60,
        )
        lines = [json.loads(line) for line in celery_worker.read_text().splitlines() if line.startswith("{")]
        mine = [line for line in lines if line.get("request_id") == request_id]
        assert {line["message"] for line in mine} >= {"tenant_export_started", "tenant_export_finished"}
        assert all(line["actor"] == f"user:{operator.pk}" for line in mine)
        assert record.row_count > 0
    finally:
        _delete_committed_exports(f"admin:{operator.pk}")


@pytest.mark.django_db
def test_token_holders_and_session_users_are_labelled_without_names(tenant_b, log_output):
    with tenant_b.context():
        user = user_create(username="dora.explorer", email="dora@beta.test", password="Dora-password-123")
        token = token_create(user=user, name="dora").plaintext
    tenant_b.api(token).get("/api/v1/me")
    client = tenant_b.client()
    client.post("/accounts/login/", {"username": "dora.explorer", "password": "Dora-password-123"})
    client.get("/")
    text = log_output.getvalue()
    assert "dora" not in text.lower()
    actors = {e["actor"] for e in _events(log_output) if e["logger"] == "maestro.request"}
    assert actors >= {f"token:{token.split('_')[2]}", f"user:{user.pk}"}
