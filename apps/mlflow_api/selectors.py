"""Reads behind the MLflow API: experiments (projects seen through their MLflow state), runs in any lifecycle
stage, and metric histories in MLflow's order. Every entry point takes the acting ``user`` and goes through the
native selectors' permission gate (``apps.access.selectors.scope`` / ``apps.metrics.selectors.run_list``): a
project or run the user may not see answers exactly like one that does not exist."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Greatest
from django.http import Http404

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.metrics import selectors as metric_selectors
from apps.metrics.models import Run
from apps.mlflow_api.filters import INT, TIME, Attribute, FilterSpec, compile_filter, parse, parse_order
from apps.mlflow_api.models import Experiment, ExperimentTag
from apps.mlflow_api.protocol import (
    MlflowError,
    default_artifact_location,
    not_found,
    offset_token,
    parse_offset_token,
)
from apps.projects.models import Project
from maestro.db import server_binding

ACTIVE = "active"
DELETED = "deleted"
MAX_EXPERIMENTS_PER_PAGE = 50000  # MLflow's SEARCH_MAX_RESULTS_THRESHOLD
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


def state_of(project: Project) -> Experiment | None:
    """The project's MLflow state row, or None when MLflow never touched it (an active experiment, no tags)."""
    try:
        return project.mlflow_experiment
    except Experiment.DoesNotExist:
        return None


def lifecycle_of(project: Project) -> str:
    state = state_of(project)
    return state.lifecycle_stage if state else ACTIVE


def check_experiment_active(project: Project) -> None:
    """MLflow's refusal to write into a deleted experiment."""
    stage = lifecycle_of(project)
    if stage != ACTIVE:
        raise MlflowError(f"The experiment {project.pk} must be in the 'active' state. Current state is {stage}.")


def check_run_active(run: Run) -> None:
    """MLflow's refusal to write into a deleted run."""
    if run.lifecycle_stage != ACTIVE:
        raise MlflowError(
            f"The run {run.uuid.hex} must be in the 'active' state. Current state is {run.lifecycle_stage}."
        )


def _stage_q(stages: Sequence[str]) -> Q:
    q = Q(pk__in=[])
    if ACTIVE in stages:
        q |= Q(mlflow_experiment__isnull=True) | Q(mlflow_experiment__lifecycle_stage=ACTIVE)
    if DELETED in stages:
        q |= Q(mlflow_experiment__lifecycle_stage=DELETED)
    return q


def experiment_list(*, user: User, stages: Sequence[str] = (ACTIVE, DELETED)) -> QuerySet[Project]:
    """Projects ``user`` may see, as experiments in ``stages``, with their MLflow state joined."""
    projects = scope(Project.objects.all(), user=user).filter(_stage_q(stages))
    return projects.select_related("mlflow_experiment").order_by("id")


def default_project(*, user: User) -> Project | None:
    """The tenant's ``Default`` experiment (MLflow's experiment 0) if it exists and ``user`` may see it."""
    state = Experiment.objects.filter(is_default=True).values_list("project_id", flat=True).first()
    if state is None:
        return None
    return experiment_list(user=user).filter(pk=state).first()


def parse_experiment_id(raw: str) -> int:
    """MLflow's ``_parse_experiment_id``."""
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise MlflowError(f"Invalid experiment ID '{raw}'. Experiment ID must be a valid integer.") from None


def experiment_get(*, user: User, experiment_id: str, stages: Sequence[str] = (ACTIVE, DELETED)) -> Project:
    """One visible experiment by id ("0" is the Default experiment), or RESOURCE_DOES_NOT_EXIST."""
    if experiment_id == DEFAULT_EXPERIMENT_ID:
        project = default_project(user=user)
        if project is None or lifecycle_of(project) not in stages:
            raise not_found(f"No Experiment with id={DEFAULT_EXPERIMENT_ID} exists")
        return project
    pk = parse_experiment_id(experiment_id)
    project = experiment_list(user=user, stages=stages).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if project is None:
        raise not_found(f"No Experiment with id={pk} exists")
    return project


def experiment_get_by_name(*, user: User, name: str) -> Project | None:
    """The visible experiment named ``name`` (the oldest, should several projects share the name), or None."""
    return experiment_list(user=user).filter(name=name).first()


