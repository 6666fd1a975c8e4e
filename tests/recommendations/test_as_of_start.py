"""Training rows hold only what was known when the project was proposed: no delivery data and no artifact usage
dated after the project's start date (``apps.recommendations.dataset``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.projects.models import Project, TeamMember
from apps.recommendations import dataset
from tests.integrations.factories import make_integration
from tests.integrations.payloads import deliver_github, gh_commit, gh_push

START = date.today() - timedelta(days=120)


def _project(slug: str, start: date | None) -> Project:
    project = Project.objects.create(
        name=slug, slug=slug, spec="Forecast demand.", problem_class="forecasting", status="completed",
        start_date=start, completion_date=date.today() - timedelta(days=5), success_score=70.0,
        success_score_source="explicit",
    )  # fmt: skip
    TeamMember.objects.create(project=project, display_name="A", role="ml_engineer", experience_level="mid")
    return project


def _use(project: Project, name: str, at: datetime) -> None:
    artifact = Artifact.objects.create(name=name, type="dataset")
    version = ArtifactVersion.objects.create(artifact=artifact, version="1.0.0", major=1)
    ArtifactUsage.objects.create(project=project, artifact=artifact, artifact_version=version, used_at=at)


def _commits(ctx, project: Project, days: list[int]) -> None:
    """Commits ``days`` days after the project's start (negative: before it)."""
    start = datetime.combine(START, time(12), tzinfo=UTC)
    with ctx.context():
        integration, secret = make_integration(project, created_at=start - timedelta(days=90))
    commits = [gh_commit(f"c{project.pk}-{d}", at=start + timedelta(days=d), added=[f"f{d}.py"]) for d in days]
    assert deliver_github(ctx.host, integration, secret, "push", gh_push(commits)).status_code in (200, 202)


@pytest.mark.django_db
def test_no_training_feature_uses_information_dated_after_the_start(tenant_a):
    with tenant_a.context():
        tracked = _project("test-asof-tracked", START)
        Project.objects.filter(pk=tracked.pk).update(created_at=datetime.combine(START, time(8), tzinfo=UTC) -
                                                     timedelta(days=10))  # fmt: skip
        _use(tracked, "test-asof-planned", datetime.combine(START, time(9), tzinfo=UTC))
        _use(tracked, "test-asof-adopted-later", datetime.combine(START + timedelta(days=30), time(9), tzinfo=UTC))
        only_later = _project("test-asof-later-commits", START)
        before_and_after = _project("test-asof-both", START)
        before_only = _project("test-asof-before-only", START)
        undated = _project("test-asof-undated", None)
    _commits(tenant_a, only_later, [5, 10, 20, 40])  # all after the start
    _commits(tenant_a, before_and_after, [-20, -10, 5, 10])
    _commits(tenant_a, before_only, [-20, -10])
    _commits(tenant_a, undated, [-20, 5])
    with tenant_a.context():
        ts = dataset.training_set()
        inputs = dict(zip([int(i) for i in ts.project_ids], ts.inputs, strict=True))
        names = dict(Artifact.objects.values_list("pk", "name"))
        assert [names[a] for a, _ in inputs[tracked.pk].artifacts] == ["test-asof-planned"]
        later = dict(inputs[only_later.pk].delivery)  # its commits all happened after the start: none are seen
        assert later["delivery_commits_per_week"] == 0 and later["delivery_active_contributors"] == 0
        assert inputs[undated.pk].delivery == ()  # no start date: it cannot be placed in time
        before = dict(inputs[before_and_after.pk].delivery)
        assert before.get("delivery_commits_per_week", 0) > 0
        assert before == dict(inputs[before_only.pk].delivery)  # as if the later commits had never happened
        # a project recorded after it had started (a historical record): its usages recorded that day count
        late_record = _project("test-asof-late-record", START)
        _use(late_record, "test-asof-entered-with-record", datetime.now(UTC))
        used = dataset.project_inputs([late_record.pk])[late_record.pk].artifacts
        assert [Artifact.objects.get(pk=a).name for a, _ in used] == ["test-asof-entered-with-record"]
