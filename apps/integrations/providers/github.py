"""GitHub webhook payloads (``X-GitHub-Event``): push, pull_request, pull_request_review, workflow_run, check_suite.

Field names follow GitHub's documented webhook schemas. ``check_suite`` events from the GitHub Actions app are
ignored: the same runs arrive as ``workflow_run`` events, and counting both would double every Actions run.
"""

from __future__ import annotations

from apps.integrations.choices import CiOutcome, PullRequestState
from apps.integrations.providers.base import (
    CiRunFact,
    Parsed,
    PayloadError,
    PullRequestFact,
    Reader,
    ReviewFact,
    push_commits,
)

CONCLUSIONS = {
    "success": CiOutcome.SUCCESS,
    "failure": CiOutcome.FAILURE,
    "timed_out": CiOutcome.FAILURE,
    "startup_failure": CiOutcome.FAILURE,
    "cancelled": CiOutcome.CANCELLED,
    "skipped": CiOutcome.SKIPPED,
    "neutral": CiOutcome.SKIPPED,
    "action_required": CiOutcome.SKIPPED,
    "stale": CiOutcome.SKIPPED,
}
ACTIONS_APP = "github-actions"


def _outcome(reader: Reader, key: str) -> tuple[str, str]:
    raw = reader.str(key)
    if raw not in CONCLUSIONS:
        raise PayloadError(f"{reader.path}.{key} '{raw[:40]}' is not a known conclusion")
    return CONCLUSIONS[raw], raw


def push(body: Reader) -> Parsed:
    return push_commits(body, empty="push without commits (branch deletion or tag)")


def pull_request_fact(pr: Reader) -> PullRequestFact:
    user = pr.obj("user")
    state = pr.str("state")
    if state not in ("open", "closed"):
        raise PayloadError(f"{pr.path}.state must be 'open' or 'closed'")
    merged_at = pr.time("merged_at", required=False)
    closed_at = pr.time("closed_at", required=False)
    if merged_at is not None:
        normalised = PullRequestState.MERGED
    elif state == "closed":
        normalised = PullRequestState.CLOSED
    else:
        normalised = PullRequestState.OPEN
    return PullRequestFact(
        number=pr.int("number"),
        title=pr.str("title", required=False)[:500],
        author_external_id=user.id("id", required=False),
        author_login=user.str("login", required=False)[:254],
        state=normalised,
        opened_at=pr.time("created_at"),
        updated_at=pr.time("updated_at"),
        merged_at=merged_at,
        closed_at=closed_at if state == "closed" else None,
    )


def pull_request(body: Reader) -> Parsed:
    action = body.str("action")
    return Parsed(action=action, pull_requests=[pull_request_fact(body.obj("pull_request"))])


def pull_request_review(body: Reader) -> Parsed:
    action = body.str("action")
    pr = pull_request_fact(body.obj("pull_request"))
    review = body.obj("review")
    submitted_at = review.time("submitted_at", required=False)
    reviews = []
    if submitted_at is not None:
        user = review.obj("user")
        reviews.append(
            ReviewFact(
                pr_number=pr.number,
                review_key=review.id("id"),
                reviewer_external_id=user.id("id", required=False),
                reviewer_login=user.str("login", required=False)[:254],
                state=review.str("state").lower()[:30],
                submitted_at=submitted_at,
            )
        )
    return Parsed(action=action, pull_requests=[pr], reviews=reviews)


def _completed_run(action: str, run: Reader, *, run_key: str, attempt: int, name: str, started, finished) -> Parsed:
    """A completed workflow run or check suite (both carry ``conclusion``, ``head_branch``, ``head_sha``)."""
    outcome, raw = _outcome(run, "conclusion")
    fact = CiRunFact(
        run_key=run_key,
        attempt=attempt,
        name=name[:254],
        branch=run.str("head_branch", required=False)[:254],
        commit_sha=run.str("head_sha", required=False)[:64],
        outcome=outcome,
        raw_status=raw,
        started_at=started,
        finished_at=finished,
        duration_seconds=max((finished - started).total_seconds(), 0.0),
    )
    return Parsed(action=action, ci_runs=[fact])


def workflow_run(body: Reader) -> Parsed:
    action = body.str("action")
    run = body.obj("workflow_run")
    if action != "completed":
        return Parsed(action=action, ignored=f"workflow_run {action[:30]}: only completed runs are recorded")
    return _completed_run(
        action,
        run,
        run_key=f"workflow_run:{run.id('id')}",
        attempt=run.int("run_attempt", required=False) or 1,
        name=run.str("name", required=False),
        started=run.time("run_started_at", required=False) or run.time("created_at"),
        finished=run.time("updated_at"),
    )


def check_suite(body: Reader) -> Parsed:
    action = body.str("action")
    suite = body.obj("check_suite")
    if action != "completed":
        return Parsed(action=action, ignored=f"check_suite {action[:30]}: only completed suites are recorded")
    app = suite.obj("app", required=False)
    app_slug = app.str("slug", required=False) if app is not None else ""
    if app_slug == ACTIONS_APP:
        return Parsed(action=action, ignored="GitHub Actions check suite: recorded from workflow_run events")
    return _completed_run(
        action,
        suite,
        run_key=f"check_suite:{suite.id('id')}",
        attempt=1,
        name=app.str("name", required=False) if app is not None else "",
        started=suite.time("created_at"),
        finished=suite.time("updated_at"),
    )


def ping(body: Reader) -> Parsed:
    return Parsed(ignored="ping: the webhook is configured")


HANDLERS = {
    "push": push,
    "pull_request": pull_request,
    "pull_request_review": pull_request_review,
    "workflow_run": workflow_run,
    "check_suite": check_suite,
    "ping": ping,
}
