"""The webhook endpoint: signatures, replay protection, size limit, unknown events, malformed payloads, tenancy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from django.db import connection
from django.test import Client, override_settings

from apps.integrations.choices import DeliveryStatus, Provider
from apps.integrations.models import CiRun, Commit, Integration, PullRequest, WebhookDelivery
from apps.integrations.secrets import github_signature
from apps.integrations.services import integration_rotate_secret, integration_update
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.payloads import (
    deliver_github,
    deliver_gitlab,
    gh_check_suite,
    gh_commit,
    gh_pull_request,
    gh_push,
    gh_workflow_run,
    gl_commit,
    gl_merge_request,
    gl_pipeline,
    gl_push,
    sha,
    webhook_path,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def github(tenant_a):
    with tenant_a.context():
        return make_integration(ProjectFactory(), Provider.GITHUB)


@pytest.fixture
def gitlab(tenant_a):
    with tenant_a.context():
        return make_integration(ProjectFactory(), Provider.GITLAB)


def _stored(ctx, integration) -> dict[str, int]:
    with ctx.context():
        return {
            "deliveries": WebhookDelivery.objects.filter(integration=integration).count(),
            "commits": Commit.objects.filter(integration=integration).count(),
            "pull_requests": PullRequest.objects.filter(integration=integration).count(),
            "ci_runs": CiRun.objects.filter(integration=integration).count(),
        }


NOTHING = {"deliveries": 0, "commits": 0, "pull_requests": 0, "ci_runs": 0}


def test_signed_github_push_is_stored_raw_and_normalised(tenant_a, github):
    integration, secret = github
    payload = gh_push(
        [
            gh_commit("c1", at=T0, added=["model/train.py"]),
            gh_commit("c2", at=T0.replace(hour=11), name="Bob", email="Bob@Acme.test", modified=["model/train.py"]),
        ]
    )
    response = deliver_github(tenant_a.host, integration, secret, "push", payload, delivery="d-1")
    assert response.status_code == 200
    assert response.json() == {
        "status": "processed",
        "delivery": "d-1",
        "commits": 2,
        "pull_requests": 0,
        "reviews": 0,
        "ci_runs": 0,
    }
    with tenant_a.context():
        delivery = WebhookDelivery.objects.get(integration=integration)
        assert delivery.payload == payload and delivery.status == DeliveryStatus.PROCESSED
        assert delivery.event == "push" and delivery.body_size == len(json.dumps(payload).encode())
        commits = {c.sha: c for c in Commit.objects.filter(integration=integration)}
        assert set(commits) == {sha("c1"), sha("c2")}
        bob = commits[sha("c2")]
        assert (bob.author_key, bob.author_name, bob.files_modified) == ("bob@acme.test", "Bob", ["model/train.py"])
        assert bob.authored_at == T0.replace(hour=11) and bob.project_id == integration.project_id
        assert Integration.objects.get(pk=integration.pk).last_delivery_at is not None


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, "sha1=abc", "garbage"],
    ids=["missing", "empty", "wrong-digest", "wrong-algorithm", "garbage"],
)
def test_github_delivery_without_a_valid_signature_is_401_and_stores_nothing(tenant_a, github, signature):
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    response = deliver_github(tenant_a.host, integration, secret, "push", payload, signature=signature)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "X-Hub-Signature-256"
    assert _stored(tenant_a, integration) == NOTHING


def test_github_signature_of_another_body_or_secret_is_rejected(tenant_a, github):
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    body = json.dumps(payload).encode()
    tampered = body.replace(b"Alice", b"Mallory")
    assert (
        deliver_github(
            tenant_a.host, integration, secret, "push", None, body=tampered, signature=github_signature(secret, body)
        ).status_code
        == 401
    )
    assert (
        deliver_github(
            tenant_a.host, integration, secret, "push", None, body=body, signature=github_signature(secret + "x", body)
        ).status_code
        == 401
    )
    assert _stored(tenant_a, integration) == NOTHING


def test_gitlab_delivery_needs_the_secret_token(tenant_a, gitlab):
    integration, token = gitlab
    payload = gl_push([gl_commit("g1", at=T0, added=["a.py"])])
    for wrong in (None, "", token + "x", token.upper()):
        response = deliver_gitlab(tenant_a.host, integration, wrong, "Push Hook", payload)
        assert response.status_code == 401
        assert response.json()["errors"][0]["field"] == "X-Gitlab-Token"
    assert _stored(tenant_a, integration) == NOTHING
    assert deliver_gitlab(tenant_a.host, integration, token, "Push Hook", payload).status_code == 200
    with tenant_a.context():
        commit = Commit.objects.get(integration=integration)
        assert (commit.sha, commit.author_key, commit.files_added) == (sha("g1"), "alice@acme.test", ["a.py"])


def test_secrets_are_shown_once_and_never_stored(tenant_a, github, gitlab):
    """Neither the GitHub secret nor the GitLab token appears in any row of the tenant's or the platform's tables."""
    secrets = [github[1], gitlab[1]]
    with tenant_a.context(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('alpha', 'public') AND table_type = 'BASE TABLE'"
        )
        tables = cursor.fetchall()
        assert ("alpha", "integrations_integration") in tables
        for schema, table in tables:
            for secret in secrets:
                cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text LIKE %s', [f"%{secret}%"])
                assert cursor.fetchone()[0] == 0, f"secret found in {schema}.{table}"


def test_replayed_delivery_is_acknowledged_without_reprocessing(tenant_a, github):
    integration, secret = github
    opened = gh_pull_request("opened", 7, opened=T0, updated=T0)
    first = deliver_github(tenant_a.host, integration, secret, "pull_request", opened, delivery="same-guid")
    assert first.status_code == 200 and first.json()["status"] == "processed"
    again = deliver_github(tenant_a.host, integration, secret, "pull_request", opened, delivery="same-guid")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "delivery": "same-guid"}
    # Even a different (validly signed) body under a used delivery id is not processed.
    closed = gh_pull_request("closed", 7, opened=T0, updated=T0.replace(hour=12), state="closed", closed_at=T0)
    replay = deliver_github(tenant_a.host, integration, secret, "pull_request", closed, delivery="same-guid")
    assert replay.json()["status"] == "duplicate"
    with tenant_a.context():
        assert WebhookDelivery.objects.filter(integration=integration).count() == 1
        assert PullRequest.objects.get(integration=integration).state == "open"


def test_gitlab_replay_uses_idempotency_key_then_event_uuid_then_body_hash(tenant_a, gitlab):
    integration, token = gitlab
    payload = gl_push([gl_commit("g1", at=T0)])
    key = str(uuid4())
    assert deliver_gitlab(tenant_a.host, integration, token, "Push Hook", payload, delivery=key).status_code == 200
    # GitLab's retry: same Idempotency-Key, new X-Gitlab-Event-UUID.
    retry = deliver_gitlab(
        tenant_a.host, integration, token, "Push Hook", payload, delivery=key,
        headers={"HTTP_X_GITLAB_EVENT_UUID": str(uuid4())},
    )  # fmt: skip
    assert retry.json()["status"] == "duplicate"
    # Old GitLab without either header: the body hash identifies the delivery.
    other = gl_push([gl_commit("g2", at=T0)])
    assert deliver_gitlab(tenant_a.host, integration, token, "Push Hook", other, delivery=None).status_code == 200
    again = deliver_gitlab(tenant_a.host, integration, token, "Push Hook", other, delivery=None)
    assert again.json()["status"] == "duplicate"
    with tenant_a.context():
        ids = sorted(WebhookDelivery.objects.filter(integration=integration).values_list("delivery_id", flat=True))
        assert len(ids) == 2 and key in ids and any(i.startswith("sha256:") for i in ids)


@override_settings(INTEGRATIONS_WEBHOOK_MAX_BYTES=2048)
def test_body_over_the_size_limit_is_413_and_stores_nothing(tenant_a, github):
    integration, secret = github
    big = gh_push([gh_commit(f"c{i}", at=T0, added=[f"file_{i}.py"]) for i in range(20)])
    assert len(json.dumps(big)) > 2048
    response = deliver_github(tenant_a.host, integration, secret, "push", big)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "2048" in response.json()["detail"]
    assert _stored(tenant_a, integration) == NOTHING
    small = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github(tenant_a.host, integration, secret, "push", small).status_code == 200


def test_unknown_event_types_are_acknowledged_stored_raw_and_ignored(tenant_a, github, gitlab):
    integration, secret = github
    issue = {"action": "opened", "issue": {"number": 3, "title": "Bug"}, "repository": {"id": 1}}
    response = deliver_github(tenant_a.host, integration, secret, "issues", issue, delivery="i-1")
    assert response.status_code == 202
    assert response.json()["status"] == "ignored" and "issues" in response.json()["reason"]
    ping = deliver_github(
        tenant_a.host, integration, secret, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}
    )
    assert ping.status_code == 202
    gl_integration, token = gitlab
    note = {"object_kind": "note", "object_attributes": {"note": "hi"}}
    assert deliver_gitlab(tenant_a.host, gl_integration, token, "Note Hook", note).status_code == 202
    with tenant_a.context():
        stored = WebhookDelivery.objects.get(delivery_id="i-1")
        assert (stored.status, stored.action, stored.payload) == (DeliveryStatus.IGNORED, "opened", issue)
        assert WebhookDelivery.objects.filter(status=DeliveryStatus.IGNORED).count() == 3
    assert _stored(tenant_a, integration) | {"deliveries": 0} == NOTHING


def test_known_events_without_anything_to_record_are_202(tenant_a, github, gitlab):
    integration, secret = github
    requested = gh_workflow_run(1, started=T0, finished=T0, action="requested")
    assert deliver_github(tenant_a.host, integration, secret, "workflow_run", requested).status_code == 202
    actions = gh_check_suite(2, started=T0, finished=T0, app_slug="github-actions")
    answer = deliver_github(tenant_a.host, integration, secret, "check_suite", actions)
    assert answer.status_code == 202 and "workflow_run" in answer.json()["reason"]
    deletion = gh_push([])
    assert deliver_github(tenant_a.host, integration, secret, "push", deletion).status_code == 202
    gl_integration, token = gitlab
    running = gl_pipeline(5, status="running", created=T0)
    assert deliver_gitlab(tenant_a.host, gl_integration, token, "Pipeline Hook", running).status_code == 202
    assert _stored(tenant_a, integration)["ci_runs"] == 0
    assert _stored(tenant_a, gl_integration)["ci_runs"] == 0


@pytest.mark.parametrize(
    ("event", "body", "reason"),
    [
        ("push", b"{not json", "not valid JSON"),
        ("push", b"[1, 2]", "JSON object"),
        ("push", b"\xff\xfe", "not valid JSON"),
        ("push", json.dumps({"ref": "refs/heads/main"}).encode(), "commits is required"),
        ("push", json.dumps(gh_push([{**gh_commit("c", at=T0), "timestamp": "yesterday"}])).encode(),
         "commits[0].timestamp must be an ISO 8601 timestamp"),
        ("push", json.dumps(gh_push([{**gh_commit("c", at=T0), "id": "xyz"}])).encode(), "commits[0].id"),
        ("pull_request", json.dumps({"action": "opened", "number": 1}).encode(), "pull_request is required"),
        ("pull_request", json.dumps({**gh_pull_request("opened", 1, opened=T0, updated=T0),
                                     "pull_request": {"number": "one"}}).encode(), "pull_request.user is required"),
        ("workflow_run", json.dumps(gh_workflow_run(1, started=T0, finished=T0, conclusion="exploded")).encode(),
         "workflow_run.conclusion 'exploded' is not a known conclusion"),
    ],
    ids=["syntax", "array", "not-utf8", "no-commits", "bad-time", "bad-sha", "no-pr", "pr-shape", "conclusion"],
)  # fmt: skip
def test_malformed_github_payload_is_400_with_a_reason_and_stores_nothing(tenant_a, github, event, body, reason):
    integration, secret = github
    response = deliver_github(tenant_a.host, integration, secret, event, None, body=body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "body"
    assert _stored(tenant_a, integration) == NOTHING


def test_malformed_gitlab_payloads_are_400(tenant_a, gitlab):
    integration, token = gitlab
    mismatched = gl_push([gl_commit("g", at=T0)])
    response = deliver_gitlab(tenant_a.host, integration, token, "Merge Request Hook", mismatched)
    assert response.status_code == 400 and "object_kind 'push'" in response.json()["detail"]
    bad_state = gl_merge_request(1, action="open", state="exploded", created=T0, updated=T0)
    response = deliver_gitlab(tenant_a.host, integration, token, "Merge Request Hook", bad_state)
    assert response.status_code == 400 and "object_attributes.state" in response.json()["detail"]
    no_finish = gl_pipeline(3, status="success", created=T0, finished=None, duration=10)
    response = deliver_gitlab(tenant_a.host, integration, token, "Pipeline Hook", no_finish)
    assert response.status_code == 400 and "object_attributes.finished_at is required" in response.json()["detail"]
    assert _stored(tenant_a, integration) == NOTHING


def test_missing_event_or_delivery_header_is_400_naming_it(tenant_a, github):
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    response = deliver_github(
        tenant_a.host, integration, secret, "push", payload, headers={"HTTP_X_GITHUB_EVENT": None}
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "X-GitHub-Event"
    response = deliver_github(
        tenant_a.host, integration, secret, "push", payload, headers={"HTTP_X_GITHUB_DELIVERY": None}
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "X-GitHub-Delivery"
    assert _stored(tenant_a, integration) == NOTHING


def test_form_encoded_github_delivery_is_accepted(tenant_a, github):
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = Client(HTTP_HOST=tenant_a.host).post(
        webhook_path(integration), data=body, content_type="application/x-www-form-urlencoded",
        HTTP_X_GITHUB_EVENT="push", HTTP_X_GITHUB_DELIVERY="form-1",
        HTTP_X_HUB_SIGNATURE_256=github_signature(secret, body),
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["commits"] == 1


def test_rotating_the_secret_invalidates_the_old_one(tenant_a, github):
    integration, old = github
    with tenant_a.context():
        new = integration_rotate_secret(integration=integration).secret
    assert new != old
    payload = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github(tenant_a.host, integration, old, "push", payload).status_code == 401
    assert deliver_github(tenant_a.host, integration, new, "push", payload).status_code == 200


@override_settings(INTEGRATIONS_SECRET_KEYS=["new-key", "old-key"])
def test_secret_key_rotation_keeps_existing_github_secrets_valid(tenant_a):
    with override_settings(INTEGRATIONS_SECRET_KEYS=["old-key"]), tenant_a.context():
        integration, secret = make_integration(ProjectFactory(), Provider.GITHUB)
    payload = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github(tenant_a.host, integration, secret, "push", payload).status_code == 200
    with override_settings(INTEGRATIONS_SECRET_KEYS=["new-key"]):
        assert deliver_github(tenant_a.host, integration, secret, "push", payload).status_code == 401


def test_inactive_integration_answers_like_an_unknown_one(tenant_a, github):
    integration, secret = github
    with tenant_a.context():
        integration_update(integration=integration, is_active=False)
    payload = gh_push([gh_commit("c1", at=T0)])
    response = deliver_github(tenant_a.host, integration, secret, "push", payload)
    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "No such webhook.", "errors": []}


def test_other_tenants_host_cannot_deliver_and_learns_nothing(tenant_a, tenant_b, github):
    """B's host answers A's webhook exactly like a random UUID or garbage: 404, same body; nothing is stored."""
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    from_b = deliver_github(tenant_b.host, integration, secret, "push", payload)
    assert from_b.status_code == 404
    client = Client(HTTP_HOST=tenant_b.host)
    random = client.post(f"/api/v1/webhooks/{uuid4()}", data=b"{}", content_type="application/json")
    garbage = client.post("/api/v1/webhooks/not-a-uuid", data=b"{}", content_type="application/json")
    assert from_b.json() == random.json() == garbage.json()
    assert _stored(tenant_a, integration) == NOTHING
    with tenant_b.context():
        assert WebhookDelivery.objects.count() == 0 and Commit.objects.count() == 0


def test_webhook_is_served_on_the_tenant_host_only(tenant_a, github):
    """On the platform host, /api/v1/ needs a Bearer token naming the tenant: deliveries go to the tenant's host."""
    integration, secret = github
    payload = gh_push([gh_commit("c1", at=T0)])
    assert deliver_github("localhost", integration, secret, "push", payload).status_code == 401
    assert _stored(tenant_a, integration) == NOTHING


