"""Dashboard pieces for delivery metrics (server-rendered)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from apps.access.declarations import access
from apps.integrations import selectors
from apps.integrations.api.serializers import parse_period, period_bounds
from apps.integrations.metrics import OK
from apps.projects.models import Project
from maestro.api.exceptions import flatten_errors

CARDS = [
    ("commit_frequency", "Commit frequency", "{value:.2f} commits/week"),
    ("active_contributors", "Active contributors", "{value:.0f}"),
    ("pr_lead_time", "PR lead time", "p50 {p50:.1f} h · p90 {p90:.1f} h"),
    ("review_turnaround", "Review turnaround", "p50 {p50:.1f} h · p90 {p90:.1f} h"),
    ("ci_pass_rate", "CI pass rate", "{percent:.1f} %"),
    ("ci_mean_duration", "CI mean duration", "{minutes:.1f} min"),
    ("rework_rate", "Rework rate", "{percent:.1f} % of commits"),
    ("bus_factor", "Bus factor", "{percent:.1f} % of commits by the top contributor"),
]


def delivery_metric_cards(report: dict) -> list[dict]:
    """One display card per metric: its formatted value, or the reason it could not be computed."""
    cards = []
    for key, label, template in CARDS:
        metric = report["metrics"][key]
        card = {"key": key, "label": label, "ok": metric["status"] == OK, "n": metric.get("n", 0)}
        if card["ok"]:
            value = metric.get("value")
            card["display"] = template.format(
                value=value or 0,
                p50=metric.get("p50") or 0,
                p90=metric.get("p90") or 0,
                percent=(value or 0) * 100,
                minutes=(value or 0) / 60,
            )
        else:
            card["display"] = "Insufficient data"
            card["reason"] = metric.get("reason", "")
        cards.append(card)
    return cards


@access("integrations")
@login_required
def delivery_panel(request, pk: int):
    """The project's delivery panel: a partial for htmx requests, a full page otherwise."""
    try:
        project = selectors.project_get(user=request.user, pk=pk)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None
    template = "integrations/_delivery_panel.html" if request.htmx else "integrations/delivery_panel_page.html"
    context = {"project": project, "period": {"from": request.GET.get("from", ""), "to": request.GET.get("to", "")}}
    try:
        first_day, last_day = parse_period(request.GET)
    except ValidationError as exc:
        context["errors"] = [f"{error['field']}: {error['message']}" for error in flatten_errors(exc.detail)]
        return render(request, template, context, status=400)
    start, end = period_bounds(first_day, last_day)
    report = selectors.delivery_metrics_get(user=request.user, project=project, start=start, end=end)
    context.update(
        period={"from": first_day.isoformat(), "to": last_day.isoformat()},
        report=report,
        cards=delivery_metric_cards(report),
        integrations=list(selectors.integration_list(user=request.user, project=project)),
        chart_data={"series": report["series"]},
        delivery_data_id=f"delivery-data-{project.pk}",
    )
    return render(request, template, context)
