"""Dashboard pages for projects: list (filter, sort, paginate), create/edit, detail with the team edited inline."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.access.declarations import access
from apps.access.policy import CREATE, DELETE, UPDATE
from apps.access.selectors import can, require
from apps.metrics.selectors import run_data_attach, run_list
from apps.projects import selectors, services
from apps.projects.filtersets import ProjectFilterSet
from apps.projects.forms import ProjectFilterForm, ProjectForm, TeamMemberForm
from apps.projects.models import Project, TeamMember
from maestro.api.pagination import CappedCountPaginator
from maestro.ui import panels
from maestro.ui.export import csv_response, wants_csv
from maestro.ui.forms import call_service, wants_partial
from maestro.ui.listing import page_of, sort_from

PER_PAGE = 25
SORT_COLUMNS = {
    "name": ("name",),
    "status": ("status",),
    "problem_class": ("problem_class",),
    "complexity": ("complexity_score",),
    "success": ("success_score",),
    "start": ("start_date",),
    "target": ("target_end_date",),
    "created": ("created_at",),
}
DEFAULT_SORT = "-created"
RECENT_RUNS = 10
CSV_HEADER = (
    "id",
    "name",
    "status",
    "problem_class",
    "owner",
    "team_size",
    "complexity",
    "success_score",
    "start_date",
    "target_end_date",
    "completion_date",
    "visibility",
    "tags",
    "created_at",
)


def _project_or_404(user, pk: int) -> Project:
    try:
        return selectors.project_get(user=user, pk=pk)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


def _nulls_last(ordering: tuple[str, ...]) -> list:
    """Missing values (no success score yet, no dates) sort last in both directions."""
    return [
        F(field[1:]).desc(nulls_last=True) if field.startswith("-") else F(field).asc(nulls_last=True)
        for field in ordering
    ]


@access("projects")
@login_required
def project_list(request):
    """Every project the user may see, filtered by the shared ProjectFilterSet, sorted by a column, 25 a page."""
    filters = ProjectFilterForm(request.GET or None)
    queryset = selectors.project_list(user=request.user)
    queryset = ProjectFilterSet(filters.filterset_data(), queryset=queryset).qs
    search = filters.cleaned_data.get("q", "").strip() if filters.is_bound and filters.is_valid() else ""
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(slug__icontains=search) | Q(spec__icontains=search))
    sort = sort_from(request, SORT_COLUMNS, DEFAULT_SORT)
    queryset = queryset.order_by(*_nulls_last(sort.ordering))
    if wants_csv(request):
        return csv_response("projects", CSV_HEADER, _csv_rows(queryset))
    page = page_of(request, queryset, per_page=PER_PAGE, paginator_class=CappedCountPaginator)
    context = {
        "filters": filters,
        "page": page,
        "sort": sort,
        "can_create": can(request.user, "projects", "create"),
        "filtered": bool(filters.filterset_data() or search),
    }
    template = "projects/_results.html" if wants_partial(request) else "projects/list.html"
    return render(request, template, context)


def _csv_rows(queryset):
    """Every filtered project (all pages), in the page's order. Only the exported columns are selected: the list's
    team and usage JSON arrays would cost far more than the team size the export needs."""
    team_size = (
        TeamMember.objects.filter(project_id=OuterRef("pk")).order_by().values("project_id").annotate(n=Count("id"))
    )
    rows = queryset.values_list(
        "pk",
        "name",
        "status",
        "problem_class",
        "owner__username",
        "complexity_score",
        "success_score",
        "start_date",
        "target_end_date",
        "completion_date",
        "visibility",
        "tags",
        "created_at",
    ).annotate(team_size=Coalesce(Subquery(team_size.values("n")), 0))
    for (
        pk,
        name,
        status,
        problem_class,
        owner,
        complexity,
        success,
        start,
        target,
        completed,
        visibility,
        tags,
        created,
        team,
    ) in rows.iterator(chunk_size=2000):
        yield (
            pk,
            name,
            status,
            problem_class,
            owner,
            team,
            complexity,
            success,
            start,
            target,
            completed,
            visibility,
            tags,
            created,
        )


@access("projects", get=CREATE, post=CREATE)
@login_required
def project_create(request):
    require(request.user, "projects", "create")
    form = ProjectForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        project = call_service(
            form, services.project_create, user=request.user, data=form.service_data(only_changed=False)
        )
        if project is not None:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("projects:detail", pk=project.pk)
    return render(request, "projects/form.html", {"form": form, "project": None})


@access("projects", get=UPDATE, post=UPDATE)
@login_required
def project_edit(request, pk: int):
    project = _project_or_404(request.user, pk)
    require(request.user, "projects", "change", project)
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        data = form.service_data(only_changed=True)
        updated = call_service(form, services.project_update, project=project, user=request.user, data=data)
        if updated is not None:
            messages.success(request, "Changes saved." if data else "Nothing changed.")
            return redirect("projects:detail", pk=project.pk)
    return render(request, "projects/form.html", {"form": form, "project": project})


@access("projects", post=DELETE)
@login_required
@require_POST
def project_delete(request, pk: int):
    project = _project_or_404(request.user, pk)
    require(request.user, "projects", "delete", project)
    services.project_delete(project=project, user=request.user)
    messages.success(request, f"Project “{project.name}” deleted.")
    return redirect("projects:list")


def _team_context(request, project: Project, form: TeamMemberForm | None = None) -> dict:
    manage = can(request.user, "team_members", "create", project)
    return {
        "project": project,
        "team": list(selectors.team_member_list(user=request.user, project=project)),
        "team_form": (form or TeamMemberForm()) if manage else None,
        "can_manage_team": manage,
    }


@access("projects")
@login_required
def project_detail(request, pk: int):
    project = _project_or_404(request.user, pk)
    runs = list(run_list(user=request.user).filter(project=project).select_related("created_by")[:RECENT_RUNS])
    run_data_attach(runs)
    metric_keys = sorted({key for run in runs for key in run.data.metrics})[:4]
    context = {
        **_team_context(request, project),
        "usages": project.usages,
        "runs": runs,
        "run_metric_keys": metric_keys,
        "can_edit": can(request.user, "projects", "change", project),
        "can_delete": can(request.user, "projects", "delete", project),
        "can_grant": can(request.user, "grants", "read", project),
        "cost_unit": selectors.cost_unit,  # called by the template only when a cost is shown
        "can_predict": can(request.user, "models", "read"),
        "prediction": None,
        # what the engines add to the page (the recommender: its prediction vs the actual), see maestro.ui.panels
        **panels.context("projects.detail", user=request.user, obj=project),
    }
    return render(request, "projects/detail.html", context)


def _render_team(request, project: Project, form: TeamMemberForm | None = None):
    if wants_partial(request):
        return render(request, "projects/_team.html", _team_context(request, project, form))
    return redirect("projects:detail", pk=project.pk)


@access("team_members", post=CREATE)
@login_required
@require_POST
def team_member_add(request, pk: int):
    project = _project_or_404(request.user, pk)
    require(request.user, "team_members", "create", project)
    form = TeamMemberForm(request.POST)
    if form.is_valid():
        member = call_service(form, services.team_member_create, project=project, data=form.service_data())
        if member is not None:
            messages.success(request, f"{member.display_name} joined the team.")
            return _render_team(request, project)
    if not wants_partial(request):
        for name, errors in form.errors.items():
            label = "" if name == "__all__" else f"{form[name].label}: "
            for error in errors:
                messages.error(request, f"{label}{error}")
    return _render_team(request, project, form)


@access("team_members", post=DELETE)
@login_required
@require_POST
def team_member_remove(request, pk: int, member_pk: int):
    project = _project_or_404(request.user, pk)
    require(request.user, "team_members", "delete", project)
    member = selectors.team_member_list(user=request.user, project=project).filter(pk=member_pk).first()
    if member is None:
        raise Http404("No such team member.")
    services.team_member_delete(member=member)
    messages.success(request, f"{member.display_name} left the team.")
    return _render_team(request, project)