def test_gitlab_merge_request_and_pipeline_hooks_are_normalised(tenant_a, gitlab):
    integration, token = gitlab
    opened = gl_merge_request(3, action="open", state="opened", created=T0, updated=T0)
    assert deliver_gitlab(tenant_a.host, integration, token, "Merge Request Hook", opened).status_code == 200
    finished = T0.replace(hour=11)
    pipeline = gl_pipeline(77, status="failed", created=T0, finished=finished, duration=1800)
    assert deliver_gitlab(tenant_a.host, integration, token, "Pipeline Hook", pipeline).status_code == 200
    with tenant_a.context():
        mr = PullRequest.objects.get(integration=integration)
        assert (mr.number, mr.state, mr.opened_at, mr.author_login) == (3, "open", T0, "alice")
        run = CiRun.objects.get(integration=integration)
        assert (run.run_key, run.outcome, run.raw_status) == ("pipeline:77", "failure", "failed")
        assert (run.finished_at, run.duration_seconds) == (finished, 1800.0)


def test_third_party_check_suite_is_recorded(tenant_a, github):
    integration, secret = github
    suite = gh_check_suite(555, started=T0, finished=T0.replace(minute=7), conclusion="failure")
    assert deliver_github(tenant_a.host, integration, secret, "check_suite", suite).status_code == 200
    with tenant_a.context():
        run = CiRun.objects.get(integration=integration)
        assert (run.run_key, run.outcome, run.duration_seconds, run.name) == (
            "check_suite:555",
            "failure",
            420.0,
            "Circleci",
        )
