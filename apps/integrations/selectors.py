"""Reads on integrations and delivery data, scoped to what the acting user may see.

Permission gate: the access matrix's ``integrations`` rows through ``apps.access.selectors.scope``, like every other
resource — so object grants count here as they do on the project itself:

* **see** a project's integrations, deliveries and delivery metrics (*view* on the project): owners and admins see
  every project; everyone else sees projects with ``visibility = tenant``, private projects they own or are on the
  team of, and projects they hold a grant on;
* **manage** integrations (create, change, rotate the secret, delete, re-process; *change* on the project): owners
  and admins on every project; leads and members on projects they own, are on the team of or hold a change grant
  on; never viewers or service accounts.

Hidden projects answer 404 (``Project.DoesNotExist``), visible but unmanageable ones 403.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from apps.access import policy
from apps.access.selectors import scope
from apps.accounts.models import User
from apps.integrations import metrics as delivery_metrics
from apps.integrations.metrics import MetricConfig
from apps.integrations.models import CiRun, Commit, Integration, PullRequest, WebhookDelivery
from apps.projects.models import Project


def project_visible_list(*, user: User) -> QuerySet[Project]:
    """Projects whose delivery data ``user`` may see."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    return scope(Project.objects.order_by("-created_at", "-id"), user=user, resource="integrations")


def project_get(*, user: User, pk: int, manage: bool = False) -> Project:
    """A project ``user`` may see (``Project.DoesNotExist`` otherwise); with ``manage``, one whose integrations
    ``user`` may manage (``PermissionDenied`` when visible but not manageable)."""
    project = project_visible_list(user=user).get(pk=pk)
    if manage and not can_manage(user=user, project=project):
        raise PermissionDenied("You may not manage this project's integrations.")
    return project


def can_manage(*, user: User, project: Project) -> bool:
    projects = Project.objects.filter(pk=project.pk)
    return scope(projects, user=user, action=policy.UPDATE, resource="integrations").exists()


def integration_list(*, user: User, project: Project) -> QuerySet[Integration]:
    """Integrations of ``project`` (which the caller obtained through :func:`project_get`)."""
    return Integration.objects.filter(project=project).select_related("created_by").order_by("id")


def integration_for_webhook(*, webhook_id: UUID) -> Integration | None:
    """The active integration a webhook URL names, in the current tenant's schema only (another tenant's UUID is
    simply not there). Deliveries are authenticated by signature, not by a user."""
    return Integration.objects.filter(webhook_id=webhook_id, is_active=True).select_related("project").first()


def delivery_list(*, user: User, integration: Integration) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(integration=integration).order_by("-received_at", "-id")


def delivery_rows(*, project_ids: list[int], start: datetime, end: datetime, lookback_start: datetime):
    """Plain rows for the metric computations of ``project_ids`` (no permission check: callers have one, or are
    system code such as the recommendations engine). ``lookback_start`` ≤ ``start`` extends the commits window for
    the rework rate. Four queries, however many projects."""
    commits = (
        Commit.objects.filter(project_id__in=project_ids, authored_at__gte=lookback_start, authored_at__lt=end)
        .order_by("authored_at", "id")
        .values_list(
            "project_id",
            "sha",
            "author_key",
            "author_name",
            "authored_at",
            "files_added",
            "files_modified",
            "files_removed",
            "is_merge",
            "is_revert",
            "is_fixup",
        )
    )
    pull_requests = (
        PullRequest.objects.filter(project_id__in=project_ids)
        .filter(
            Q(merged_at__gte=start, merged_at__lt=end)
            | Q(first_review_at__gte=start, first_review_at__lt=end)
            | Q(opened_at__gte=start, opened_at__lt=end)
        )
        .order_by("opened_at", "id")
        .values_list("project_id", "opened_at", "merged_at", "first_review_at", "state")
    )
    ci_runs = (
        CiRun.objects.filter(project_id__in=project_ids, finished_at__gte=start, finished_at__lt=end)
        .order_by("finished_at", "id")
        .values_list("project_id", "outcome", "finished_at", "duration_seconds")
    )
    integrations = (
        Integration.objects.filter(project_id__in=project_ids)
        .order_by("project_id", "id")
        .values_list("project_id", "created_at")
    )
    return list(integrations), list(commits), list(pull_requests), list(ci_runs)


def earliest_commit_at(*, project_ids: list[int]) -> dict[int, datetime]:
    """The earliest commit timestamp recorded per project (start of what the integrations have observed)."""
    from django.db.models import Min

    rows = Commit.objects.filter(project_id__in=project_ids).values("project_id").annotate(first=Min("authored_at"))
    return {row["project_id"]: row["first"] for row in rows.order_by("project_id")}


def delivery_metric_config():
    from django.conf import settings

    return MetricConfig(
        rework_window_days=settings.INTEGRATIONS_REWORK_WINDOW_DAYS,
        min_percentile_samples=settings.INTEGRATIONS_MIN_PERCENTILE_SAMPLES,
    )


def delivery_metrics_for_projects(
    *, project_ids: list[int], start: datetime, end: datetime, now: datetime
) -> dict[int, dict]:
    """Delivery metrics for [start, end) of every project in ``project_ids`` that has an integration (system-level:
    no permission check). Five queries in all."""
    from datetime import timedelta

    config = delivery_metric_config()
    lookback_start = start - timedelta(days=config.rework_window_days)
    rows = delivery_rows(project_ids=project_ids, start=start, end=end, lookback_start=lookback_start)
    data = delivery_metrics.group_rows(*rows, earliest_commit_at(project_ids=project_ids))
    return {
        project_id: delivery_metrics.compute(project_data, start=start, end=end, now=now, config=config)
        for project_id, project_data in data.items()
    }


def delivery_metrics_get(*, user: User, project: Project, start: datetime, end: datetime) -> dict:
    """Delivery metrics of ``project`` (obtained through :func:`project_get` for ``user``) for [start, end)."""
    from django.utils import timezone

    computed = delivery_metrics_for_projects(project_ids=[project.pk], start=start, end=end, now=timezone.now())
    if project.pk in computed:
        return computed[project.pk]
    return delivery_metrics.compute(
        delivery_metrics.ProjectData(observed_since=None),
        start=start,
        end=end,
        now=end,
        config=delivery_metric_config(),
    )
