"""Provider-neutral facts extracted from webhook payloads, and the strict payload reader that produces them.

Parsing is pure (no ORM): a payload either yields a :class:`Parsed` (facts to upsert, or a reason it is ignored) or
raises :class:`PayloadError` naming the offending field, which the webhook turns into a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime


class PayloadError(ValueError):
    """The payload does not match the provider's documented schema for its event type."""


@dataclass(frozen=True)
class CommitFact:
    sha: str
    author_key: str
    author_name: str
    message: str
    authored_at: datetime
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequestFact:
    """A snapshot of a pull/merge request as one event saw it. ``updated_at`` orders snapshots."""

    number: int
    title: str
    author_external_id: str
    author_login: str
    state: str  # PullRequestState value
    opened_at: datetime
    updated_at: datetime
    merged_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class ReviewFact:
    pr_number: int
    review_key: str
    reviewer_external_id: str
    reviewer_login: str
    state: str
    submitted_at: datetime


@dataclass(frozen=True)
class CiRunFact:
    run_key: str
    attempt: int
    name: str
    branch: str
    commit_sha: str
    outcome: str  # CiOutcome value
    raw_status: str
    started_at: datetime | None
    finished_at: datetime
    duration_seconds: float | None


@dataclass
class Parsed:
    """What one delivery contributes. ``ignored`` is set (with a reason) when the event carries nothing to normalise
    (e.g. a pull request labelled, a workflow run requested, a ping)."""

    action: str = ""
    commits: list[CommitFact] = field(default_factory=list)
    pull_requests: list[PullRequestFact] = field(default_factory=list)
    reviews: list[ReviewFact] = field(default_factory=list)
    ci_runs: list[CiRunFact] = field(default_factory=list)
    ignored: str = ""

    @property
    def counts(self) -> dict[str, int]:
        return {
            "commits": len(self.commits),
            "pull_requests": len(self.pull_requests),
            "reviews": len(self.reviews),
            "ci_runs": len(self.ci_runs),
        }


# ---------------------------------------------------------------------------------------------- reading payloads
_MISSING = object()
_GITLAB_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?: UTC| ([+-]\d{2}:?\d{2}))$")


def parse_timestamp(value: str) -> datetime | None:
    """ISO 8601 (GitHub, GitLab) or GitLab's ``2016-08-12 15:23:28 UTC`` / ``… +0200`` form, as an aware datetime."""
    match = _GITLAB_DATETIME.match(value)
    if match:
        value = f"{match.group(1)}T{match.group(2)}{match.group(3) or '+00:00'}"
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Reader:
    """Typed access into a JSON object with errors that name the path (``pull_request.created_at``)."""

    def __init__(self, data: Any, path: str = ""):
        if not isinstance(data, dict):
            raise PayloadError(f"{path or 'body'} must be a JSON object")
        self.data = data
        self.path = path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _raw(self, key: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise PayloadError(f"{self._name(key)} is required")
            return None
        return value

    def obj(self, key: str, *, required: bool = True) -> Reader | None:
        value = self._raw(key, required)
        return None if value is None else Reader(value, self._name(key))

    def str(self, key: str, *, required: bool = True, default: str = "") -> str:
        value = self._raw(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise PayloadError(f"{self._name(key)} must be a string")
        return value

    def int(self, key: str, *, required: bool = True) -> int | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PayloadError(f"{self._name(key)} must be a non-negative integer")
        return value

    def number(self, key: str, *, required: bool = True) -> float | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise PayloadError(f"{self._name(key)} must be a non-negative number")
        return float(value)

    def id(self, key: str, *, required: bool = True) -> str:
        """An identifier given as an integer or a string, returned as a string."""
        value = self._raw(key, required)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise PayloadError(f"{self._name(key)} must be an integer or a string")
        return str(value)

    def time(self, key: str, *, required: bool = True) -> datetime | None:
        value = self._raw(key, required)
        if value is None:
            return None
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            raise PayloadError(f"{self._name(key)} must be an ISO 8601 timestamp")
        return parsed

    def list(self, key: str, *, required: bool = True) -> list[Any]:
        value = self._raw(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PayloadError(f"{self._name(key)} must be a list")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        items = self.list(key, required=False)
        if not all(isinstance(item, str) for item in items):
            raise PayloadError(f"{self._name(key)} must be a list of strings")
        return tuple(items)

    def objects(self, key: str) -> list[Reader]:
        return [Reader(item, f"{self._name(key)}[{index}]") for index, item in enumerate(self.list(key))]


# ---------------------------------------------------------------------------------------------- commit messages
_MERGE = re.compile(r"^Merge (pull request|branch|remote-tracking branch|tag|commit|(?:'[^']*'|\S+) into) ")
_REVERT = re.compile(r'^Revert "|This reverts commit [0-9a-f]{7,64}', re.MULTILINE)
_FIXUP = re.compile(r"^(fixup|squash|amend)! ")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def is_merge_message(message: str) -> bool:
    """Git's and the providers' default merge messages ('Merge pull request #1 from …', "Merge branch 'x' into
    'main'"). Webhook payloads do not list parents, so the message is the only signal."""
    return bool(_MERGE.match(message))


def is_revert_message(message: str) -> bool:
    """``git revert``'s default message: 'Revert "<subject>"' … 'This reverts commit <sha>.'"""
    return bool(_REVERT.search(message))


def is_fixup_message(message: str) -> bool:
    """``git commit --fixup/--squash`` subjects: 'fixup! …', 'squash! …', 'amend! …'."""
    return bool(_FIXUP.match(message))


def author_key(*, email: str, login: str, name: str) -> str:
    """One contributor's identity: the lower-cased e-mail, else the login, else the name."""
    return (email.strip().lower() or login.strip().lower() or name.strip())[:254]


def commit_fact(item: Reader, *, login: str = "") -> CommitFact:
    """A commit of a GitHub or GitLab push (both use ``id``, ``message``, ``timestamp``, ``author{name,email}``,
    ``added``/``modified``/``removed``)."""
    sha = item.str("id").lower()
    if not SHA.match(sha):
        raise PayloadError(f"{item.path}.id must be a 40- or 64-character hexadecimal commit id")
    author = item.obj("author")
    name = author.str("name", required=False)
    email = author.str("email", required=False)
    login = author.str("username", required=False) or login
    key = author_key(email=email, login=login, name=name)
    if not key:
        raise PayloadError(f"{item.path}.author needs a name, email or username")
    return CommitFact(
        sha=sha,
        author_key=key,
        author_name=name[:254],
        message=item.str("message", required=False),
        authored_at=item.time("timestamp"),
        added=item.str_list("added"),
        modified=item.str_list("modified"),
        removed=item.str_list("removed"),
    )


def push_commits(body: Reader, *, empty: str) -> Parsed:
    """The commits of a GitHub or GitLab push (``ref`` and ``commits`` are required by both); a push without
    commits (a branch deletion, a tag) is ignored with the reason ``empty``."""
    body.str("ref")
    commits = [commit_fact(item) for item in body.objects("commits")]
    return Parsed(commits=commits) if commits else Parsed(ignored=empty)
