"""Delivery metrics as optional features for the project success model.

Usage (inside the tenant's schema, e.g. in a ``TenantTask`` or under ``schema_context``)::

    from apps.integrations.features import DELIVERY_FEATURE_NAMES, delivery_features

    extra = delivery_features([p.pk for p in projects], as_of={p.pk: p.completion_date for p in projects})
    for project in projects:
        values = extra.get(project.pk, {})          # {} for projects without integrations
        row = [values.get(name, float("nan")) for name in DELIVERY_FEATURE_NAMES]

A project appears in the result only if it has an integration **and** at least one feature could be computed, and
a feature key appears only when its metric could be computed over the window (see ``apps.integrations.metrics``):
missing values are genuinely unknown, never zero-filled, so the model should treat them as missing (LightGBM
handles NaN natively) — projects without integrations keep working exactly as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from apps.integrations.metrics import OK
from apps.integrations.selectors import delivery_metrics_for_projects

DEFAULT_WINDOW_DAYS = 90

# feature name → (metric, value key)
FEATURES: dict[str, tuple[str, str]] = {
    "delivery_commits_per_week": ("commit_frequency", "value"),
    "delivery_active_contributors": ("active_contributors", "value"),
    "delivery_bus_factor": ("bus_factor", "value"),
    "delivery_pr_lead_time_p50_hours": ("pr_lead_time", "p50"),
    "delivery_pr_lead_time_p90_hours": ("pr_lead_time", "p90"),
    "delivery_review_turnaround_p50_hours": ("review_turnaround", "p50"),
    "delivery_review_turnaround_p90_hours": ("review_turnaround", "p90"),
    "delivery_ci_pass_rate": ("ci_pass_rate", "value"),
    "delivery_ci_mean_duration_seconds": ("ci_mean_duration", "value"),
    "delivery_rework_rate": ("rework_rate", "value"),
}
DELIVERY_FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)

AsOf = datetime | date | None


def _moment(value: AsOf, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


def features_from_metrics(report: dict) -> dict[str, float]:
    """The computable features of one metrics report (as returned by ``apps.integrations.metrics.compute``)."""
    values: dict[str, float] = {}
    for name, (metric, key) in FEATURES.items():
        entry = report["metrics"].get(metric, {})
        if entry.get("status") == OK and entry.get(key) is not None:
            values[name] = float(entry[key])
    return values


def delivery_features(
    project_ids: Iterable[int],
    as_of: AsOf | Mapping[int, AsOf] = None,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> dict[int, dict[str, float]]:
    """Delivery features per project over the ``window_days`` before ``as_of``.

    ``as_of`` is one moment for every project, a mapping project id → moment (a ``date`` means the end of that day;
    a missing or None entry means now), or None (now). Returns ``{project_id: {feature: value}}`` with the names in
    :data:`DELIVERY_FEATURE_NAMES`; see the module docstring for what is absent and why. Runs a handful of queries per
    distinct ``as_of`` moment, not per project. Must be called inside the tenant's schema.
    """
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    now = timezone.now()
    ids = sorted({int(pk) for pk in project_ids})
    by_moment: dict[datetime, list[int]] = defaultdict(list)
    for pk in ids:
        moment = as_of.get(pk) if isinstance(as_of, Mapping) else as_of
        by_moment[_moment(moment, now)].append(pk)
    result: dict[int, dict[str, float]] = {}
    for end, group in sorted(by_moment.items()):
        reports = delivery_metrics_for_projects(
            project_ids=group, start=end - timedelta(days=window_days), end=end, now=now
        )
        for pk, report in reports.items():
            values = features_from_metrics(report)
            if values:
                result[pk] = values
    return result
