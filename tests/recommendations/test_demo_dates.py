"""Issue 22 item 2: demo data never comes from the future. A lead who seeds on a given day must not find runs dated
the next days, "0 minutes ago" runs or artifact usage next year: every seeded timestamp ends at "now"."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.artifacts.models import ArtifactUsage
from apps.audit.models import AuditEvent
from apps.metrics.models import LatestMetric, MetricPoint, Run
from apps.projects.models import Project
from apps.recommendations.demo import generate, write

pytestmark = pytest.mark.django_db


def _edge_cases(today):
    """Generated projects, with the cases that used to land in the future made certain: active projects that
    started yesterday and today (their later runs were planned 3 and 6 days on) and a planned project starting in
    a month that uses artifacts."""
    projects = generate.generate(40, seed=7, today=today)
    active = [p for p in projects if p.status == "active"][:2]
    planned = next(p for p in projects if p.status == "planned" and p.artifacts)
    for p, days in zip(active, (1, 0), strict=True):
        projects[p.index] = dataclasses.replace(p, start_date=today - timedelta(days=days))
    projects[planned.index] = dataclasses.replace(planned, start_date=today + timedelta(days=30))
    return projects, [p.name for p in active]


def test_seeded_runs_metrics_usage_and_audit_events_end_at_now(tenant_a):
    with tenant_a.context():
        today = timezone.localdate()
        projects, active_names = _edge_cases(today)
        assert all(p.index == i for i, p in enumerate(projects))
        write.write(projects, seed=7, runs_per_project=3, metric_steps=5)
        now = timezone.now()
        seeded = write.seeded_projects()
        runs = Run.objects.filter(project__in=seeded)
        assert runs.filter(project__name__in=active_names).exists()  # the recent projects still have a first run
        assert not runs.filter(start_time__gt=now).exists()
        assert not runs.filter(end_time__gt=now).exists()
        now_ms = int(now.timestamp() * 1000)
        assert not MetricPoint.objects.filter(run__in=runs, timestamp__gt=now_ms).exists()
        assert not LatestMetric.objects.filter(run__in=runs, timestamp__gt=now_ms).exists()
        assert not ArtifactUsage.objects.filter(project__in=seeded, used_at__gt=now).exists()
        assert ArtifactUsage.objects.filter(project__in=seeded, project__status="planned").exists()
        assert not seeded.filter(completion_date__gt=today).exists()
        assert not Project.objects.filter(created_at__gt=now).exists()
        assert not AuditEvent.objects.filter(occurred_at__gt=now).exists()
