"""Dashboard pages for the artifact library: search and filter, an artifact with its versions (upload, download),
the projects that use it and its measured impact."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from apps.access.declarations import access
from apps.access.policy import CREATE, READ, UPDATE
from apps.access.selectors import can, require
from apps.artifacts import selectors, services
from apps.artifacts.filtersets import ArtifactFilterSet
from apps.artifacts.forms import ArtifactFilterForm, ArtifactForm, ArtifactVersionForm
from apps.artifacts.models import Artifact
from apps.artifacts.uploads import HashingUploadHandler, UploadTooLarge, max_upload_bytes
from maestro.ui import panels
from maestro.ui.forms import call_service, wants_partial
from maestro.ui.listing import page_of

PER_PAGE = 25
ORDERINGS = {
    "impact": (F("impact_score").desc(nulls_last=True), F("usage_count").desc(), "name", "id"),
    "usage": (F("usage_count").desc(), "name", "id"),
    "name": ("name", "id"),
    "created": (F("created_at").desc(), F("id").desc()),
}
USAGES_SHOWN = 15
USAGES_ALL = 1000  # "See all": every visible usage up to this many (the page says when there are more)


def _artifact_or_404(user, pk: int) -> Artifact:
    artifact = selectors.artifact_list(user=user).filter(pk=pk).first()
    if artifact is None:
        raise Http404("No such artifact.")
    return artifact


@access("artifacts")
@login_required
def artifact_list(request):
    filters = ArtifactFilterForm(request.GET or None)
    valid = filters.is_valid() if filters.is_bound else False
    queryset = ArtifactFilterSet(
        filters.filterset_data() if filters.is_bound else {"is_active": True},
        queryset=selectors.artifact_list(user=request.user),
    ).qs
    search = (filters.cleaned_data.get("q") or "").strip() if valid else ""
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(description__icontains=search))
    sort = (filters.cleaned_data.get("sort") if valid else "") or "impact"
    page = page_of(request, queryset.order_by(*ORDERINGS[sort]), per_page=PER_PAGE)
    context = {
        "filters": filters,
        "page": page,
        "current_sort": sort,
        "filtered": bool(search or (valid and any(filters.cleaned_data.get(k) for k in ("type", "tag", "inactive")))),
        "can_create": can(request.user, "artifacts", "create"),
    }
    template = "artifacts/_results.html" if wants_partial(request) else "artifacts/list.html"
    return render(request, template, context)


@access("artifacts", get=CREATE, post=CREATE)
@login_required
def artifact_create(request):
    require(request.user, "artifacts", "create")
    form = ArtifactForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        artifact = call_service(
            form, services.artifact_create, user=request.user, data=form.service_data(only_changed=False)
        )
        if artifact is not None:
            messages.success(request, f"Artifact “{artifact.name}” added to the library.")
            return redirect("artifacts:detail", pk=artifact.pk)
    return render(request, "artifacts/form.html", {"form": form, "artifact": None})


@access("artifacts", get=UPDATE, post=UPDATE)
@login_required
def artifact_edit(request, pk: int):
    artifact = _artifact_or_404(request.user, pk)
    require(request.user, "artifacts", "change", artifact)
    form = ArtifactForm(request.POST or None, initial=ArtifactForm.initial_for(artifact))
    if request.method == "POST" and form.is_valid():
        data = form.service_data(only_changed=True)
        if call_service(form, services.artifact_update, artifact=artifact, data=data) is not None:
            messages.success(request, "Changes saved." if data else "Nothing changed.")
            return redirect("artifacts:detail", pk=artifact.pk)
    return render(request, "artifacts/form.html", {"form": form, "artifact": artifact})


def _detail_context(request, artifact: Artifact, version_form: ArtifactVersionForm | None = None) -> dict:
    versions = list(selectors.artifact_version_list(user=request.user, artifact=artifact))
    usages = selectors.artifact_usage_list(user=request.user).filter(artifact=artifact)
    can_upload = can(request.user, "artifact_versions", "create", artifact)
    show_all = request.GET.get("used_by") == "all"
    return {
        "artifact": artifact,
        "versions": versions,
        "usages": list(usages[: USAGES_ALL if show_all else USAGES_SHOWN]),
        "usages_all": show_all,
        "usages_cap": USAGES_ALL,
        "usage_total": artifact.usage_count,
        "version_form": (version_form or ArtifactVersionForm()) if can_upload else None,
        "can_edit": can(request.user, "artifacts", "change", artifact),
        "can_grant": can(request.user, "grants", "read", artifact),
        "max_upload_bytes": max_upload_bytes(),
        # what the engines add to the page (the recommender: the artifact's measured impact), see maestro.ui.panels
        **panels.context("artifacts.detail", user=request.user, obj=artifact),
    }


@access("artifacts")
@login_required
def artifact_detail(request, pk: int):
    artifact = _artifact_or_404(request.user, pk)
    return render(request, "artifacts/detail.html", _detail_context(request, artifact))


@access("artifact_versions", get=READ, post=CREATE)
@csrf_exempt
def artifact_version_upload(request, pk: int):
    """Upload a new version (multipart form). The file streams through the same hashing, size-limited upload
    handler as the API, which must be installed before anything reads the body — so the CSRF check runs inside,
    after the handler is in place (Django's documented pattern for per-view upload handlers)."""
    handler = HashingUploadHandler(request, max_bytes=max_upload_bytes())
    request.upload_handlers = [handler]
    return _artifact_version_upload(request, pk=pk, handler=handler)


@csrf_protect
@login_required
def _artifact_version_upload(request, pk: int, handler: HashingUploadHandler):
    artifact = _artifact_or_404(request.user, pk)
    if request.method != "POST":
        return redirect("artifacts:detail", pk=artifact.pk)
    require(request.user, "artifact_versions", "create", artifact)
    try:
        form = ArtifactVersionForm(request.POST, request.FILES)
        valid = form.is_valid()
    except UploadTooLarge as exc:
        form, valid = ArtifactVersionForm(), False
        form.add_error(None, f"The file is larger than the upload limit of {exc.limit:,} bytes.")
    if handler.too_large:
        form.add_error("file", f"The file is larger than the upload limit of {handler.max_bytes:,} bytes.")
        valid = False
    if valid:
        upload = form.cleaned_data.get("file")
        try:
            version = call_service(
                form,
                services.artifact_version_create,
                artifact=artifact,
                version=form.cleaned_data["version"],
                changelog=form.cleaned_data["changelog"],
                file=upload,
                filename=getattr(upload, "name", None),
                content_type=getattr(upload, "content_type", None),
                user=request.user,
            )
        except UploadTooLarge as exc:
            version = None
            form.add_error("file", f"The file is larger than the upload limit of {exc.limit:,} bytes.")
        if version is not None:
            messages.success(request, f"Version {version.version} uploaded.")
            return redirect(reverse("artifacts:detail", kwargs={"pk": artifact.pk}) + "#versions")
    return render(request, "artifacts/detail.html", _detail_context(request, artifact, form))