def tags_of(project_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    rows = ExperimentTag.objects.filter(project_id__in=list(project_ids)).order_by("project_id", "key")
    for project_id, key, value in rows.values_list("project_id", "key", "value"):
        found[project_id].append((key, value))
    return found


def artifact_locations(project_ids: Sequence[int]) -> dict[int, str]:
    """Artifact location of each experiment (for run artifact URIs): the stored one or MLflow's default form."""
    stored = dict(
        Experiment.objects.filter(project_id__in=list(project_ids))
        .exclude(artifact_location="")
        .values_list("project_id", "artifact_location")
    )
    return {pk: stored.get(pk) or default_artifact_location(pk) for pk in project_ids}


def stored_artifact_location() -> Subquery:
    """Per run, its experiment's stored artifact location (null when none), for ``run_search(annotations=…)``:
    a search page then needs no query of its own for it. ``artifact_location_of`` completes it."""
    return Subquery(Experiment.objects.filter(project_id=OuterRef("project_id")).values("artifact_location")[:1])


def artifact_location_of(run: Run) -> str:
    """The artifact location of the run's experiment, from the ``stored_artifact_location`` annotation."""
    return run.stored_artifact_location or default_artifact_location(run.project_id)


# ---------------------------------------------------------------------------------------------- experiment search

EXPERIMENT_FILTERS = FilterSpec(
    entity="experiments",
    attributes={
        "name": Attribute("name"),
        "creation_time": Attribute("created_at", TIME),
        "last_update_time": Attribute("_updated", TIME),
        "experiment_id": Attribute("pk", INT),
    },
    related={"tag": lambda key: ExperimentTag.objects.filter(project=OuterRef("pk"), key=key)},
)


@dataclass
class ExperimentPage:
    projects: list[Project]
    tags: dict[int, list[tuple[str, str]]]
    next_page_token: str | None


def experiment_search(
    *,
    user: User,
    stages: Sequence[str],
    max_results: int,
    filter_text: str,
    order_by: list[str],
    page_token: str | None,
) -> ExperimentPage:
    """MLflow's search-experiments: filter, order (default: newest first, then id), offset page tokens."""
    if not 1 <= max_results <= MAX_EXPERIMENTS_PER_PAGE:
        raise MlflowError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer "
            f"not greater than {MAX_EXPERIMENTS_PER_PAGE}."
        )
    projects = experiment_list(user=user, stages=stages).annotate(
        _updated=Greatest("updated_at", "mlflow_experiment__updated_at")
    )
    tree = parse(filter_text)
    items = parse_order(order_by)
    if tree is not None:
        projects = projects.filter(compile_filter(tree, EXPERIMENT_FILTERS))
    ordering = []
    for item in items:
        if item.entity.kind != "attribute" or item.entity.key not in EXPERIMENT_FILTERS.attributes:
            raise MlflowError(
                f"Invalid order_by clause '{item.entity}'. Use name, experiment_id, creation_time or last_update_time."
            )
        field = EXPERIMENT_FILTERS.attributes[item.entity.key].field
        ordering.append(F(field).desc() if item.descending else F(field).asc())
    if not ordering:
        ordering = [F("created_at").desc()]
    offset = parse_offset_token(page_token)
    page = list(projects.order_by(*ordering, "pk")[offset : offset + max_results + 1])
    token = offset_token(offset + max_results) if len(page) > max_results else None
    page = page[:max_results]
    return ExperimentPage(page, tags_of([p.pk for p in page]), token)


# ---------------------------------------------------------------------------------------------- runs

ALL_STAGES = (ACTIVE, DELETED)


def run_get(*, user: User, run_id: str) -> Run:
    """A visible run in any lifecycle stage by its 32-hex id (MLflow reads deleted runs too), project joined."""
    try:
        return metric_selectors.run_get_by_uuid(user=user, run_uuid=run_id, lifecycle_stages=ALL_STAGES)
    except Http404:
        raise not_found(f"Run with id={run_id} not found") from None


# What logging metrics reads of a run (MLflow's state check, the rename by the mlflow.runName tag, the audit event's
# name and subject) and of its project (the permission check: owner and visibility; any other field loads if read).
# The project's whole row cost ~0.2 ms more per call to compile and convert (bench/request_budget.py), and metric
# logging is the API's commonest call.
RUN_FOR_LOGGING = ("id", "uuid", "name", "status", "lifecycle_stage", "created_by", "project__owner",
                   "project__visibility")  # fmt: skip


def run_for_logging(*, user: User, run_id: str) -> Run:
    """A visible run in any lifecycle stage (the services refuse writes to deleted ones in MLflow's words), with
    only what metric logging reads loaded."""
    try:
        with server_binding():  # kept prepared: every logging call sends this query
            return metric_selectors.run_get_by_uuid(
                user=user, run_uuid=run_id, lifecycle_stages=ALL_STAGES, only=RUN_FOR_LOGGING
            )
    except Http404:
        raise not_found(f"Run with id={run_id} not found") from None


def run_with_data(run: Run) -> Run:
    metric_selectors.run_data_attach([run])
    return run


@dataclass
class History:
    """A metric series in MLflow's order (timestamp, step, value) as numpy columns."""

    timestamps: np.ndarray
    steps: np.ndarray
    values: np.ndarray


def metric_history(*, user: User, run: Run, key: str) -> History:
    """Every point of ``key`` in ``run``, ordered as MLflow's server orders them: timestamp, step, value."""
    series = metric_selectors.metric_history(user=user, run=run, key=key)
    timestamps, steps, values = series.timestamps, series.steps, series.values
    if len(timestamps) > 1 and not (np.diff(timestamps) >= 0).all():
        order = np.lexsort((values, steps, timestamps))
        timestamps, steps, values = timestamps[order], steps[order], values[order]
    return History(timestamps, steps, values)


def metric_history_sampled(*, user: User, run: Run, key: str, max_results: int, start_step, end_step) -> History:
    """MLflow's get-history-bulk-interval sampling for one run: the points (in step order, optionally only steps
    ``start_step``…``end_step``) are cut into ``max_results`` NTILE buckets and the first point of each bucket is
    kept; the last point is always kept (replacing the last sample when the page is full)."""
    series = metric_selectors.metric_history(user=user, run=run, key=key)
    steps, timestamps, values = series.steps, series.timestamps, series.values
    if start_step is not None:
        keep = (steps >= start_step) & (steps <= end_step)
        steps, timestamps, values = steps[keep], timestamps[keep], values[keep]
    total = len(steps)
    if total > max_results:
        # NTILE(n) over N rows: the first N % n buckets hold N // n + 1 rows, the rest N // n.
        size, extra = divmod(total, max_results)
        bucket_sizes = np.full(max_results, size)
        bucket_sizes[:extra] += 1
        picks = np.concatenate(([0], np.cumsum(bucket_sizes)[:-1]))
        if picks[-1] != total - 1:
            picks[-1] = total - 1
        steps, timestamps, values = steps[picks], timestamps[picks], values[picks]
    return History(timestamps, steps, values)
