"""Delivery metrics, end to end: payloads delivered through the webhook, numbers computed by hand.

The GitHub history below covers March 2026 (Mon 2 – Sun 29 March = 4 weeks, 28 days):

commits (non-merge, in period): c1 alice 03-02 adds a.py · c2 alice 03-03 modifies a.py (rework: a.py added 1 day
earlier) · c3 bob 03-05 adds b.py · c4 alice 03-10 modifies c.py (c.py added 03-10 − 28 days by c0: outside the 21-day
window, not rework) · c5 bob 03-12 'Revert "…"' removes b.py (rework) · c6 alice 03-20 'fixup! …' (rework) · c7 carol
03-25 modifies e.py (e.py last touched 02-01: not rework). Also: c0 carol 02-10 and c_old dave 02-01 (before the
period), a merge commit on 03-26 (excluded) and c9 on 04-01 (after the period).

→ commit frequency 7 / 4 weeks = 1.75/week · active contributors 3 · bus factor alice 4/7 = 0.5714 ·
  rework 3/7 = 0.4286 (2 of them reverts/fixups).

pull requests (hours open→merged / open→first non-author review):
PR1 24 / 4 · PR2 48 / 10 (alice's self-review at +1 h ignored) · PR3 36 / 24 · PR4 96 / 2 · PR5 (February, outside)
· PR6 closed unmerged, never reviewed.
→ lead time sorted 24, 36, 48, 96: p50 = (36+48)/2 = 42; p90 at rank 0.9·3 = 2.7: 48 + 0.7·48 = 81.6.
→ turnaround sorted 2, 4, 10, 24: p50 = 7; p90 = 10 + 0.7·14 = 19.8.

CI (workflow runs finished in the period): success 600 s, failure 300 s, success 900 s, cancelled 60 s (left out),
timed_out 1200 s (a failure), success 600 s; one more success in April (outside).
→ pass rate 3/5 = 0.6; mean duration (600+300+900+1200+600)/5 = 720 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.services import token_create
from apps.integrations.choices import Provider
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
    sha,
)

pytestmark = pytest.mark.django_db


def at(month, day, hour=10, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def admin_token(ctx) -> str:
    with ctx.context():
        return token_create(user=get_user_model().objects.get(username="admin"), name="metrics").plaintext


def _merged_pr(number, opened, merged, reviews):
    events = [("pull_request", gh_pull_request("opened", number, opened=opened, updated=opened))]
    for review_id, (login, uid, submitted) in enumerate(reviews, start=number * 10):
        events.append(
            (
                "pull_request_review",
                gh_review(number, review_id=review_id, reviewer=login, reviewer_id=uid, submitted=submitted,
                          opened=opened, updated=submitted),
            )
        )  # fmt: skip
    events.append(
        ("pull_request", gh_pull_request("closed", number, opened=opened, updated=merged, state="closed",
                                         merged_at=merged, closed_at=merged))
    )  # fmt: skip
    return events


def github_history():
    bob = {"name": "Bob", "email": "bob@acme.test", "username": "bob"}
    carol = {"name": "Carol", "email": "carol@acme.test", "username": "carol"}
    dave = {"name": "Dave", "email": "dave@acme.test", "username": "dave"}
    revert = f'Revert "Add b"\n\nThis reverts commit {sha("c3")}.'
    pushes = [
        [gh_commit("c_old", at=at(2, 1), added=["e.py"], **dave),
         gh_commit("c0", at=at(2, 10), added=["c.py"], **carol)],
        [gh_commit("c1", at=at(3, 2), added=["a.py"]), gh_commit("c2", at=at(3, 3), modified=["a.py"]),
         gh_commit("c3", at=at(3, 5), added=["b.py"], **bob)],
        [gh_commit("c4", at=at(3, 10), modified=["c.py"]),
         gh_commit("c5", at=at(3, 12), removed=["b.py"], message=revert, **bob)],
        [gh_commit("c6", at=at(3, 20), modified=["d.py"], message="fixup! Tune thresholds"),
         gh_commit("c7", at=at(3, 25), modified=["e.py"], **carol),
         gh_commit("c8", at=at(3, 26), modified=["a.py"], message="Merge pull request #1 from acme/feature-1")],
        [gh_commit("c9", at=at(4, 1), modified=["a.py"])],
    ]  # fmt: skip
    events = [("push", gh_push(commits)) for commits in pushes]
    events += _merged_pr(1, at(3, 2, 9), at(3, 3, 9), [("bob", 102, at(3, 2, 13))])
    events += _merged_pr(2, at(3, 4, 0), at(3, 6, 0), [("alice", 101, at(3, 4, 1)), ("carol", 103, at(3, 4, 10))])
    events += _merged_pr(3, at(3, 9, 12), at(3, 11, 0), [("bob", 102, at(3, 10, 12))])
    events += _merged_pr(4, at(3, 16, 0), at(3, 20, 0), [("bob", 102, at(3, 16, 2))])
    events += _merged_pr(5, at(2, 20), at(2, 25), [("bob", 102, at(2, 21))])
    events.append(("pull_request", gh_pull_request("opened", 6, opened=at(3, 25), updated=at(3, 25))))
    events.append(
        ("pull_request", gh_pull_request("closed", 6, opened=at(3, 25), updated=at(3, 26), state="closed",
                                         closed_at=at(3, 26)))
    )  # fmt: skip
    runs = [
        (1, at(3, 2), 600, "success"),
        (2, at(3, 3), 300, "failure"),
        (3, at(3, 10), 900, "success"),
        (4, at(3, 11), 60, "cancelled"),
        (5, at(3, 18), 1200, "timed_out"),
        (6, at(3, 25), 600, "success"),
        (7, at(4, 2), 100, "success"),
    ]
    for run_id, started, seconds, conclusion in runs:
        finished = started + timedelta(seconds=seconds)
        events.append(
            ("workflow_run", gh_workflow_run(run_id, started=started, finished=finished, conclusion=conclusion))
        )
    return events


@pytest.fixture
def history(tenant_a):
    """A project with a GitHub integration (created in January) that received the history above."""
    with tenant_a.context():
        project = ProjectFactory()
        integration, secret = make_integration(project, created_at=at(1, 5))
    for event, payload in github_history():
        assert deliver_github(tenant_a.host, integration, secret, event, payload).status_code == 200
    return project


def test_every_metric_matches_the_hand_computed_value(tenant_a, history):
    api = tenant_a.api(admin_token(tenant_a))
    response = api.get(f"/api/v1/projects/{history.pk}/delivery-metrics?from=2026-03-02&to=2026-03-29")
    assert response.status_code == 200
    body = response.json()
    assert (body["project"], body["from"], body["to"], body["status"], body["integrations"]) == (
        history.pk, "2026-03-02", "2026-03-29", "ok", 1,
    )  # fmt: skip
    assert body["coverage"]["days"] == 28.0
    m = body["metrics"]
    assert m["commit_frequency"] == {"status": "ok", "value": 1.75, "unit": "commits/week", "n": 7}
    assert m["active_contributors"] == {"status": "ok", "value": 3, "unit": "people", "n": 7}
    assert m["bus_factor"] | {} == {
        "status": "ok", "value": 0.5714, "unit": "share of commits", "n": 7, "top_contributor": "Alice",
        "top_contributor_commits": 4,
    }  # fmt: skip
    assert m["pr_lead_time"] == {"status": "ok", "p50": 42.0, "p90": 81.6, "unit": "hours", "n": 4}
    assert m["review_turnaround"] == {"status": "ok", "p50": 7.0, "p90": 19.8, "unit": "hours", "n": 4}
    assert m["ci_pass_rate"] == {
        "status": "ok", "value": 0.6, "unit": "ratio", "n": 5,
        "outcomes": {"success": 3, "failure": 2, "cancelled": 1, "skipped": 0},
    }  # fmt: skip
    assert m["ci_mean_duration"] == {"status": "ok", "value": 720.0, "unit": "seconds", "n": 5}
    assert m["rework_rate"] == {
        "status": "ok", "value": 0.4286, "unit": "share of commits", "n": 7, "rework_commits": 3,
        "reverts_and_fixups": 2, "window_days": 21,
    }  # fmt: skip
    assert body["series"] == {
        "weeks": ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"],
        "commits": [3, 2, 1, 1],
        "merged_pull_requests": [2, 1, 1, 0],
        "ci_success": [1, 1, 0, 1],
        "ci_failure": [1, 0, 1, 0],
        "ci_pass_rate": [0.5, 1.0, 0.0, 1.0],
    }


def test_small_samples_are_reported_as_insufficient_data(tenant_a, history):
    """4–8 March (5 days): only PR2 merged (1 < 3 samples), only c3 committed, no CI run finished."""
    api = tenant_a.api(admin_token(tenant_a))
    body = api.get(f"/api/v1/projects/{history.pk}/delivery-metrics?from=2026-03-04&to=2026-03-08").json()
    m = body["metrics"]
    assert m["pr_lead_time"] == {
        "status": "insufficient_data", "p50": None, "p90": None, "unit": "hours", "n": 1,
        "reason": "1 merged pull requests; at least 3 are needed",
    }  # fmt: skip
    assert m["commit_frequency"]["status"] == "insufficient_data" and m["commit_frequency"]["value"] is None
    assert "5.0 days" in m["commit_frequency"]["reason"]
    assert m["active_contributors"]["value"] == 1  # c3 by bob on 03-05
    assert m["ci_pass_rate"]["status"] == "insufficient_data"
    assert m["ci_mean_duration"] == {
        "status": "insufficient_data", "value": None, "unit": "seconds", "n": 0,
        "reason": "no CI run with a known duration in the period",
    }  # fmt: skip


def test_a_period_without_commits_reports_no_bus_factor_or_rework(tenant_a, history):
    api = tenant_a.api(admin_token(tenant_a))
    body = api.get(f"/api/v1/projects/{history.pk}/delivery-metrics?from=2026-05-04&to=2026-05-31").json()
    m = body["metrics"]
    assert m["commit_frequency"] == {"status": "ok", "value": 0.0, "unit": "commits/week", "n": 0}
    assert m["active_contributors"]["value"] == 0
    assert m["bus_factor"]["status"] == m["rework_rate"]["status"] == "insufficient_data"
    assert m["bus_factor"]["reason"] == "no commits in the period"


def test_project_without_integration_has_explicit_insufficient_data(tenant_a):
    with tenant_a.context():
        project = ProjectFactory()
    body = tenant_a.api(admin_token(tenant_a)).get(f"/api/v1/projects/{project.pk}/delivery-metrics").json()
    assert body["status"] == "insufficient_data" and body["integrations"] == 0
    assert body["reason"] == "the project has no Git/CI integration"
    assert body["coverage"] is None and body["series"]["weeks"] == []
    assert all(metric["status"] == "insufficient_data" for metric in body["metrics"].values())
    assert body["metrics"]["pr_lead_time"]["p50"] is None and body["metrics"]["bus_factor"]["value"] is None
    assert len(body["metrics"]) == 8


def test_coverage_starts_when_the_integration_began_observing(tenant_a):
    """Integration created 15 March, first commit 16 March: in 1–28 March only 13.5 days (15 Mar 12:00 → 28 Mar
    24:00) are observed, so 3 commits are 3 / (13.5 / 7) = 1.5556 per week."""
    with tenant_a.context():
        project = ProjectFactory()
        integration, secret = make_integration(project, created_at=at(3, 15, 12))
    commits = [gh_commit(f"k{i}", at=at(3, 16 + i)) for i in range(3)]
    deliver_github(tenant_a.host, integration, secret, "push", gh_push(commits))
    body = (
        tenant_a.api(admin_token(tenant_a))
        .get(f"/api/v1/projects/{project.pk}/delivery-metrics?from=2026-03-01&to=2026-03-28")
        .json()
    )
    assert body["coverage"]["days"] == 13.5 and body["coverage"]["from"] == "2026-03-15T12:00:00+00:00"
    assert body["metrics"]["commit_frequency"]["value"] == 1.5556
    assert body["series"]["weeks"] == ["2026-03-09", "2026-03-16", "2026-03-23"]
    assert body["series"]["commits"] == [0, 3, 0]


def test_gitlab_history_metrics(tenant_a):
    """MRs merged after 2, 4 and 6 hours (approved after 1, 1 and 3 hours): lead p50 4, p90 4 + 0.8·2 = 5.6;
    turnaround sorted 1, 1, 3: p50 1, p90 1 + 0.8·2 = 2.6. Pipelines: success 120 s, failed 60 s, canceled
    → pass rate 0.5, mean 90 s."""
    with tenant_a.context():
        project = ProjectFactory()
        integration, token = make_integration(project, Provider.GITLAB, created_at=at(1, 5))
    deliver = lambda event, payload: deliver_gitlab(tenant_a.host, integration, token, event, payload)  # noqa: E731
    for iid, (hours, approve_after) in enumerate([(2, 1), (4, 1), (6, 3)], start=1):
        opened = at(3, 2 + iid)
        assert (
            deliver(
                "Merge Request Hook",
                gl_merge_request(iid, action="open", state="opened", created=opened, updated=opened),
            ).status_code
            == 200
        )
        approval = gl_merge_request(
            iid,
            action="approval",
            state="opened",
            created=opened,
            updated=opened + timedelta(hours=approve_after),
            user_id=9,
            username="erin",
        )
        assert deliver("Merge Request Hook", approval).status_code == 200
        merged = gl_merge_request(
            iid, action="merge", state="merged", created=opened, updated=opened + timedelta(hours=hours)
        )
        assert deliver("Merge Request Hook", merged).status_code == 200
    for pid, status, duration in [(1, "success", 120), (2, "failed", 60), (3, "canceled", 5)]:
        start = at(3, 10 + pid)
        payload = gl_pipeline(
            pid, status=status, created=start, finished=start + timedelta(seconds=duration + 30), duration=duration
        )
        assert deliver("Pipeline Hook", payload).status_code == 200
    deliver(
        "Push Hook",
        gl_push([gl_commit("g1", at=at(3, 3)), gl_commit("g2", at=at(3, 4), name="Erin", email="erin@acme.test")]),
    )
    body = (
        tenant_a.api(admin_token(tenant_a))
        .get(f"/api/v1/projects/{project.pk}/delivery-metrics?from=2026-03-02&to=2026-03-29")
        .json()
    )
    m = body["metrics"]
    assert (m["pr_lead_time"]["p50"], m["pr_lead_time"]["p90"]) == (4.0, 5.6)
    assert (m["review_turnaround"]["p50"], m["review_turnaround"]["p90"]) == (1.0, 2.6)
    assert (m["ci_pass_rate"]["value"], m["ci_mean_duration"]["value"]) == (0.5, 90.0)
    assert (m["active_contributors"]["value"], m["bus_factor"]["value"]) == (2, 0.5)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=yesterday", "from", "'yesterday' is not a date; use YYYY-MM-DD."),
        ("to=2026-13-01", "to", "'2026-13-01' is not a date; use YYYY-MM-DD."),
        ("from=2026-03-10&to=2026-03-01", "to", "must not be before from (2026-03-10)."),
        ("from=2020-01-01&to=2026-01-01", "to", "the period may span at most 731 days."),
    ],
)
def test_invalid_period_is_400_naming_the_field(tenant_a, query, field, message):
    with tenant_a.context():
        project = ProjectFactory()
    response = tenant_a.api(admin_token(tenant_a)).get(f"/api/v1/projects/{project.pk}/delivery-metrics?{query}")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "code": "invalid", "message": message}]


def test_metrics_of_another_tenants_project_are_invisible(tenant_a, tenant_b, history):
    token_b = admin_token(tenant_b)
    with tenant_b.context():
        from apps.projects.models import Project

        assert not Project.objects.filter(pk=history.pk).exists()
    response = tenant_b.api(token_b).get(f"/api/v1/projects/{history.pk}/delivery-metrics")
    assert response.status_code == 404
    assert "1.75" not in response.content.decode()
    # A's token on B's host, and A's session on B's host, are refused too.
    assert tenant_b.api(admin_token(tenant_a)).get(f"/api/v1/projects/{history.pk}/delivery-metrics").status_code == 401


def test_metrics_from_rows_written_directly(tenant_a):
    """Rows built with the factories (no webhook): PRs merged after 10, 20, 30 h → p50 20, p90 20 + 0.8·10 = 28;
    CI 2 successes of 60 s and 1 failure of 180 s → pass rate 0.6667, mean 100 s; 3 commits by 2 people."""
    from tests.integrations.factories import CiRunFactory, CommitFactory, PullRequestFactory

    with tenant_a.context():
        project = ProjectFactory()
        integration, _ = make_integration(project, created_at=at(1, 5))
        for hours in (10, 20, 30):
            opened = at(3, 3)
            PullRequestFactory(integration=integration, opened_at=opened, merged_at=opened + timedelta(hours=hours),
                               state="merged")  # fmt: skip
        for outcome, seconds in (("success", 60), ("success", 60), ("failure", 180)):
            CiRunFactory(integration=integration, outcome=outcome, raw_status=outcome, duration_seconds=seconds,
                         finished_at=at(3, 4))  # fmt: skip
        CommitFactory(integration=integration, authored_at=at(3, 3))
        CommitFactory(integration=integration, authored_at=at(3, 4))
        CommitFactory(integration=integration, authored_at=at(3, 5), author_key="bob@acme.test", author_name="Bob")
    body = (
        tenant_a.api(admin_token(tenant_a))
        .get(f"/api/v1/projects/{project.pk}/delivery-metrics?from=2026-03-02&to=2026-03-15")
        .json()
    )
    m = body["metrics"]
    assert (m["pr_lead_time"]["p50"], m["pr_lead_time"]["p90"]) == (20.0, 28.0)
    assert (m["ci_pass_rate"]["value"], m["ci_mean_duration"]["value"]) == (0.6667, 100.0)
    assert (m["commit_frequency"]["value"], m["active_contributors"]["value"], m["bus_factor"]["value"]) == (
        1.5, 2, 0.6667,
    )  # fmt: skip
    assert m["review_turnaround"]["status"] == "insufficient_data"
