"""Dashboard pages of the model registry: the registered models (search, sort, their latest version and aliases)
and one model with its versions — stage, aliases, the run that produced each (a link when the user may see it),
the logged model, the ``models:/`` URIs that load it and a download of its files — next to its place in the
artifact library (usage and impact). Everything is read through the permission-scoped registry selectors; the
pages change nothing (the registry is written through MLflow's API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import Http404
from django.shortcuts import render

from apps.access.declarations import access
from apps.metrics.selectors import run_list
from apps.mlflow_api import registry_selectors
from apps.mlflow_api.models import RegisteredModelAlias
from maestro.ui.listing import page_of, sort_from

PER_PAGE = 25
COLUMNS = {
    "name": ("artifact__name",),
    "updated": ("updated_at",),
    "versions": ("version_count",),
    "usage": ("artifact__usage_count",),
}


@login_required
@access("registered_models")
def registered_model_list(request):
    query = (request.GET.get("q") or "").strip()[:200]
    models = registry_selectors.registered_model_list(user=request.user).annotate(
        version_count=Count("versions", distinct=True), latest_version=Max("versions__version")
    )
    if query:
        models = models.filter(Q(artifact__name__icontains=query) | Q(artifact__description__icontains=query))
    sort = sort_from(request, COLUMNS, "-updated")
    page = page_of(request, models.order_by(*sort.ordering), per_page=PER_PAGE)
    aliases: dict[int, list[tuple[str, int]]] = {}
    rows = RegisteredModelAlias.objects.filter(registered_model__in=[m.pk for m in page.object_list])
    for registered_id, alias, number in rows.order_by("alias").values_list(
        "registered_model_id", "alias", "version__version"
    ):
        aliases.setdefault(registered_id, []).append((alias, number))
    for registered in page.object_list:
        registered.alias_list = aliases.get(registered.pk, [])
    return render(request, "registry/list.html", {"page": page, "sort": sort, "q": query})


@login_required
@access("registered_models")
def registered_model_detail(request, pk: int):
    registered = registry_selectors.registered_model_list(user=request.user).filter(pk=pk).first()
    if registered is None:
        raise Http404("No such registered model.")
    versions = list(registry_selectors.model_version_list(user=request.user).filter(registered_model=registered))
    payloads = registry_selectors.model_version_payloads(versions)
    visible_runs = set(
        run_list(user=request.user, lifecycle_stages=("active", "deleted"))
        .filter(pk__in=[v.run_id for v in versions if v.run_id])
        .values_list("pk", flat=True)
    )
    for version, payload in zip(versions, payloads, strict=True):
        version.aliases_list = payload.get("aliases", [])
        version.tag_list = payload.get("tags", [])
        version.run_visible = version.run_id in visible_runs
        version.description = version.artifact_version.changelog
    tags = list(registered.tags.order_by("key"))
    artifact = registered.artifact
    context = {
        "registered": registered,
        "artifact": artifact,
        "versions": versions,
        "tags": tags,
        "aliases": list(registered.aliases.select_related("version").order_by("alias")),
        "latest": max((v.version for v in versions), default=None),
    }
    return render(request, "registry/detail.html", context)
