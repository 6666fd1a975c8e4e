"""GitLab webhook payloads (``X-Gitlab-Event``): Push Hook, Merge Request Hook, Pipeline Hook.

Field names follow GitLab's documented webhook events. The body's ``object_kind`` must agree with the header.
GitLab lists at most 20 commits per push (``total_commits_count`` says how many there were); only listed commits are
recorded. An approval (``action`` ``approved``/``approval``) counts as a review of the merge request.
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

MR_STATES = {
    "opened": PullRequestState.OPEN,
    "locked": PullRequestState.OPEN,
    "reopened": PullRequestState.OPEN,
    "closed": PullRequestState.CLOSED,
    "merged": PullRequestState.MERGED,
}
APPROVAL_ACTIONS = ("approved", "approval")
FINISHED_PIPELINES = {
    "success": CiOutcome.SUCCESS,
    "failed": CiOutcome.FAILURE,
    "canceled": CiOutcome.CANCELLED,
    "cancelled": CiOutcome.CANCELLED,
    "skipped": CiOutcome.SKIPPED,
}
UNFINISHED_PIPELINES = {
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "manual",
    "scheduled",
    "canceling",
}


def _kind(body: Reader, expected: str) -> None:
    kind = body.str("object_kind")
    if kind != expected:
        raise PayloadError(f"object_kind '{kind[:40]}' does not match the event header (expected '{expected}')")


def push(body: Reader) -> Parsed:
    _kind(body, "push")
    return push_commits(body, empty="push without commits (branch deletion)")


def merge_request(body: Reader) -> Parsed:
    _kind(body, "merge_request")
    attrs = body.obj("object_attributes")
    user = body.obj("user", required=False)
    action = attrs.str("action", required=False)
    state = attrs.str("state")
    if state not in MR_STATES:
        raise PayloadError(f"object_attributes.state '{state[:40]}' is not a merge request state")
    updated_at = attrs.time("updated_at")
    author_id = attrs.id("author_id")
    user_id = user.id("id", required=False) if user is not None else ""
    user_login = user.str("username", required=False)[:254] if user is not None else ""
    merged_at = attrs.time("merged_at", required=False)
    if merged_at is None and action == "merge":
        merged_at = updated_at
    if MR_STATES[state] == PullRequestState.MERGED or merged_at is not None:
        normalised = PullRequestState.MERGED
    else:
        normalised = MR_STATES[state]
    fact = PullRequestFact(
        number=attrs.int("iid"),
        title=attrs.str("title", required=False)[:500],
        author_external_id=author_id,
        author_login=user_login if user_id and user_id == author_id else "",
        state=normalised,
        opened_at=attrs.time("created_at"),
        updated_at=updated_at,
        merged_at=merged_at,
        closed_at=updated_at if action == "close" else None,
    )
    reviews = []
    if action in APPROVAL_ACTIONS:
        if not user_id:
            raise PayloadError("user.id is required for an approval")
        reviews.append(
            ReviewFact(
                pr_number=fact.number,
                review_key=f"approval:{user_id}:{updated_at.isoformat()}",
                reviewer_external_id=user_id,
                reviewer_login=user_login,
                state="approved",
                submitted_at=updated_at,
            )
        )
    return Parsed(action=action, pull_requests=[fact], reviews=reviews)


def pipeline(body: Reader) -> Parsed:
    _kind(body, "pipeline")
    attrs = body.obj("object_attributes")
    status = attrs.str("status")
    pipeline_id = attrs.id("id")
    if status in UNFINISHED_PIPELINES:
        return Parsed(action=status, ignored=f"pipeline {status}: only finished pipelines are recorded")
    if status not in FINISHED_PIPELINES:
        raise PayloadError(f"object_attributes.status '{status[:40]}' is not a pipeline status")
    finished = attrs.time("finished_at", required=FINISHED_PIPELINES[status] in (CiOutcome.SUCCESS, CiOutcome.FAILURE))
    if finished is None:
        return Parsed(action=status, ignored=f"pipeline {status} without finished_at")
    return Parsed(
        action=status,
        ci_runs=[
            CiRunFact(
                run_key=f"pipeline:{pipeline_id}",
                attempt=1,
                name=attrs.str("name", required=False)[:254],
                branch=attrs.str("ref", required=False)[:254],
                commit_sha=attrs.str("sha", required=False)[:64],
                outcome=FINISHED_PIPELINES[status],
                raw_status=status,
                started_at=attrs.time("created_at", required=False),
                finished_at=finished,
                duration_seconds=attrs.number("duration", required=False),
            )
        ],
    )


HANDLERS = {
    "Push Hook": push,
    "Merge Request Hook": merge_request,
    "Pipeline Hook": pipeline,
}
