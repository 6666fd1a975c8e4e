"""The pure metric functions and message classifiers, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.integrations.metrics import CommitRow, MetricConfig, ProjectData, compute, percentiles, rework_flags
from apps.integrations.providers.base import (
    PayloadError,
    Reader,
    is_fixup_message,
    is_merge_message,
    is_revert_message,
    parse_timestamp,
)

T = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = MetricConfig()


def commit(name, days, *, added=(), modified=(), removed=(), message=""):
    return CommitRow(
        sha=name, author_key="a", author_name="A", authored_at=T + days * DAY, added=tuple(added),
        modified=tuple(modified), removed=tuple(removed), is_revert=is_revert_message(message),
        is_fixup=is_fixup_message(message),
    )  # fmt: skip


def test_rework_window_is_inclusive_at_n_days_and_needs_a_strictly_earlier_commit():
    commits = [
        commit("base", 0, added=["a.py", "b.py"]),
        commit("at-21-days", 21, modified=["a.py"]),  # exactly 21 days later: rework
        commit("after-22-days", 22 + 21, modified=["b.py"]),  # b.py last touched 43 days before
        commit("same-time-1", 50, added=["c.py"]),
        commit("same-time-2", 50, modified=["c.py"]),  # same timestamp: not "earlier"
        commit("removes", 51, removed=["c.py"]),  # c.py added 1 day earlier
        commit("adds-again", 52, added=["a.py"]),  # adding is not rework
    ]
    flags = rework_flags(commits, window=timedelta(days=21))
    assert flags == {
        "base": False,
        "at-21-days": True,
        "after-22-days": False,
        "same-time-1": False,
        "same-time-2": False,
        "removes": True,
        "adds-again": False,
    }


@pytest.mark.parametrize(
    ("message", "merge", "revert", "fixup"),
    [
        ("Merge pull request #12 from acme/feature", True, False, False),
        ("Merge branch 'feature' into 'main'", True, False, False),
        ("Merge remote-tracking branch 'origin/main'", True, False, False),
        ("Merge feature-x into main", True, False, False),
        ("Merging is hard: notes", False, False, False),
        ('Revert "Add feature"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.', False, True, False),
        ("Undo change\n\nThis reverts commit abcdef1.", False, True, False),
        ("fixup! Add feature", False, False, True),
        ("squash! Add feature", False, False, True),
        ("Fix typo in fixup! handling", False, False, False),
    ],
)
def test_message_classification(message, merge, revert, fixup):
    assert (is_merge_message(message), is_revert_message(message), is_fixup_message(message)) == (merge, revert, fixup)


def test_percentiles_interpolate_linearly_and_refuse_small_samples():
    assert percentiles([10, 20, 30, 40, 50], unit="h", what="x", config=CONFIG) | {} == {
        "status": "ok", "p50": 30.0, "p90": 46.0, "unit": "h", "n": 5,
    }  # fmt: skip
    small = percentiles([1, 2], unit="h", what="merged pull requests", config=CONFIG)
    assert (small["status"], small["p50"], small["n"]) == ("insufficient_data", None, 2)
    assert percentiles([1, 2], unit="h", what="x", config=MetricConfig(min_percentile_samples=2))["p50"] == 1.5


def test_merge_commits_are_left_out_of_commit_metrics():
    data = ProjectData(
        observed_since=T - 30 * DAY,
        commits=[
            commit("c1", 1),
            CommitRow("m1", "b", "B", T + 2 * DAY, is_merge=True),
            CommitRow("m2", "b", "B", T + 3 * DAY, is_merge=True),
        ],
    )
    report = compute(data, start=T, end=T + 14 * DAY, now=T + 100 * DAY, config=CONFIG)
    assert report["metrics"]["commit_frequency"]["value"] == 0.5
    assert report["metrics"]["active_contributors"]["value"] == 1
    assert report["metrics"]["bus_factor"]["value"] == 1.0
    assert report["series"]["commits"] == [1, 0]


def test_future_part_of_a_period_is_not_covered():
    data = ProjectData(observed_since=T - 30 * DAY, commits=[commit("c1", 1), commit("c2", 2)])
    report = compute(data, start=T, end=T + 28 * DAY, now=T + 7 * DAY, config=CONFIG)
    assert report["coverage"]["days"] == 7.0
    assert report["metrics"]["commit_frequency"]["value"] == 2.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T12:00:00+02:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02 10:00:00 UTC", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02 12:00:00 +0200", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-02-30T10:00:00Z", None),
        ("soon", None),
    ],
)
def test_timestamps_in_provider_formats(text, expected):
    assert parse_timestamp(text) == expected


def test_reader_names_the_path_of_a_bad_value():
    reader = Reader({"a": {"n": -1, "flag": True, "items": [1, "x"], "when": 5}})
    inner = reader.obj("a")
    with pytest.raises(PayloadError, match=r"^a\.n must be a non-negative integer$"):
        inner.int("n")
    with pytest.raises(PayloadError, match=r"^a\.flag must be an integer or a string$"):
        inner.id("flag")
    with pytest.raises(PayloadError, match=r"^a\.items must be a list of strings$"):
        inner.str_list("items")
    with pytest.raises(PayloadError, match=r"^a\.when must be an ISO 8601 timestamp$"):
        inner.time("when")
    with pytest.raises(PayloadError, match=r"^a\.missing is required$"):
        inner.str("missing")
    with pytest.raises(PayloadError, match=r"^a\.flag must be a non-negative number$"):
        inner.number("flag")
    with pytest.raises(PayloadError, match=r"^a\.n must be a string$"):
        inner.str("n")
    with pytest.raises(PayloadError, match=r"^a\.n must be a list$"):
        inner.list("n")
    assert inner.number("absent", required=False) is None and inner.id("absent", required=False) == ""
