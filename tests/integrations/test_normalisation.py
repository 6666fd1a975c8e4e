"""Normalisation: events in any order give the same rows; re-processing from the raw store is idempotent."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from apps.integrations.choices import DeliveryStatus, Provider
from apps.integrations.models import CiRun, Commit, PullRequest, Review, WebhookDelivery
from apps.integrations.services import integration_reprocess
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.payloads import (
    deliver_github,
    deliver_gitlab,
    gh_commit,
    gh_pull_request,
    gh_push,
    gh_review,
    gh_workflow_run,
    gl_commit,
    gl_merge_request,
    gl_pipeline,
    gl_push,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def pr_lifecycle():
    """A pull request opened at T0 by alice, reviewed by alice (self) at +1 h and bob at +4 h, merged at +24 h."""
    merged = T0 + 24 * H
    return [
        ("pull_request", gh_pull_request("opened", 5, opened=T0, updated=T0)),
        ("pull_request_review", gh_review(5, review_id=71, reviewer="alice", reviewer_id=101, submitted=T0 + H,
                                          state="commented", opened=T0, updated=T0 + H)),
        ("pull_request_review", gh_review(5, review_id=72, reviewer="bob", reviewer_id=102, submitted=T0 + 4 * H,
                                          opened=T0, updated=T0 + 4 * H)),
        ("pull_request", gh_pull_request("closed", 5, opened=T0, updated=merged, state="closed", merged_at=merged,
                                         closed_at=merged)),
    ]  # fmt: skip


def pr_rows(ctx, integration):
    with ctx.context():
        return [
            (pr.number, pr.state, pr.title, pr.opened_at, pr.merged_at, pr.last_closed_at, pr.first_review_at,
             pr.author_login, pr.author_external_id, pr.snapshot_at, pr.snapshot_rank,
             sorted((r.review_key, r.reviewer_login, r.state, r.submitted_at) for r in pr.reviews.all()))
            for pr in PullRequest.objects.filter(integration=integration).order_by("number")
        ]  # fmt: skip


def normalised_rows(ctx, integration):
    """Every normalised row of an integration, without database ids."""
    with ctx.context():
        commits = sorted(
            Commit.objects.filter(integration=integration).values_list(
                "sha", "author_key", "author_name", "message", "authored_at", "files_added", "files_modified",
                "files_removed", "is_merge", "is_revert", "is_fixup",
            )
        )  # fmt: skip
        runs = sorted(
            CiRun.objects.filter(integration=integration).values_list(
                "run_key", "attempt", "name", "branch", "commit_sha", "outcome", "raw_status", "started_at",
                "finished_at", "duration_seconds",
            )
        )  # fmt: skip
    return {"commits": commits, "pull_requests": pr_rows(ctx, integration), "ci_runs": runs}


def test_pull_request_events_in_every_order_give_the_same_final_state(tenant_a):
    events = pr_lifecycle()
    results = []
    for order in itertools.permutations(range(len(events))):
        with tenant_a.context():
            integration, secret = make_integration(ProjectFactory())
        for index in order:
            event, payload = events[index]
            assert deliver_github(tenant_a.host, integration, secret, event, payload).status_code == 200
        results.append(pr_rows(tenant_a, integration))
    assert len(results) == 24
    assert all(result == results[0] for result in results)
    (number, state, _title, opened, merged, closed, first_review, login, *_rest), = results[0]  # fmt: skip
    assert (number, state, login) == (5, "merged", "alice")
    assert (opened, merged, closed) == (T0, T0 + 24 * H, T0 + 24 * H)
    # alice's own comment does not count as a review: the turnaround starts with bob's.
    assert first_review == T0 + 4 * H


def test_closed_before_opened_ends_closed_and_a_later_reopen_wins(tenant_a):
    with tenant_a.context():
        integration, secret = make_integration(ProjectFactory())
    closed_at = T0 + 2 * H
    closed = gh_pull_request("closed", 9, opened=T0, updated=closed_at, state="closed", closed_at=closed_at)
    opened = gh_pull_request("opened", 9, opened=T0, updated=T0)
    for payload in (closed, opened):
        deliver_github(tenant_a.host, integration, secret, "pull_request", payload)
    with tenant_a.context():
        pr = PullRequest.objects.get(integration=integration, number=9)
        assert (pr.state, pr.last_closed_at, pr.merged_at) == ("closed", closed_at, None)
    reopened = gh_pull_request("reopened", 9, opened=T0, updated=T0 + 3 * H)
    deliver_github(tenant_a.host, integration, secret, "pull_request", reopened)
    with tenant_a.context():
        assert PullRequest.objects.get(integration=integration, number=9).state == "open"


def test_review_before_the_pull_request_was_seen_creates_it(tenant_a):
    with tenant_a.context():
        integration, secret = make_integration(ProjectFactory())
    review = gh_review(4, review_id=9, reviewer="carol", reviewer_id=103, submitted=T0 + 2 * H, opened=T0,
                       updated=T0 + 2 * H, state="changes_requested")  # fmt: skip
    assert deliver_github(tenant_a.host, integration, secret, "pull_request_review", review).status_code == 200
    with tenant_a.context():
        pr = PullRequest.objects.get(integration=integration, number=4)
        assert (pr.state, pr.opened_at, pr.first_review_at, pr.author_login) == ("open", T0, T0 + 2 * H, "alice")
        assert list(pr.reviews.values_list("reviewer_login", "state")) == [("carol", "changes_requested")]
    dismissed = gh_review(4, review_id=9, reviewer="carol", reviewer_id=103, submitted=T0 + 2 * H, opened=T0,
                          updated=T0 + 5 * H, state="dismissed", action="dismissed")  # fmt: skip
    deliver_github(tenant_a.host, integration, secret, "pull_request_review", dismissed)
    with tenant_a.context():
        assert Review.objects.get(pull_request__integration=integration).state == "dismissed"


def test_gitlab_merge_request_events_in_reverse_order(tenant_a):
    with tenant_a.context():
        integration, token = make_integration(ProjectFactory(), Provider.GITLAB)
    approved_at, merged_at = T0 + 3 * H, T0 + 6 * H
    events = [
        gl_merge_request(2, action="open", state="opened", created=T0, updated=T0),
        gl_merge_request(2, action="approved", state="opened", created=T0, updated=approved_at, user_id=8,
                         username="bob"),
        gl_merge_request(2, action="merge", state="merged", created=T0, updated=merged_at),
        gl_merge_request(2, action="update", state="merged", created=T0, updated=merged_at + H),
    ]  # fmt: skip
    for payload in reversed(events):
        assert deliver_gitlab(tenant_a.host, integration, token, "Merge Request Hook", payload).status_code == 200
    with tenant_a.context():
        mr = PullRequest.objects.get(integration=integration)
        assert (mr.state, mr.opened_at, mr.merged_at, mr.first_review_at) == ("merged", T0, merged_at, approved_at)
        assert (mr.author_external_id, mr.author_login) == ("4", "alice")
        assert list(mr.reviews.values_list("reviewer_login", "state")) == [("bob", "approved")]


def test_gitlab_merged_at_field_is_used_when_present(tenant_a):
    with tenant_a.context():
        integration, token = make_integration(ProjectFactory(), Provider.GITLAB)
    merged_at = T0 + 2 * H
    payload = gl_merge_request(6, action="update", state="merged", created=T0, updated=T0 + 9 * H,
                               merged_at=merged_at.strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    deliver_gitlab(tenant_a.host, integration, token, "Merge Request Hook", payload)
    with tenant_a.context():
        assert PullRequest.objects.get(integration=integration).merged_at == merged_at


def test_ci_run_attempts_and_retried_pipelines(tenant_a):
    with tenant_a.context():
        github, secret = make_integration(ProjectFactory())
        gitlab, token = make_integration(ProjectFactory(), Provider.GITLAB)
    first = gh_workflow_run(11, started=T0, finished=T0 + timedelta(minutes=5), conclusion="failure")
    second = gh_workflow_run(11, started=T0 + H, finished=T0 + H + timedelta(minutes=4), attempt=2)
    for payload in (second, first):
        deliver_github(tenant_a.host, github, secret, "workflow_run", payload)
    late = gl_pipeline(40, status="success", created=T0, finished=T0 + 2 * H, duration=300)
    early = gl_pipeline(40, status="failed", created=T0, finished=T0 + H, duration=200)
    for payload in (late, early):
        deliver_gitlab(tenant_a.host, gitlab, token, "Pipeline Hook", payload)
    with tenant_a.context():
        attempts = CiRun.objects.filter(integration=github).order_by("attempt")
        assert [(r.attempt, r.outcome, r.duration_seconds) for r in attempts] == [
            (1, "failure", 300),
            (2, "success", 240),
        ]
        pipeline = CiRun.objects.get(integration=gitlab)
        assert (pipeline.outcome, pipeline.finished_at, pipeline.duration_seconds) == ("success", T0 + 2 * H, 300)


def _mixed_history(ctx, integration, secret):
    commits = [
        gh_commit("a", at=T0, added=["a.py"]),
        gh_commit("b", at=T0 + H, modified=["a.py"], message='Revert "a"\n\nThis reverts commit ' + "f" * 40 + "."),
        gh_commit("m", at=T0 + 2 * H, modified=["a.py"], message="Merge pull request #5 from acme/feature"),
        gh_commit("f", at=T0 + 3 * H, modified=["b.py"], message="fixup! tune"),
    ]
    deliveries = [
        ("push", gh_push(commits[:2])),
        ("push", gh_push(commits[1:])),  # overlapping push: "b" is listed twice
        *pr_lifecycle(),
        ("workflow_run", gh_workflow_run(21, started=T0, finished=T0 + timedelta(minutes=9), conclusion="timed_out")),
        ("workflow_run", gh_workflow_run(22, started=T0, finished=T0, action="in_progress")),
        ("issues", {"action": "opened", "issue": {"number": 1}}),
    ]
    for event, payload in deliveries:
        assert deliver_github(ctx.host, integration, secret, event, payload).status_code in (200, 202)


def test_reprocessing_rebuilds_identical_rows_and_is_idempotent(tenant_a):
    with tenant_a.context():
        integration, secret = make_integration(ProjectFactory())
    _mixed_history(tenant_a, integration, secret)
    live = normalised_rows(tenant_a, integration)
    assert len(live["commits"]) == 4 and len(live["pull_requests"]) == 1 and len(live["ci_runs"]) == 1
    flags = {row[3].split("\n")[0]: row[8:] for row in live["commits"]}
    assert flags['Revert "a"'] == (False, True, False)
    assert flags["Merge pull request #5 from acme/feature"] == (True, False, False)
    assert flags["fixup! tune"] == (False, False, True)
    with tenant_a.context():
        # Corrupt the normalised rows: re-processing must restore them from the raw deliveries.
        Commit.objects.filter(integration=integration).update(author_key="someone-else")
        PullRequest.objects.filter(integration=integration).delete()
        result = integration_reprocess(integration=integration)
    assert (result.deliveries, result.processed, result.ignored, result.failed) == (9, 7, 2, 0)
    assert normalised_rows(tenant_a, integration) == live
    call_command("reprocess_integration_events", tenant="alpha", integration=str(integration.webhook_id))
    call_command("reprocess_integration_events", tenant="alpha", project=integration.project_id)
    assert normalised_rows(tenant_a, integration) == live
    with tenant_a.context():
        assert WebhookDelivery.objects.filter(integration=integration, status=DeliveryStatus.PROCESSED).count() == 7


def test_deliveries_in_reverse_order_give_the_rows_of_in_order_delivery(tenant_a):
    with tenant_a.context():
        in_order, secret_1 = make_integration(ProjectFactory())
        reversed_, secret_2 = make_integration(ProjectFactory())
    events = [
        ("push", gh_push([gh_commit("x", at=T0, added=["x.py"])])),
        ("push", gh_push([gh_commit("y", at=T0 + H, modified=["x.py"])])),
        *pr_lifecycle(),
        ("workflow_run", gh_workflow_run(31, started=T0, finished=T0 + H)),
    ]
    for event, payload in events:
        deliver_github(tenant_a.host, in_order, secret_1, event, payload)
    for event, payload in reversed(events):
        deliver_github(tenant_a.host, reversed_, secret_2, event, payload)
    assert normalised_rows(tenant_a, in_order) == normalised_rows(tenant_a, reversed_)


def test_a_delivery_that_no_longer_parses_is_marked_failed_on_reprocessing(tenant_a):
    with tenant_a.context():
        integration, secret = make_integration(ProjectFactory())
    deliver_github(tenant_a.host, integration, secret, "push", gh_push([gh_commit("a", at=T0)]), delivery="ok-1")
    deliver_github(tenant_a.host, integration, secret, "push", gh_push([gh_commit("b", at=T0)]), delivery="bad-1")
    with tenant_a.context():
        WebhookDelivery.objects.filter(delivery_id="bad-1").update(payload={"ref": "refs/heads/main"})
        result = integration_reprocess(integration=integration)
        assert (result.processed, result.failed) == (1, 1)
        bad = WebhookDelivery.objects.get(delivery_id="bad-1")
        assert (bad.status, bad.detail) == (DeliveryStatus.FAILED, "commits is required")
        assert Commit.objects.filter(integration=integration).count() == 1


def test_gitlab_push_commits_are_recorded(tenant_a):
    with tenant_a.context():
        integration, token = make_integration(ProjectFactory(), Provider.GITLAB)
    payload = gl_push([gl_commit("g1", at=T0, modified=["a.py"], name="Dana", email="dana@acme.test")])
    assert deliver_gitlab(tenant_a.host, integration, token, "Push Hook", payload).json()["commits"] == 1
    with tenant_a.context():
        commit = Commit.objects.get(integration=integration)
        assert (commit.author_name, commit.author_key, commit.files_modified) == ("Dana", "dana@acme.test", ["a.py"])


def test_reprocess_command_rejects_unknown_targets(tenant_a):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("reprocess_integration_events", tenant="nosuch")
    with pytest.raises(CommandError, match="not a UUID"):
        call_command("reprocess_integration_events", tenant="alpha", integration="xyz")
    with pytest.raises(CommandError, match="No integration matches"):
        call_command("reprocess_integration_events", tenant="alpha", project=987654)


def test_reprocess_task_runs_in_the_named_schema(tenant_a, tenant_b):
    from apps.integrations.tasks import reprocess_integration

    with tenant_a.context():
        integration, secret = make_integration(ProjectFactory())
    deliver_github(tenant_a.host, integration, secret, "push", gh_push([gh_commit("t1", at=T0)]))
    with tenant_a.context():  # the task serves a recorded request (integration_reprocess_enqueue records it)
        type(integration).objects.filter(pk=integration.pk).update(reprocess_requested_at=T0)
    summary = reprocess_integration(schema_name="alpha", integration_id=integration.pk)
    assert summary == {"deliveries": 1, "processed": 1, "ignored": 0, "failed": 0}
    # Sent twice (by the request and by reconciliation): the second copy finds the request served.
    assert reprocess_integration(schema_name="alpha", integration_id=integration.pk) is None
    # The same id in another tenant's schema is not this integration.
    assert reprocess_integration(schema_name="beta", integration_id=integration.pk) is None
