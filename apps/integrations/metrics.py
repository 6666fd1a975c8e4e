"""Delivery metrics of one project over one period, computed from plain rows (no ORM, so they are testable and
benchmarkable on plain data). Definitions (also in docs/integrations.md):

* **observed window** — delivery data exists from the earlier of the first integration's creation and the earliest
  recorded commit. The *covered* part of a period is its intersection with [observed since, now].
* **commit frequency** — non-merge commits authored in the period per week of covered time
  (``commits / (covered_days / 7)``); needs at least ``min_coverage_days`` (7) of coverage.
* **active contributors** — distinct commit authors (lower-cased e-mail, else login, else name) of non-merge
  commits in the period; needs at least a day of coverage.
* **PR lead time** — hours from opened to merged, over pull/merge requests merged in the period: p50 and p90.
* **review turnaround** — hours from opened to the first review by someone other than the author (a GitLab approval
  counts), over requests first reviewed in the period: p50 and p90.
* Percentiles use linear interpolation between order statistics (numpy's default) and need at least
  ``min_percentile_samples`` (3) values.
* **CI pass rate** — successful / (successful + failed) CI runs finished in the period (failed includes timed out
  and startup failures; cancelled and skipped/neutral runs are left out). **CI mean duration** — mean seconds of
  those successful and failed runs whose duration is known.
* **rework rate** — share of the period's non-merge commits that are rework: a revert (``Revert "…"`` /
  ``This reverts commit <sha>``), a fixup (``fixup!``/``squash!``/``amend!``), or a commit that modifies or removes a
  file another non-merge commit added or modified within the previous ``rework_window_days`` (21) days.
* **bus factor** — share of the period's non-merge commits made by the most active contributor (1.0: one person
  wrote everything).

Merge commits (recognised by Git's and the providers' default merge messages) are left out of every commit metric.
A metric that cannot be computed is reported with ``status: "insufficient_data"``, null values and a reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from apps.integrations.choices import CiOutcome

OK = "ok"
INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True)
class MetricConfig:
    rework_window_days: int = 21
    min_percentile_samples: int = 3
    min_coverage_days: int = 7


@dataclass(frozen=True)
class CommitRow:
    sha: str
    author_key: str
    author_name: str
    authored_at: datetime
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    is_merge: bool = False
    is_revert: bool = False
    is_fixup: bool = False


@dataclass(frozen=True)
class PullRequestRow:
    opened_at: datetime
    merged_at: datetime | None = None
    first_review_at: datetime | None = None


@dataclass(frozen=True)
class CiRunRow:
    outcome: str
    finished_at: datetime
    duration_seconds: float | None = None


@dataclass
class ProjectData:
    """What the metrics need about one project: when observation began (None: no integration), and its rows.
    ``commits`` may reach back before the period start (the rework look-back)."""

    observed_since: datetime | None
    commits: list[CommitRow] = field(default_factory=list)
    pull_requests: list[PullRequestRow] = field(default_factory=list)
    ci_runs: list[CiRunRow] = field(default_factory=list)


def _insufficient(reason: str, *, unit: str, n: int = 0, keys: tuple[str, ...] = ("value",)) -> dict:
    return {"status": INSUFFICIENT, **dict.fromkeys(keys), "unit": unit, "n": n, "reason": reason}


def _round(value: float) -> float:
    return round(float(value), 4)


def percentiles(values: list[float], *, unit: str, what: str, config: MetricConfig) -> dict:
    """p50/p90 of ``values`` or an insufficient-data marker below the minimum sample size."""
    if len(values) < config.min_percentile_samples:
        return _insufficient(
            f"{len(values)} {what}; at least {config.min_percentile_samples} are needed",
            unit=unit,
            n=len(values),
            keys=("p50", "p90"),
        )
    p50, p90 = np.percentile(np.asarray(values, dtype=float), [50, 90])
    return {"status": OK, "p50": _round(p50), "p90": _round(p90), "unit": unit, "n": len(values)}


def rework_flags(commits: list[CommitRow], *, window: timedelta) -> dict[str, bool]:
    """sha → whether the commit is rework (see the module docstring). ``commits`` are non-merge commits in any
    order; each is judged against the others authored strictly before it and no more than ``window`` earlier."""
    ordered = sorted(commits, key=lambda c: (c.authored_at, c.sha))
    last_touch: dict[str, datetime] = {}
    flags: dict[str, bool] = {}
    index = 0
    while index < len(ordered):
        group_end = index
        while group_end < len(ordered) and ordered[group_end].authored_at == ordered[index].authored_at:
            group_end += 1
        group = ordered[index:group_end]
        for commit in group:
            if commit.is_revert or commit.is_fixup:
                flags[commit.sha] = True
                continue
            touched = set(commit.modified) | set(commit.removed)
            flags[commit.sha] = any(
                path in last_touch and commit.authored_at - last_touch[path] <= window for path in touched
            )
        for commit in group:
            for path in (*commit.added, *commit.modified):
                last_touch[path] = commit.authored_at
        index = group_end
    return flags


def _weeks(start: datetime, end: datetime) -> list[datetime]:
    """Mondays 00:00 of the weeks overlapping [start, end)."""
    first = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    weeks = []
    week = first
    while week < end:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks


def weekly_series(data: ProjectData, *, start: datetime, end: datetime) -> dict:
    """Per ISO week (Monday start) of the covered period: commits, merged PRs, CI successes/failures, pass rate."""
    weeks = _weeks(start, end) if end > start else []
    index = {week: position for position, week in enumerate(weeks)}
    commits = [0] * len(weeks)
    merged = [0] * len(weeks)
    success = [0] * len(weeks)
    failure = [0] * len(weeks)

    def slot(moment: datetime) -> int | None:
        if not (start <= moment < end):
            return None
        monday = (moment - timedelta(days=moment.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        return index.get(monday)

    for commit in data.commits:
        position = slot(commit.authored_at)
        if position is not None and not commit.is_merge:
            commits[position] += 1
    for pr in data.pull_requests:
        position = slot(pr.merged_at) if pr.merged_at else None
        if position is not None:
            merged[position] += 1
    for run in data.ci_runs:
        position = slot(run.finished_at)
        if position is None:
            continue
        if run.outcome == CiOutcome.SUCCESS:
            success[position] += 1
        elif run.outcome == CiOutcome.FAILURE:
            failure[position] += 1
    pass_rate = [_round(s / (s + f)) if s + f else None for s, f in zip(success, failure, strict=True)]
    return {
        "weeks": [week.date().isoformat() for week in weeks],
        "commits": commits,
        "merged_pull_requests": merged,
        "ci_success": success,
        "ci_failure": failure,
        "ci_pass_rate": pass_rate,
    }


def compute(data: ProjectData, *, start: datetime, end: datetime, now: datetime, config: MetricConfig) -> dict:
    """All delivery metrics of one project for [start, end)."""
    if data.observed_since is None:
        reason = "the project has no Git/CI integration"
        return {
            "status": INSUFFICIENT,
            "reason": reason,
            "coverage": None,
            "metrics": _all_insufficient(reason),
            "series": weekly_series(data, start=start, end=start),
        }
    covered_start = max(start, data.observed_since)
    covered_end = min(end, now)
    covered_days = max((covered_end - covered_start).total_seconds() / 86400, 0.0)
    coverage = {
        "observed_since": data.observed_since.isoformat(),
        "from": covered_start.isoformat() if covered_days else None,
        "to": covered_end.isoformat() if covered_days else None,
        "days": _round(covered_days),
    }

    in_period = [c for c in data.commits if start <= c.authored_at < end and not c.is_merge]
    metrics: dict[str, dict] = {}

    # commit frequency
    unit = "commits/week"
    if covered_days < config.min_coverage_days:
        metrics["commit_frequency"] = _insufficient(
            f"{covered_days:.1f} days of the period are covered by an integration; "
            f"at least {config.min_coverage_days} are needed",
            unit=unit,
            n=len(in_period),
        )
    else:
        metrics["commit_frequency"] = {
            "status": OK,
            "value": _round(len(in_period) / (covered_days / 7)),
            "unit": unit,
            "n": len(in_period),
        }

    # active contributors and bus factor
    authors = Counter(c.author_key for c in in_period)
    if covered_days < 1:
        metrics["active_contributors"] = _insufficient(
            "less than a day of the period is covered by an integration", unit="people"
        )
    else:
        metrics["active_contributors"] = {"status": OK, "value": len(authors), "unit": "people", "n": len(in_period)}
    if not in_period:
        metrics["bus_factor"] = _insufficient("no commits in the period", unit="share of commits")
    else:
        top_key, top_count = sorted(authors.items(), key=lambda item: (-item[1], item[0]))[0]
        top_name = next(c.author_name for c in in_period if c.author_key == top_key) or top_key
        metrics["bus_factor"] = {
            "status": OK,
            "value": _round(top_count / len(in_period)),
            "unit": "share of commits",
            "n": len(in_period),
            "top_contributor": top_name,
            "top_contributor_commits": top_count,
        }

    # pull requests
    lead_times = [
        (pr.merged_at - pr.opened_at).total_seconds() / 3600
        for pr in data.pull_requests
        if pr.merged_at is not None and start <= pr.merged_at < end
    ]
    metrics["pr_lead_time"] = percentiles(lead_times, unit="hours", what="merged pull requests", config=config)
    turnarounds = [
        (pr.first_review_at - pr.opened_at).total_seconds() / 3600
        for pr in data.pull_requests
        if pr.first_review_at is not None and start <= pr.first_review_at < end
    ]
    metrics["review_turnaround"] = percentiles(
        turnarounds, unit="hours", what="pull requests first reviewed", config=config
    )

    # CI
    runs = [run for run in data.ci_runs if start <= run.finished_at < end]
    outcomes = Counter(run.outcome for run in runs)
    decided = [run for run in runs if run.outcome in (CiOutcome.SUCCESS, CiOutcome.FAILURE)]
    counts = {outcome: outcomes.get(outcome, 0) for outcome in CiOutcome.values}
    if not decided:
        metrics["ci_pass_rate"] = _insufficient("no successful or failed CI runs in the period", unit="ratio")
    else:
        metrics["ci_pass_rate"] = {
            "status": OK,
            "value": _round(counts[CiOutcome.SUCCESS] / len(decided)),
            "unit": "ratio",
            "n": len(decided),
        }
    metrics["ci_pass_rate"]["outcomes"] = counts
    durations = [run.duration_seconds for run in decided if run.duration_seconds is not None]
    if not durations:
        metrics["ci_mean_duration"] = _insufficient("no CI run with a known duration in the period", unit="seconds")
    else:
        metrics["ci_mean_duration"] = {
            "status": OK,
            "value": _round(sum(durations) / len(durations)),
            "unit": "seconds",
            "n": len(durations),
        }

    # rework
    window = timedelta(days=config.rework_window_days)
    candidates = [c for c in data.commits if not c.is_merge and start - window <= c.authored_at < end]
    flags = rework_flags(candidates, window=window)
    if not in_period:
        metrics["rework_rate"] = _insufficient("no commits in the period", unit="share of commits")
    else:
        rework = [c for c in in_period if flags[c.sha]]
        metrics["rework_rate"] = {
            "status": OK,
            "value": _round(len(rework) / len(in_period)),
            "unit": "share of commits",
            "n": len(in_period),
            "rework_commits": len(rework),
            "reverts_and_fixups": sum(1 for c in rework if c.is_revert or c.is_fixup),
            "window_days": config.rework_window_days,
        }

    computed = sum(1 for metric in metrics.values() if metric["status"] == OK)
    return {
        "status": OK if computed else INSUFFICIENT,
        "reason": None if computed else "no metric could be computed for this period",
        "coverage": coverage,
        "metrics": metrics,
        "series": weekly_series(data, start=covered_start, end=covered_end),
    }


METRIC_UNITS = {
    "commit_frequency": ("commits/week", ("value",)),
    "active_contributors": ("people", ("value",)),
    "bus_factor": ("share of commits", ("value",)),
    "pr_lead_time": ("hours", ("p50", "p90")),
    "review_turnaround": ("hours", ("p50", "p90")),
    "ci_pass_rate": ("ratio", ("value",)),
    "ci_mean_duration": ("seconds", ("value",)),
    "rework_rate": ("share of commits", ("value",)),
}


def _all_insufficient(reason: str) -> dict[str, dict]:
    return {name: _insufficient(reason, unit=unit, keys=keys) for name, (unit, keys) in METRIC_UNITS.items()}


def group_rows(integrations, commits, pull_requests, ci_runs, first_commits) -> dict[int, ProjectData]:
    """Turn the selector's value rows into one :class:`ProjectData` per project that has an integration."""
    data: dict[int, ProjectData] = {}
    for project_id, created_at in integrations:
        since = min(created_at, first_commits.get(project_id, created_at))
        current = data.get(project_id)
        if current is None or since < current.observed_since:
            data[project_id] = ProjectData(observed_since=since)
    grouped_commits: dict[int, list[CommitRow]] = defaultdict(list)
    for project_id, sha, key, name, at, added, modified, removed, merge, revert, fixup in commits:
        grouped_commits[project_id].append(
            CommitRow(sha, key, name, at, tuple(added), tuple(modified), tuple(removed), merge, revert, fixup)
        )
    for project_id, opened, merged, reviewed, _state in pull_requests:
        if project_id in data:
            data[project_id].pull_requests.append(PullRequestRow(opened, merged, reviewed))
    for project_id, outcome, finished, duration in ci_runs:
        if project_id in data:
            data[project_id].ci_runs.append(CiRunRow(outcome, finished, duration))
    for project_id, rows in grouped_commits.items():
        if project_id in data:
            data[project_id].commits = rows
    return data
