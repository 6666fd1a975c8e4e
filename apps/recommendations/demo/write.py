"""Write generated demo projects into the current tenant schema with bulk ORM operations.

Seeding deliberately bypasses the projects / artifacts / metrics services: those validate and audit one object at a
time, which would make seeding thousands of projects with their teams, usages, runs and metric points take
minutes. The rows written are the same the services would write (including the denormalised
``ArtifactUsage.artifact`` and ``Artifact.usage_count``, ``LatestMetric`` and the ``MetricSeries`` point counts), and
the audit trail gets one event per bulk write (``apps.audit.services.audited_bulk_create`` / ``audited_delete``)
instead of one per row. Seeded objects are recognisable: project slugs start with ``seed-`` and seeded artifacts carry
the ``seed-demo`` tag, which is what ``--reset`` deletes.

Every seeded timestamp ends at "now": a lead opening the dashboard right after seeding must not see runs dated
tomorrow or artifact usage next year. Generated project dates are relative to today, so a run planned a few days
after an active project's start (or on the start day, later than the current hour) may not have happened yet: such
runs are left out (the project's first run is moved back to end just now), and usage of a planned project's
artifacts is dated now, not at its future start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify

from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.audit.services import audited_bulk_create, audited_delete
from apps.metrics.models import LatestMetric, MetricPoint, MetricSeries, Run, RunParam, RunTag
from apps.projects.models import Project, TeamMember
from apps.recommendations.demo.generate import (
    CATALOG,
    LOWER_IS_BETTER,
    PRIMARY_METRIC,
    DemoProject,
    loss_curve,
    metric_curve,
)
from apps.recommendations.models import ArtifactImpact, Prediction, SuccessModel, TrainingRun

SEED_SLUG_PREFIX = "seed-"
SEED_TAG = "seed-demo"
BATCH = 1000


def seeded_projects():
    return Project.objects.filter(slug__startswith=SEED_SLUG_PREFIX)


def reset() -> dict:
    """Delete seeded projects and artifacts and every model, prediction and training run of the engine (they were
    trained on them). Returns counts."""
    with transaction.atomic():
        counts = {
            "predictions": Prediction.objects.all().delete()[0],
            "training_runs": TrainingRun.objects.all().delete()[0],
            "models": audited_delete(SuccessModel.objects.all())[0],
            "impacts": ArtifactImpact.objects.all().delete()[0],
        }
        seeded = seeded_projects()
        audited_delete(ArtifactUsage.objects.filter(project__in=seeded))
        counts["projects"] = audited_delete(seeded)[0]
        artifacts = Artifact.objects.filter(tags__contains=[SEED_TAG])
        audited_delete(ArtifactUsage.objects.filter(artifact__in=artifacts))
        counts["artifacts"] = audited_delete(artifacts)[0]
        _refresh_usage_counts()
    return counts


def ensure_artifacts(owner) -> list[ArtifactVersion]:
    """The demo library (idempotent): one Artifact per catalog entry and its versions. Returns, per catalog index,
    the list of versions in catalog order."""
    versions: list[list[ArtifactVersion]] = []
    for item in CATALOG:
        artifact, _ = Artifact.objects.get_or_create(
            name=item.name,
            defaults={
                "type": item.type,
                "description": item.description,
                "tags": [SEED_TAG, item.kind],
                "owner": owner,
            },
        )
        found = []
        for v in item.versions:
            major, minor, patch = (int(x) for x in v.split("."))
            version, _ = ArtifactVersion.objects.get_or_create(
                artifact=artifact,
                version=v,
                defaults={
                    "major": major,
                    "minor": minor,
                    "patch": patch,
                    "changelog": f"{item.name} {v}",
                    "created_by": owner,
                },
            )
            found.append(version)
        versions.append(found)
    return versions


def _refresh_usage_counts() -> None:
    counts = dict(Artifact.objects.annotate(n=Count("usages__project", distinct=True)).values_list("pk", "n"))
    artifacts = [Artifact(pk=pk, usage_count=n) for pk, n in counts.items()]
    Artifact.objects.bulk_update(artifacts, ["usage_count"], batch_size=500)


def write(
    projects: list[DemoProject],
    *,
    seed: int,
    runs_per_project: int = 3,
    metric_steps: int = 40,
    start_index: int = 0,
    progress: Callable[[str], None] = lambda _msg: None,
    now: datetime | None = None,
) -> list[int]:
    """Bulk-insert ``projects`` with teams, artifact usages and runs; returns the new project ids. No timestamp
    written is later than ``now`` (default: the current time)."""
    now = now or timezone.now()
    owner = get_user_model().objects.order_by("pk").first()
    versions = ensure_artifacts(owner)
    rng = np.random.default_rng(seed + 1)
    ids: list[int] = []
    for start in range(0, len(projects), BATCH):
        chunk = projects[start : start + BATCH]
        with transaction.atomic():
            objs = [
                Project(
                    name=p.name,
                    slug=f"{SEED_SLUG_PREFIX}{start_index + p.index:06d}-{slugify(p.name)[:40]}",
                    spec=p.spec,
                    problem_class=p.problem_class,
                    complexity_score=p.complexity,
                    status=p.status,
                    start_date=p.start_date,
                    target_end_date=p.target_end_date,
                    completion_date=p.completion_date,
                    tags=p.tags,
                    owner=owner,
                    visibility="tenant",
                    model_performance=p.model_performance,
                    business_impact=p.business_impact,
                    compute_cost=p.compute_cost,
                    success_score=p.success,
                    success_score_source="explicit" if p.success is not None else "",
                )
                for p in chunk
            ]
            created = audited_bulk_create(Project, objs, batch_size=BATCH)
            members, usages = [], []
            for p, obj in zip(chunk, created, strict=True):
                members += [
                    TeamMember(
                        project=obj,
                        display_name=m.display_name,
                        role=m.role,
                        experience_level=m.level,
                        years_experience=m.years,
                        contribution_hours=m.hours,
                        performance_score=m.performance,
                    )
                    for m in p.members
                ]
                used_at = min(datetime.combine(p.start_date or obj.created_at.date(), time(9), tzinfo=UTC), now)
                for a_index, v_index in p.artifacts:
                    version = versions[a_index][v_index]
                    usages.append(
                        ArtifactUsage(
                            project=obj,
                            artifact_version=version,
                            artifact_id=version.artifact_id,
                            used_at=used_at,
                            used_by=owner,
                            context="seed_demo",
                        )
                    )
            audited_bulk_create(TeamMember, members, batch_size=5000)
            audited_bulk_create(ArtifactUsage, usages, batch_size=5000)
            _write_experiment_runs(rng, chunk, created, owner, runs_per_project, metric_steps, now)
        ids += [o.pk for o in created]
        progress(f"  projects {start + len(chunk)}/{len(projects)}")
    _refresh_usage_counts()
    return ids


def _write_experiment_runs(rng, chunk, created, owner, runs_per_project: int, steps: int, now: datetime) -> None:
    if runs_per_project <= 0 or steps <= 0:
        return
    runs, plans = [], []
    for p, obj in zip(chunk, created, strict=True):
        if p.status not in ("completed", "active") or p.start_date is None:
            continue
        final_perf = p.model_performance if p.model_performance is not None else float(rng.uniform(0.55, 0.8))
        metric = PRIMARY_METRIC[p.problem_class]
        for r in range(int(rng.integers(1, runs_per_project + 1))):
            started = datetime.combine(p.start_date, time(10), tzinfo=UTC) + timedelta(days=3 * r)
            is_last_active = p.status == "active" and r == 0
            # drawn whether or not the run is kept, so the rest of the seeded data stays the same
            length = timedelta(hours=float(rng.uniform(1, 12)))
            quality = final_perf * float(rng.uniform(0.9, 1.0))
            lasts = max(timedelta(0) if is_last_active else length, timedelta(minutes=steps - 1))
            if started + lasts > now:
                if r > 0:
                    continue  # not run yet
                started = now - lasts - timedelta(minutes=1)
            runs.append(
                Run(
                    project=obj,
                    name=f"{metric.removeprefix('val_')}-trial-{r + 1}",
                    status="running" if is_last_active else "finished",
                    start_time=started,
                    end_time=None if is_last_active else started + length,
                    created_by=owner,
                )
            )
            final = (1.2 - quality) if metric in LOWER_IS_BETTER else quality
            plans.append((metric, final, started))
    audited_bulk_create(Run, runs, batch_size=2000)
    points, latest, series, params, tags = [], [], [], [], []
    for run, (metric, final, started) in zip(runs, plans, strict=True):
        base_ms = int(started.timestamp() * 1000)
        curves = {
            metric: metric_curve(rng, final=final, steps=steps, lower_is_better=metric in LOWER_IS_BETTER),
            "train_loss": loss_curve(rng, steps=steps),
        }
        for key, values in curves.items():
            for step, value in enumerate(values):
                points.append(
                    MetricPoint(run=run, key=key, value=float(value), step=step, timestamp=base_ms + step * 60_000)
                )
            latest.append(
                LatestMetric(
                    run=run, key=key, value=float(values[-1]), step=steps - 1, timestamp=base_ms + (steps - 1) * 60_000
                )
            )
            series.append(MetricSeries(run=run, key=key, points=len(values)))
        params += [
            RunParam(run=run, key="learning_rate", value=f"{float(rng.choice([0.1, 0.05, 0.01, 0.003])):g}"),
            RunParam(run=run, key="batch_size", value=str(int(rng.choice([32, 64, 128, 256])))),
        ]
        tags.append(RunTag(run=run, key="source", value="seed_demo"))
    MetricPoint.objects.bulk_create(points, batch_size=5000)
    LatestMetric.objects.bulk_create(latest, batch_size=5000)
    MetricSeries.objects.bulk_create(series, batch_size=5000)  # the point counts history reads rely on
    RunParam.objects.bulk_create(params, batch_size=5000)
    RunTag.objects.bulk_create(tags, batch_size=5000)
