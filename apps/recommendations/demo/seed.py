"""Seed the current tenant with demo projects, embed them and train (what ``seed_demo`` runs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from apps.recommendations import caches
from apps.recommendations.choices import RunKind, RunReason
from apps.recommendations.demo import generate, write
from apps.recommendations.models import SuccessModel
from apps.recommendations.services.embeddings import embeddings_compute
from apps.recommendations.services.runs import run_execute, run_request


@dataclass
class SeedResult:
    created: int = 0
    existing: int = 0
    reset: dict = field(default_factory=dict)
    embeddings: dict = field(default_factory=dict)
    training: object = None
    impact: object = None


def seed_tenant(
    *,
    projects: int,
    seed: int = 42,
    reset: bool = False,
    runs_per_project: int = 3,
    metric_steps: int = 40,
    train: bool = True,
    progress: Callable[[str], None] = lambda _msg: None,
) -> SeedResult:
    """Idempotent: without ``reset``, an already seeded tenant gets no new projects (only missing embeddings, and a
    model if it has none). With ``reset``, seeded data and every model/prediction are deleted first."""
    result = SeedResult()
    if reset:
        result.reset = write.reset()
        caches.clear()
        progress(f"reset: deleted {result.reset}")
    result.existing = write.seeded_projects().count()
    if result.existing:
        progress(f"{result.existing} seeded projects already exist; not adding more (use --reset to replace them)")
    else:
        progress(f"generating {projects} projects (seed {seed})")
        now = timezone.now()
        generated = generate.generate(projects, seed=seed, today=timezone.localdate(now))
        ids = write.write(
            generated,
            seed=seed,
            runs_per_project=runs_per_project,
            metric_steps=metric_steps,
            progress=progress,
            now=now,
        )
        result.created = len(ids)
    progress("embedding specs (all-MiniLM-L6-v2)")
    result.embeddings = embeddings_compute(progress=lambda done, total: progress(f"  embedded {done}/{total}"))
    if train and (result.created or not SuccessModel.objects.exists()):
        progress("training the success model (K-fold CV, point + quantile boosters)")
        training_run = run_request(kind=RunKind.TRAIN, reason=RunReason.SEED, dispatch=False)
        result.training = run_execute(run_id=training_run.pk, inline_follow_up=True)
    return result
