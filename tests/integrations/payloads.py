"""Webhook payloads built to the providers' documented schemas (only the fields a real delivery carries, with the
types the providers use), and helpers that sign and deliver them like GitHub and GitLab do."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import uuid4

from django.test import Client

from apps.integrations.secrets import github_signature

REPO = {"id": 35129377, "name": "churn-model", "full_name": "acme/churn-model", "private": True}
SENDER = {"login": "octocat", "id": 1, "type": "User"}
GITLAB_PROJECT = {"id": 15, "name": "churn-model", "path_with_namespace": "acme/churn-model", "default_branch": "main"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def gitlab_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def sha(seed: str) -> str:
    """A deterministic 40-hex commit id."""
    import hashlib

    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


# ---------------------------------------------------------------------------------------------- GitHub
def gh_commit(seed, *, at, name="Alice", email="alice@acme.test", username="alice", message=None, **files):
    return {
        "id": sha(seed),
        "tree_id": sha("tree" + seed),
        "distinct": True,
        "message": message or f"Change {seed}",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "url": f"https://github.com/acme/churn-model/commit/{sha(seed)}",
        "author": {"name": name, "email": email, "username": username},
        "committer": {"name": name, "email": email, "username": username},
        "added": files.get("added", []),
        "removed": files.get("removed", []),
        "modified": files.get("modified", []),
    }


def gh_push(commits, ref="refs/heads/main"):
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": commits[-1]["id"] if commits else "0" * 40,
        "created": False,
        "deleted": not commits,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/acme/churn-model/compare/a...b",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": REPO,
        "pusher": {"name": "alice", "email": "alice@acme.test"},
        "sender": SENDER,
    }


def gh_pr_object(number, *, opened, updated, state="open", merged_at=None, closed_at=None, login="alice", uid=101):
    return {
        "url": f"https://api.github.com/repos/acme/churn-model/pulls/{number}",
        "id": 1000 + number,
        "number": number,
        "state": state,
        "locked": False,
        "title": f"Feature {number}",
        "user": {"login": login, "id": uid, "type": "User"},
        "body": "",
        "created_at": iso(opened),
        "updated_at": iso(updated),
        "closed_at": iso(closed_at) if closed_at else None,
        "merged_at": iso(merged_at) if merged_at else None,
        "merge_commit_sha": None,
        "draft": False,
        "head": {"ref": f"feature-{number}", "sha": sha(f"head{number}")},
        "base": {"ref": "main", "sha": sha("base")},
    }


def gh_pull_request(action, number, **kwargs):
    pr = gh_pr_object(number, **kwargs)
    pr["merged"] = pr["merged_at"] is not None
    return {"action": action, "number": number, "pull_request": pr, "repository": REPO, "sender": SENDER}


def gh_review(number, *, review_id, reviewer, reviewer_id, submitted, state="approved", action="submitted", **pr):
    return {
        "action": action,
        "review": {
            "id": review_id,
            "user": {"login": reviewer, "id": reviewer_id, "type": "User"},
            "body": "Looks good",
            "commit_id": sha(f"head{number}"),
            "submitted_at": iso(submitted),
            "state": state,
            "author_association": "MEMBER",
        },
        "pull_request": gh_pr_object(number, **pr),
        "repository": REPO,
        "sender": {"login": reviewer, "id": reviewer_id, "type": "User"},
    }


def gh_workflow_run(run_id, *, started, finished, conclusion="success", action="completed", attempt=1):
    return {
        "action": action,
        "workflow_run": {
            "id": run_id,
            "name": "CI",
            "head_branch": "main",
            "head_sha": sha(f"run{run_id}"),
            "run_number": run_id % 1000,
            "run_attempt": attempt,
            "event": "push",
            "status": "completed" if action == "completed" else "in_progress",
            "conclusion": conclusion if action == "completed" else None,
            "workflow_id": 161335,
            "created_at": iso(started),
            "updated_at": iso(finished),
            "run_started_at": iso(started),
        },
        "workflow": {"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml"},
        "repository": REPO,
        "sender": SENDER,
    }


def gh_check_suite(suite_id, *, started, finished, conclusion="success", app_slug="circleci", action="completed"):
    return {
        "action": action,
        "check_suite": {
            "id": suite_id,
            "head_branch": "main",
            "head_sha": sha(f"suite{suite_id}"),
            "status": "completed",
            "conclusion": conclusion,
            "created_at": iso(started),
            "updated_at": iso(finished),
            "app": {"id": 18001, "slug": app_slug, "name": app_slug.replace("-", " ").title()},
        },
        "repository": REPO,
        "sender": SENDER,
    }


# ---------------------------------------------------------------------------------------------- GitLab
def gl_commit(seed, *, at, name="Alice", email="alice@acme.test", message=None, **files):
    return {
        "id": sha(seed),
        "message": message or f"Change {seed}\n",
        "title": (message or f"Change {seed}").splitlines()[0],
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "url": f"https://gitlab.example.com/acme/churn-model/-/commit/{sha(seed)}",
        "author": {"name": name, "email": email},
        "added": files.get("added", []),
        "modified": files.get("modified", []),
        "removed": files.get("removed", []),
    }


def gl_push(commits, ref="refs/heads/main"):
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": "0" * 40,
        "after": commits[-1]["id"] if commits else "0" * 40,
        "ref": ref,
        "checkout_sha": commits[-1]["id"] if commits else None,
        "user_id": 4,
        "user_name": "Alice",
        "user_username": "alice",
        "user_email": "alice@acme.test",
        "project_id": 15,
        "project": GITLAB_PROJECT,
        "commits": commits,
        "total_commits_count": len(commits),
        "repository": {"name": "churn-model", "homepage": "https://gitlab.example.com/acme/churn-model"},
    }


def gl_merge_request(iid, *, action, state, created, updated, user_id=4, username="alice", author_id=4, **extra):
    attributes = {
        "id": 9000 + iid,
        "iid": iid,
        "target_branch": "main",
        "source_branch": f"feature-{iid}",
        "source_project_id": 15,
        "target_project_id": 15,
        "author_id": author_id,
        "title": f"MR {iid}",
        "created_at": gitlab_time(created),
        "updated_at": gitlab_time(updated),
        "state": state,
        "merge_status": "can_be_merged",
        "action": action,
        "url": f"https://gitlab.example.com/acme/churn-model/-/merge_requests/{iid}",
        **extra,
    }
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": user_id, "name": username.title(), "username": username, "email": "[REDACTED]"},
        "project": GITLAB_PROJECT,
        "object_attributes": attributes,
        "repository": {"name": "churn-model"},
    }


def gl_pipeline(pipeline_id, *, status, created, finished=None, duration=None):
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id,
            "iid": pipeline_id % 1000,
            "name": "Pipeline for branch: main",
            "ref": "main",
            "tag": False,
            "sha": sha(f"pipeline{pipeline_id}"),
            "before_sha": "0" * 40,
            "source": "push",
            "status": status,
            "detailed_status": status,
            "stages": ["test"],
            "created_at": gitlab_time(created),
            "finished_at": gitlab_time(finished) if finished else None,
            "duration": duration,
            "queued_duration": 2,
            "variables": [],
        },
        "user": {"id": 4, "name": "Alice", "username": "alice"},
        "project": GITLAB_PROJECT,
        "builds": [],
    }


# ---------------------------------------------------------------------------------------------- delivery
def webhook_path(integration) -> str:
    return f"/api/v1/webhooks/{integration.webhook_id}"


def deliver_github(
    host, integration, secret, event, payload, *, delivery=None, signature="auto", body=None, headers=None
):
    """POST like GitHub: JSON body, ``X-GitHub-Event``, ``X-GitHub-Delivery``, ``X-Hub-Signature-256`` (computed
    unless ``signature`` is given; None leaves the header out)."""
    raw = body if body is not None else json.dumps(payload).encode()
    meta = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid4()),
        "HTTP_X_HUB_SIGNATURE_256": github_signature(secret, raw) if signature == "auto" else signature,
        "HTTP_USER_AGENT": "GitHub-Hookshot/abc123",
        **(headers or {}),
    }
    meta = {key: value for key, value in meta.items() if value is not None}
    return Client(HTTP_HOST=host).post(webhook_path(integration), data=raw, content_type="application/json", **meta)


def deliver_gitlab(host, integration, token, event, payload, *, delivery="auto", body=None, headers=None):
    """POST like GitLab: JSON body, ``X-Gitlab-Event``, ``X-Gitlab-Token``, ``X-Gitlab-Event-UUID``,
    ``Idempotency-Key``."""
    raw = body if body is not None else json.dumps(payload).encode()
    key = str(uuid4()) if delivery == "auto" else delivery
    meta = {
        "HTTP_X_GITLAB_EVENT": event,
        "HTTP_X_GITLAB_TOKEN": token,
        "HTTP_X_GITLAB_EVENT_UUID": key,
        "HTTP_IDEMPOTENCY_KEY": key,
        "HTTP_X_GITLAB_INSTANCE": "https://gitlab.example.com",
        **(headers or {}),
    }
    meta = {name: value for name, value in meta.items() if value is not None}
    return Client(HTTP_HOST=host).post(webhook_path(integration), data=raw, content_type="application/json", **meta)
