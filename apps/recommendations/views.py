"""Dashboard pages of the recommender: the what-if page (live prediction while a proposal is composed), the model
registry (versions, CV metrics vs baseline, importances, training runs, retrain / promote / roll back) and the
project pieces (similar projects; the prediction vs actual panel is in ``panels``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.access.declarations import access
from apps.access.policy import CREATE, READ, UPDATE
from apps.access.selectors import can, require
from apps.artifacts.choices import ArtifactType
from apps.artifacts.selectors import artifact_list
from apps.projects.choices import ExperienceLevel, MemberRole
from apps.projects.models import Project
from apps.projects.selectors import cost_unit, team_member_list
from apps.projects.selectors import project_get as project_selector_get
from apps.recommendations import selectors, services
from apps.recommendations.api.views import run_import
from apps.recommendations.choices import ModelAction, ModelStatus
from apps.recommendations.forms import MAX_MEMBERS, MemberRow, ModelActionForm, RetrainForm, WhatIfForm, member_rows
from apps.recommendations.forms import request_body as what_if_request_body
from apps.recommendations.panels import interval_positions
from apps.recommendations.services import importing
from maestro.ui.charts import axis, chart
from maestro.ui.export import csv_response, wants_csv

TOP_CONTRIBUTIONS = 12
TOP_IMPORTANCES = 15
SIMILAR_SHOWN = 5
RUNS_SHOWN = 20
POSITIVE, NEGATIVE = "#059669", "#dc2626"
# Below this cosine similarity to the closest past spec, a spec is "unlike any past project". Measured with the
# embedding model on 200 demo specs: every spec's closest other spec is ≥ 0.63 similar (median 0.87), a related
# one-line brief ~0.55, while 10,000 "x", lorem ipsum or a cake recipe reach 0.15–0.18.
UNLIKE_SIMILARITY = 0.3


# ---------------------------------------------------------------------------------------------- labels
FEATURE_LABELS = {
    "team_size": "team size",
    "years_mean": "mean years of experience",
    "years_max": "most years of experience",
    "hours_total": "total hours",
    "complexity": "complexity",
    "problem_class": "problem class",
    "planned_duration_days": "planned duration",
    "neighbor_success": "success of similar projects",
}


def feature_labels(names, artifact_names: dict[int, str], values=None) -> list[str]:
    """Readable names of model features (``role_mlops`` → "MLOps people", ``artifact_7`` → "uses <name>"); with
    ``values`` (a prediction's feature values) each name shows its value, and indicators say whether it is used."""
    roles, levels = dict(MemberRole.choices), dict(ExperienceLevel.choices)
    types = dict(ArtifactType.choices)
    labels = []
    for name in names:
        prefix, _, rest = name.partition("_")
        if name in FEATURE_LABELS:
            labels.append(FEATURE_LABELS[name])
        elif prefix == "role" and rest in roles:
            labels.append(f"{roles[rest]} people")
        elif prefix == "level" and rest in levels:
            labels.append(f"{levels[rest].lower()} people")
        elif prefix == "artifacts" and rest in types:
            labels.append(f"{types[rest].lower()} artifacts used")
        elif prefix == "artifact" and rest.isdecimal():
            labels.append(f"uses {artifact_names.get(int(rest), 'artifact ' + rest)}")
        else:
            labels.append(name.replace("_", " "))
    if values is None:
        return labels
    shown = []
    for name, label, value in zip(names, labels, values, strict=True):
        if name.startswith("artifact_") and name[9:].isdecimal():
            shown.append(label if value else f"does not use {label.removeprefix('uses ')}")
        elif name == "problem_class":
            shown.append(label)  # a category code, meaningless to read
        elif value is None:
            shown.append(f"{label}: unknown")
        else:
            shown.append(f"{label}: {round(value, 1):g}")  # the chart explains; 5.4 reads better than 5.4143
    return shown


def _artifact_names(user) -> dict[int, str]:
    return dict(artifact_list(user=user).values_list("pk", "name"))


# ---------------------------------------------------------------------------------------------- what-if
def _library(user):
    return list(artifact_list(user=user).filter(is_active=True).order_by("name", "id"))


def _project_initial(user, project_id: str) -> tuple[dict, list[MemberRow]]:
    """A visible project's inputs as the starting point of a what-if (its spec, class, team and artifacts)."""
    if not project_id.isdecimal():
        return {}, []
    try:
        project = project_selector_get(user=user, pk=int(project_id))
    except Project.DoesNotExist:
        raise Http404("No such project.") from None
    initial = {
        "project_id": project.pk,
        "spec": project.spec,
        "problem_class": project.problem_class,
        "complexity_score": project.complexity_score,
        "artifact_ids": sorted({str(usage["artifact"]) for usage in project.usages_json}),
    }
    if project.start_date and project.target_end_date:
        initial["planned_duration_days"] = (project.target_end_date - project.start_date).days
    rows = [
        MemberRow(
            member.role, member.experience_level, f"{member.years_experience:g}", f"{member.contribution_hours:g}"
        )
        for member in team_member_list(user=user, project=project)
    ]
    initial["project"] = project
    return initial, rows


@access("models")
@login_required
def what_if(request):
    """Compose a team, pick artifacts, paste a spec: the prediction below updates as you type (htmx)."""
    require(request.user, "models", "read")
    initial, rows = _project_initial(request.user, request.GET.get("project", ""))
    project = initial.pop("project", None)
    form = WhatIfForm(initial=initial, artifacts=_library(request.user))
    context = {
        "form": form,
        "rows": rows or [MemberRow()],
        "member_roles": _choices(),
        "project": project,
        "autorun": bool(initial.get("spec")),
    }
    return render(request, "recommendations/what_if.html", context)


def _choices() -> dict:
    return {"roles": MemberRole.choices, "levels": ExperienceLevel.choices}


@access("models")
@login_required
def what_if_member_row(request):
    """One more (empty) team row for the what-if form."""
    require(request.user, "models", "read")
    return render(request, "recommendations/_member_row.html", {"row": MemberRow(), "member_roles": _choices()})


def _serializer_errors(errors: dict, form: WhatIfForm, rows: list[MemberRow]) -> list[str]:
    """The API serializer's errors on the page: next to the form's fields, on the team rows, or at the top."""
    general = []
    for name, problem in errors.items():
        if name == "team_members" and isinstance(problem, (list, dict)):
            # DRF reports a list field's item errors as a list (one entry per item) or as {index: errors}
            by_index = problem if isinstance(problem, dict) else dict(enumerate(problem))
            for index, row_errors in by_index.items():
                if isinstance(row_errors, dict) and row_errors and int(index) < len(rows):
                    rows[int(index)].error = "; ".join(
                        f"{field.replace('_', ' ')}: {' '.join(map(str, field_errors))}"
                        for field, field_errors in row_errors.items()
                    )
                elif row_errors and not isinstance(row_errors, dict):
                    general.append(f"team members: {' '.join(map(str, row_errors))}")
            continue
        text = " ".join(map(str, problem)) if isinstance(problem, list) else str(problem)
        if name in form.fields:
            form.add_error(name, text)
        else:
            general.append(f"{name.replace('_', ' ')}: {text}")
    return general


@access("models", post=READ)
@login_required
@require_POST
def what_if_predict(request):
    """The prediction for the posted proposal (htmx partial): the form becomes the API's request body and goes
    through the same service as ``POST /api/v1/recommendations`` (``services.recommendation_for_request``), so the
    answer is the API's answer. Live updates while the lead edits are previews; only **Predict** (the form's
    ``predict`` button) stores a Prediction, as every API call does."""
    require(request.user, "models", "read")
    form = WhatIfForm(request.POST, artifacts=_library(request.user))
    rows = member_rows(request.POST)
    store = "predict" in request.POST
    context = {"form": form, "rows": rows, "result": None, "errors": []}
    if len(rows) > MAX_MEMBERS:
        context["errors"].append(f"At most {MAX_MEMBERS} team members.")
    elif form.is_valid():
        body = what_if_request_body(form, rows)
        try:
            context["result"] = services.recommendation_for_request(user=request.user, data=body, store=store)
            context["request_body"] = body
        except DRFValidationError as exc:
            context["errors"] = _serializer_errors(exc.detail, form, rows)
    if context["result"] is not None:
        context.update(_result_charts(context["result"], _artifact_names(request.user)))
        context["warnings"] = _warnings(context["result"], rows)
        context["cost_unit"] = cost_unit  # called by the template only when a cost is shown
    else:
        context["problems"] = _problems(form, rows, context["errors"])
    return render(request, "recommendations/_what_if_result.html", context)


def _problems(form: WhatIfForm, rows: list[MemberRow], errors: list[str]) -> list[str]:
    """Everything that stopped a prediction, each naming its field or team row."""
    problems = [
        f"{form.fields[name].label if name in form.fields else 'Proposal'}: {message}"
        for name, messages in form.errors.items()
        for message in messages
    ]
    problems += errors
    problems += [f"Team member {index}: {row.error}" for index, row in enumerate(rows, 1) if row.error]
    return problems


def _warnings(result: dict, rows: list[MemberRow]) -> list[str]:
    """What makes the number below untrustworthy, in plain words: a team size outside the data the model learned
    from (an empty team above all) and a spec unlike every past one."""
    warnings = []
    sizes = selectors.team_size_range()
    if sizes is not None and not sizes[0] <= len(rows) <= sizes[1]:
        people = f"{sizes[0]}–{sizes[1]}" if sizes[0] != sizes[1] else str(sizes[0])
        if not rows:
            warnings.append(
                f"No team members: every past project the model learned from had {people} people, so an empty team "
                "is outside its data and the number below means little. Add the people you plan to staff."
            )
        else:
            warnings.append(
                f"A team of {len(rows)} is outside the data: past projects had {people} people, so the model "
                "extrapolates."
            )
    if result.get("status") == "ok":
        similarities = [n["similarity"] for n in result["neighbor_success"]["neighbors"]]
    else:
        similarities = [p["similarity"] for p in result.get("similar_projects", [])]
    closest = max(similarities, default=None)
    if closest is None or closest < UNLIKE_SIMILARITY:
        found = "no past project is comparable" if closest is None else f"the closest is {closest:.0%} similar"
        warnings.append(
            f"This spec is unlike any past project ({found}): the model has nothing comparable to learn from, so "
            "treat the prediction as a guess. Describe the goals and requirements in plain sentences."
        )
    return warnings


def _result_charts(result: dict, artifact_names: dict[int, str]) -> dict:
    """The contribution chart (largest effects first) and the display facts of a recommendation."""
    if result.get("status") != "ok":
        return {}
    contributions = result["feature_contributions"]
    features = contributions["features"][:TOP_CONTRIBUTIONS]
    values = [item["contribution"] for item in features]
    roles, levels = dict(MemberRole.choices), dict(ExperienceLevel.choices)
    team = [
        {
            **member,
            "role_label": roles.get(member["role"], member["role"]),
            "level_label": levels.get(member["level"], member["level"]),
        }
        for member in result["suggested_team"]["members"]
    ]
    contribution_chart = chart(
        "bar",
        labels=feature_labels(
            [item["feature"] for item in features], artifact_names, [item["value"] for item in features]
        ),
        datasets=[
            {
                "label": "Contribution to predicted success",
                "data": values,
                "colors": [POSITIVE if value >= 0 else NEGATIVE for value in values],
            }
        ],
        options={
            "indexAxis": "y",
            "plugins": {"legend": {"display": False}},
            "scales": {"x": axis("points of success score")},
        },
        colour_by_point=True,
    )
    success, suggested = result["success"], result["suggested_team"]
    overlap = None
    if suggested.get("lower") is not None and success.get("lower") is not None:
        overlap = suggested["lower"] <= success["upper"] and success["lower"] <= suggested["upper"]
    required = [roles.get(role, role) for role in suggested["constraints"].get("min_per_role", {})]
    return {
        "contribution_chart": contribution_chart,
        "interval": interval_positions(success),
        "suggested_team": team,
        "team_intervals_overlap": overlap,
        "required_roles": required,
    }


# ---------------------------------------------------------------------------------------------- models
@access("models")
@login_required
def model_registry(request):
    require(request.user, "models", "read")
    versions = list(selectors.model_list().annotate(has_rollback=selectors.has_rollback()))
    if wants_csv(request):
        return _models_csv(versions)
    chosen = request.GET.get("version", "")
    selected = next((m for m in versions if str(m.version) == chosen), None)
    selected = selected or next((m for m in versions if m.status == ModelStatus.ACTIVE), None)
    selected = selected or (versions[0] if versions else None)
    rows = []
    for model in versions:
        success = (model.cv_metrics or {}).get("success", {})
        rows.append({"model": model, "success": success})
    ordered = sorted(rows, key=lambda row: row["model"].version)
    cv_chart = None
    if ordered:
        cv_chart = chart(
            "bar",
            labels=[f"v{row['model'].version}" for row in ordered],
            datasets=[
                {
                    "label": "CV MAE of the model",
                    "data": [row["success"].get("mae") for row in ordered],
                    "color": "#4f46e5",
                },
                {
                    "label": "MAE of the mean baseline",
                    "data": [row["success"].get("baseline_mae") for row in ordered],
                    "color": "#9ca3af",
                },
            ],
            options={"scales": {"y": {**axis("success score points (lower is better)"), "beginAtZero": True}}},
        )
    importance_chart = None
    if selected is not None and selected.feature_importances:
        top = sorted(selected.feature_importances.items(), key=lambda item: -item[1])[:TOP_IMPORTANCES]
        importance_chart = chart(
            "bar",
            labels=feature_labels([name for name, _share in top], _artifact_names(request.user)),
            datasets=[{"label": "Share of split gain", "data": [round(share * 100, 2) for _name, share in top]}],
            options={
                "indexAxis": "y",
                "plugins": {"legend": {"display": False}},
                "scales": {"x": axis("% of total gain")},
            },
        )
    base = selectors.baseline()
    context = {
        "state": selectors.model_state(base=base, versions=versions),
        "learning_chart": _learning_chart(selected),
        "selected_validation": (selected.validation if selected else {}) or {},
        "rows": rows,
        "selected": selected,
        "selected_metrics": (selected.cv_metrics if selected else {}) or {},
        "events": _decisions(selectors.model_events(selected)[:RUNS_SHOWN]) if selected else [],
        "cv_chart": cv_chart,
        "importance_chart": importance_chart,
        "training_runs": list(selectors.training_run_list()[:RUNS_SHOWN]),
        "accuracy": selectors.prediction_accuracy()["overall"],
        "baseline": base,
        "can_retrain": can(request.user, "models", "create"),
        "can_promote": can(request.user, "models", "change"),
        "can_import": can(request.user, "project_import", "create"),
        "retrain_form": RetrainForm(),
        "action_form": ModelActionForm(),
    }
    return render(request, "recommendations/models.html", context)


def _decisions(events) -> list:
    """Model events with a ``summary`` that reads right: the first version ever was promoted because nothing was
    active, not because its CV error was better than another's."""
    shown = list(events)
    for event in shown:
        if event.action == ModelAction.AUTO_PROMOTED and event.previous_active_id is None:
            event.summary = "Promoted automatically: the first version, as no model was active"
        else:
            event.summary = event.get_action_display() + (f": {event.reason}" if event.reason else "")
    return shown


def _models_csv(versions):
    """The model versions table as CSV (every version, newest first)."""
    header = ("version", "status", "trained_at", "n_samples", "cv_mae", "baseline_mae", "r2")
    rows = []
    for model in versions:
        success = (model.cv_metrics or {}).get("success", {})
        rows.append(
            (
                model.version,
                model.status,
                model.trained_at,
                model.n_samples,
                success.get("mae"),
                success.get("baseline_mae"),
                success.get("r2"),
            )
        )
    return csv_response("models", header, rows)


def _learning_chart(model) -> dict | None:
    """Validated (forward) error against training size for one version, next to the mean baseline's."""
    curve = ((model.validation or {}).get("learning_curve") or []) if model is not None else []
    if not curve:
        return None
    return chart(
        "line",
        labels=[str(point["size"]) for point in curve],
        datasets=[
            {"label": "Forward MAE of the model", "data": [round(p["mae"], 3) for p in curve], "color": "#4f46e5"},
            {
                "label": "MAE of the mean baseline",
                "data": [round(p["baseline_mae"], 3) for p in curve],
                "color": "#9ca3af",
            },
        ],
        options={
            "scales": {
                "x": axis("training projects"),
                "y": {**axis("success score points (lower is better)"), "beginAtZero": True},
            }
        },
    )


@access("models", post=CREATE)
@login_required
@require_POST
def model_retrain(request):
    require(request.user, "models", "create")
    form = RetrainForm(request.POST)
    force = form.is_valid() and form.cleaned_data["force"]
    run = services.training_request(user=request.user, force=force)
    messages.success(request, f"Training run #{run.pk} {run.get_status_display().lower()}; it appears below.")
    return redirect("recommendations:models")


def _model_action(request, pk: int, service, verb: str):
    require(request.user, "models", "change")
    model = selectors.model_list().filter(pk=pk).first()
    if model is None:
        raise Http404("No such model version.")
    form = ModelActionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if not reason.strip():
        messages.error(request, "Give a reason: it is recorded with the decision in the audit trail.")
        return redirect("recommendations:models")
    try:
        active = service(model=model, user=request.user, reason=reason)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Model v{model.version} {verb}; v{active.version} now serves predictions.")
    return redirect("recommendations:models")


@access("models", post=UPDATE)
@login_required
@require_POST
def model_promote(request, pk: int):
    return _model_action(request, pk, services.model_promote, "promoted")


@access("models", post=UPDATE)
@login_required
@require_POST
def model_rollback(request, pk: int):
    return _model_action(request, pk, services.model_rollback, "rolled back")


# ---------------------------------------------------------------------------------------------- import
@access("project_import", get=CREATE, post=CREATE)  # the page is only for those who may import
@login_required
def project_import(request):
    """The upload page (GET) and its upload (POST, sent by static/js/project-import.js with upload progress): the
    API's own import, answered as JSON in the API's shapes."""
    require(request.user, "project_import", "create")
    if request.method != "POST":
        context = {"max_rows": importing.MAX_ROWS, "max_mb": importing.MAX_BYTES // (1024 * 1024)}
        return render(request, "recommendations/import.html", context)
    try:
        code, body = run_import(request, dry_run=request.GET.get("dry_run") == "true", file_format=None)
    except (ValidationError, DRFValidationError) as exc:
        detail = exc.message_dict if isinstance(exc, ValidationError) else exc.detail
        return JsonResponse({"status": 400, "code": "invalid", "detail": str(detail), "errors": []}, status=400)
    except APIException as exc:  # a refused plan limit
        return JsonResponse(
            {"status": exc.status_code, "code": "refused", "detail": str(exc.detail), "errors": []},
            status=exc.status_code,
        )
    return JsonResponse(body, status=code)


# ---------------------------------------------------------------------------------------------- project pieces
@access("projects")
@login_required
def project_similar(request, pk: int):
    """The project's most similar projects (htmx partial, loaded after the page: embedding a changed spec takes a
    moment)."""
    project = selectors.project_get_visible(user=request.user, pk=pk)
    vector = selectors.project_vector(project)
    similar = []
    if vector is not None:
        similar = selectors.similar_projects(
            user=request.user, vector=vector, k=SIMILAR_SHOWN, exclude_ids=[project.pk]
        )
    return render(
        request, "recommendations/_similar.html", {"project": project, "similar": similar, "blank_spec": vector is None}
    )
