"""Helpers for the recommendations tests: seeding committed tenants, cleanup, users with roles."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from datetime import date, timedelta

from django.db import connection
from django.test import override_settings

from apps.accounts.models import User
from apps.accounts.services import token_create, user_create
from apps.artifacts.models import Artifact
from apps.projects.models import Project, TeamMember
from apps.recommendations import caches
from apps.recommendations.demo import write
from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.models import EmbeddingIndexState

# Hand-written projects (not from the templates) and paraphrases of their specs written independently.
HANDWRITTEN = [
    (
        "Motor claims photo fraud triage",
        "vision",
        "Detect staged car accidents in the photos attached to motor insurance claims and route suspicious claims "
        "to the special investigations unit. Adjusters need a heatmap showing which image regions triggered the "
        "alert. The model must answer inside the claims portal within two seconds per claim.",
        "We want to catch fake vehicle crash pictures that come with auto insurance claims, send the dubious ones "
        "to fraud investigators and show the adjuster where in the picture the problem is; responses must arrive "
        "in under two seconds in the claims web application.",
    ),
    (
        "Wind turbine gearbox failure warning",
        "forecasting",
        "Predict gearbox failures of offshore wind turbines up to thirty days ahead from vibration spectra and oil "
        "temperature sensors, so that maintenance crews can be scheduled during calm weather windows.",
        "Give our offshore wind farm an early warning, about a month in advance, that a turbine's gearbox is going "
        "to break, using its vibration and lubricant temperature readings, so repair boats can go out when the sea "
        "is calm.",
    ),
    (
        "Supplier contract clause extraction",
        "nlp",
        "Extract termination, liability cap and auto-renewal clauses from scanned supplier contracts in PDF form "
        "and store them as structured fields for the procurement team to review before renewal dates.",
        "Pull out the cancellation terms, the maximum liability and the automatic renewal conditions from our "
        "vendors' scanned agreements so purchasing can check them before contracts roll over.",
    ),
]


def add_handwritten(owner=None) -> list[Project]:
    today = date.today()
    out = []
    for i, (name, problem_class, spec, _) in enumerate(HANDWRITTEN):
        project = Project.objects.create(
            name=name, slug=f"test-hand-{i}", spec=spec, problem_class=problem_class, complexity_score=55,
            status="completed", start_date=today - timedelta(days=200), target_end_date=today - timedelta(days=80),
            completion_date=today - timedelta(days=70), success_score=72.0, success_score_source="explicit",
            owner=owner, compute_cost=5000,
        )  # fmt: skip
        TeamMember.objects.create(
            project=project, display_name="Hand Written", role="ml_engineer", experience_level="senior",
            years_experience=7, contribution_hours=300,
        )  # fmt: skip
        out.append(project)
    return out


def cleanup(ctx) -> None:
    """Remove everything the recommendations tests committed in ``ctx``'s schema."""
    with ctx.context():
        write.reset()
        Project.objects.filter(slug__startswith="test-").delete()
        Artifact.objects.filter(name__startswith="test-").delete()
        EmbeddingIndexState.objects.all().delete()
        User.objects.filter(username__startswith="recs-").delete()
    caches.clear()
    connection.set_schema_to_public()


# For tests about something other than the skill gate on a few dozen demo projects (the gate would, rightly, refuse
# to serve their models): every trained model passes. The gate itself is tested in test_skill / test_validation,
# and test_quality runs the real gate on 360 projects.
LENIENT_GATE = {"RECOMMENDATIONS_SKILL_MARGIN": -1.0, "RECOMMENDATIONS_SKILL_ALPHA": 1.0}


def lenient_gate():
    return override_settings(**LENIENT_GATE)


@contextmanager
def seeded(ctx, *, projects: int, seed: int, train: bool = True, handwritten: bool = False, gate: bool = True):
    """Seed ``ctx`` (committed), yield the SeedResult, clean up afterwards. ``gate=False`` trains with
    ``LENIENT_GATE``."""
    try:
        with ctx.context(), nullcontext() if gate else lenient_gate():
            if handwritten:
                add_handwritten()
            result = seed_tenant(projects=projects, seed=seed, runs_per_project=1, metric_steps=4, train=train)
        connection.set_schema_to_public()
        yield result
    finally:
        cleanup(ctx)


@contextmanager
def celery_broker(url: str):
    """Point this process's Celery producer at another broker for a while (the worker keeps its own).

    Celery keeps its connection pools in private attributes, reset here the way Celery itself does after a fork."""
    from maestro.celery import app

    saved = app.conf.broker_url

    def reset():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url = url
    reset()
    try:
        yield app
    finally:
        app.conf.broker_url = saved
        reset()


def assert_documented(serializer, data, path: str = "$") -> None:
    """``data`` (a parsed JSON response) has exactly the fields the documenting serializer declares — no undocumented
    key, no missing required one — recursively, and every value validates against its field."""
    from rest_framework import serializers as drf

    if isinstance(serializer, type):
        serializer = serializer()
    fields = serializer.fields
    assert isinstance(data, dict), f"{path}: expected an object"
    undocumented = set(data) - set(fields)
    assert not undocumented, f"{path}: undocumented fields {sorted(undocumented)}"
    missing = {name for name, field in fields.items() if field.required and name not in data}
    assert not missing, f"{path}: missing fields {sorted(missing)}"
    for name, value in data.items():
        field = fields[name]
        if value is None:
            assert field.allow_null, f"{path}.{name}: null is not documented"
        elif isinstance(field, drf.ListSerializer):
            for i, item in enumerate(value):
                assert_documented(field.child, item, f"{path}.{name}[{i}]")
        elif isinstance(field, drf.Serializer):
            assert_documented(field, value, f"{path}.{name}")
        else:
            field.run_validation(value)


def user_with_token(ctx, username: str, role: str, scope: str = "write") -> tuple[User, str]:
    with ctx.context():
        user = user_create(username=username, role=role, email=f"{username}@example.test")
        return user, token_create(user=user, name="tests", scope=scope).plaintext


def admin_token(ctx) -> str:
    with ctx.context():
        return token_create(user=User.objects.get(username=ctx.admin_username), name="tests").plaintext
