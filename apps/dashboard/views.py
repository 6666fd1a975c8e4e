"""The dashboard's home page: what a team lead looks at first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F
from django.shortcuts import render

from apps.access.declarations import access
from apps.access.selectors import can
from apps.artifacts.selectors import artifact_list
from apps.audit.selectors import audit_event_list
from apps.metrics.selectors import run_data_attach, run_list
from apps.projects.choices import ProjectStatus
from apps.projects.selectors import project_list
from apps.recommendations.selectors import latest_model_summary
from maestro.ui.charts import chart

SHOWN = 8
STATUS_COLOURS = {"planned": "#d97706", "active": "#4f46e5", "completed": "#059669", "cancelled": "#9ca3af"}


@access("projects")
@login_required
def home(request):
    user = request.user
    projects = project_list(user=user)
    by_status = dict(projects.order_by().values_list("status").annotate(n=Count("id")))
    counts = [by_status.get(status, 0) for status in ProjectStatus.values]
    status_chart = chart(
        "doughnut",
        labels=[label for _value, label in ProjectStatus.choices],
        datasets=[
            {"label": "Projects", "data": counts, "colors": [STATUS_COLOURS[value] for value in ProjectStatus.values]}
        ],
        options={"plugins": {"legend": {"position": "right"}}},
        colour_by_point=True,
    )
    active = list(
        projects.filter(status=ProjectStatus.ACTIVE).order_by(F("target_end_date").asc(nulls_last=True), "-id")[:SHOWN]
    )
    runs = list(run_list(user=user).select_related("project")[:SHOWN])
    run_data_attach(runs)
    for run in runs:
        run.headline = sorted(run.data.metrics.items())[:2]
    artifacts = list(
        artifact_list(user=user)
        .filter(is_active=True)
        .order_by(F("impact_score").desc(nulls_last=True), "-usage_count", "name", "id")[:SHOWN]
    )
    context = {
        "by_status": dict(zip(ProjectStatus.values, counts, strict=True)),
        "total_projects": sum(counts),
        "status_chart": status_chart,
        "active_projects": active,
        "recent_runs": runs,
        "top_artifacts": artifacts,
        "audit_events": list(audit_event_list(user=user)[:SHOWN]) if can(user, "audit_log", "read") else None,
        "latest_model": latest_model_summary() if can(user, "models", "read") else None,
    }
    return render(request, "dashboard/home.html", context)
