"""The permission gate (apps.access.selectors): visibility, levels, decisions, grants and bounded queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.access import policy
from apps.access.selectors import Decision, Forbidden, decide, level_for, require, scope, visible
from apps.access.services import _content_type, _permissions, grant_creator, grant_remove, grant_set
from apps.accounts.services import user_create
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.audit.models import AuditEvent
from apps.metrics.models import LatestMetric, MetricPoint, Run
from apps.projects.models import Project, TeamMember
from tests.support.access import make_artifact, make_project, make_run_with_metric

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tenant_a):
    with tenant_a.context():
        yield {
            role: user_create(username=f"{role}-x", email=f"{role}@alpha.test", role=role)
            for role in ("owner", "admin", "lead", "member", "viewer")
        } | {"service": user_create(username="svc-x", is_service_account=True)}


def _ids(qs):
    return set(qs.values_list("pk", flat=True))


def test_private_project_is_invisible_everywhere_to_non_members(tenant_a, people):
    member, outsider, admin = people["member"], people["viewer"], people["admin"]
    with tenant_a.context():
        private = make_project("Secret", visibility="private", team=[member])
        public = make_project("Open", visibility="tenant")
        runs = {p.pk: make_run_with_metric(p) for p in (private, public)}
        artifact, version = make_artifact("shared-data")
        usages = {
            p.pk: ArtifactUsage.objects.create(project=p, artifact=artifact, artifact_version=version)
            for p in (private, public)
        }
        LatestMetric.objects.create(run=runs[private.pk], key="loss", value=0.5, step=1, timestamp=1)
        querysets = {
            "projects": Project.objects.all(),
            "team_members": TeamMember.objects.all(),
            "runs": Run.objects.all(),
            "metrics": MetricPoint.objects.all(),
            "latest": LatestMetric.objects.all(),
            "usages": ArtifactUsage.objects.all(),
        }
        for name, qs in querysets.items():
            assert private.pk not in {_project_of(o) for o in scope(qs, user=outsider)}, name
            assert private.pk in {_project_of(o) for o in scope(qs, user=member)}, name
            assert private.pk in {_project_of(o) for o in scope(qs, user=admin)}, name
        assert _ids(scope(Project.objects.all(), user=outsider)) == {public.pk}
        assert _ids(scope(ArtifactUsage.objects.all(), user=outsider)) == {usages[public.pk].pk}
        # Search through the gate finds nothing either.
        assert not scope(Project.objects.filter(name__icontains="secret"), user=outsider).exists()
        assert decide(outsider, "projects", policy.READ, private) is Decision.HIDDEN
        assert decide(outsider, "runs", policy.READ, runs[private.pk]) is Decision.HIDDEN
        assert decide(outsider, "usages", policy.READ, usages[private.pk]) is Decision.HIDDEN
        assert not visible(outsider, runs[private.pk].metric_points.first())


def _data_queries(queries):
    """Captured queries without django-tenants' per-cursor ``SET search_path``."""
    return [q for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]


def _project_of(obj):
    if isinstance(obj, Project):
        return obj.pk
    if isinstance(obj, (MetricPoint, LatestMetric)):
        return obj.run.project_id
    return obj.project_id


def test_owner_team_grants_and_groups_give_levels(tenant_a, people):
    lead, member, viewer = people["lead"], people["member"], people["viewer"]
    with tenant_a.context():
        project = make_project("Levels", owner=lead, team=[member])
        assert level_for(lead, project) == policy.MANAGE
        assert level_for(member, project) == policy.CHANGE
        assert level_for(viewer, project) is None
        assert level_for(people["admin"], project) == policy.MANAGE
        group = Group.objects.create(name="reviewers")
        viewer.groups.add(group)
        grant_set(actor=lead, obj=project, level=policy.VIEW, group=group)
        assert level_for(viewer, project) == policy.VIEW
        grant_set(actor=lead, obj=project, level=policy.MANAGE, user=viewer)
        assert level_for(viewer, project) == policy.MANAGE
        # Guardian's own checks agree (a manage grant stores view + change + manage).
        assert viewer.has_perm("projects.view_project", project)
        assert viewer.has_perm("projects.change_project", project)
        grant_remove(actor=lead, obj=project, user=viewer)
        assert level_for(viewer, project) == policy.VIEW  # still through the group
        project.visibility = "tenant"
        project.save()
        assert level_for(people["service"], project) == policy.VIEW


def test_decisions_separate_hidden_from_forbidden(tenant_a, people):
    lead, member, viewer = people["lead"], people["member"], people["viewer"]
    with tenant_a.context():
        project = make_project("Decide", owner=lead, visibility="tenant")
        private = make_project("Hidden", owner=lead)
        assert decide(member, "projects", policy.UPDATE, project) is Decision.FORBIDDEN
        assert decide(member, "projects", policy.UPDATE, private) is Decision.HIDDEN
        assert decide(viewer, "projects", policy.UPDATE, project) is Decision.FORBIDDEN
        assert decide(lead, "projects", policy.DELETE, project) is Decision.ALLOWED
        assert decide(member, "runs", policy.CREATE, project) is Decision.FORBIDDEN
        grant_set(actor=lead, obj=project, level=policy.CHANGE, user=member)
        assert decide(member, "runs", policy.CREATE, project) is Decision.ALLOWED
        assert decide(member, "projects", policy.DELETE, project) is Decision.FORBIDDEN
        assert decide(people["service"], "runs", policy.CREATE, project) is Decision.FORBIDDEN
        grant_set(actor=lead, obj=project, level=policy.CHANGE, user=people["service"])
        assert decide(people["service"], "runs", policy.CREATE, project) is Decision.ALLOWED
        with pytest.raises(Http404):
            require(member, "projects", policy.UPDATE, private)
        before = AuditEvent.objects.filter(action="access.denied").count()
        with pytest.raises(Forbidden, match="manage"):
            require(member, "projects", policy.DELETE, project)
        assert AuditEvent.objects.filter(action="access.denied").count() == before + 1


def test_artifacts_are_open_to_read_and_guarded_to_change(tenant_a, people):
    lead, member = people["lead"], people["member"]
    with tenant_a.context():
        artifact, version = make_artifact("lib-item", owner=lead)
        assert _ids(scope(Artifact.objects.all(), user=people["viewer"])) == {artifact.pk}
        assert _ids(scope(ArtifactVersion.objects.all(), user=people["service"])) == {version.pk}
        assert decide(member, "artifacts", policy.UPDATE, artifact) is Decision.FORBIDDEN
        assert decide(member, "artifact_versions", policy.CREATE, artifact) is Decision.FORBIDDEN
        grant_set(actor=lead, obj=artifact, level=policy.CHANGE, user=member)
        assert decide(member, "artifacts", policy.UPDATE, artifact) is Decision.ALLOWED
        assert decide(member, "artifact_versions", policy.UPDATE, version) is Decision.ALLOWED
        assert _ids(scope(Artifact.objects.all(), user=member, action=policy.UPDATE)) == {artifact.pk}
        assert _ids(scope(Artifact.objects.all(), user=people["viewer"], action=policy.UPDATE)) == set()


def test_creator_gets_manage_and_grants_die_with_the_object(tenant_a, people):
    member = people["member"]
    with tenant_a.context():
        project = make_project("Mine")
        assert level_for(member, project) is None
        grant_creator(user=member, obj=project)
        assert level_for(member, project) == policy.MANAGE
        event = AuditEvent.objects.filter(action="grant.changed", object_id=str(project.pk)).get()
        assert event.changes == {"level": {"before": None, "after": "manage"}}
        assert event.extra["reason"] == "creator" and event.display_extra["principal"] == member.username
        assert "principal" not in event.extra  # a user's name is kept in the erasable detail only
        pk = project.pk
        project.delete()
        assert not UserObjectPermission.objects.filter(object_pk=str(pk)).exists()
        # A new project that happened to reuse the id would not inherit the grant.
        again = Project.objects.create(pk=pk, name="Reused", slug="reused", visibility="private")
        assert level_for(member, again) is None


def test_grant_service_rules(tenant_a, people):
    lead, member = people["lead"], people["member"]
    with tenant_a.context():
        project = make_project("Rules", owner=lead, visibility="tenant")
        with pytest.raises(Forbidden):
            grant_set(actor=member, obj=project, level=policy.VIEW, user=people["viewer"])
        theirs = make_project("Theirs", owner=people["admin"])
        with pytest.raises(Http404):
            grant_set(actor=lead, obj=theirs, level=policy.VIEW, user=member)
        with pytest.raises(Exception, match="level"):
            grant_set(actor=lead, obj=project, level="owner", user=member)
        grant_set(actor=lead, obj=project, level=policy.CHANGE, user=member)
        grant_set(actor=lead, obj=project, level=policy.CHANGE, user=member)  # no change: no second event
        events = AuditEvent.objects.filter(action="grant.changed", object_id=str(project.pk))
        assert events.count() == 1
        assert grant_remove(actor=lead, obj=project, user=member) == policy.CHANGE
        assert grant_remove(actor=lead, obj=project, user=member) is None
        assert events.count() == 2


def test_list_of_1000_objects_with_10000_permission_rows_is_one_query(tenant_a, people):
    subject = people["member"]
    with tenant_a.context():
        others = [user_create(username=f"u{i}", role="member") for i in range(10)]
        group = Group.objects.create(name="big-group")
        subject.groups.add(group)
        projects = Project.objects.bulk_create(
            Project(name=f"P{i}", slug=f"p-{i}", visibility="tenant" if i % 10 == 0 else "private",
                    owner=subject if i % 97 == 0 else None)
            for i in range(1000)
        )  # fmt: skip
        TeamMember.objects.bulk_create(
            TeamMember(project=p, user=subject, display_name="s", role="ml_engineer", experience_level="mid")
            for p in projects[1:1000:50]
        )
        ct = _content_type(projects[0])
        perms = _permissions(projects[0], ct)
        rows = []
        for user in others:  # 10 × 1000 rows for other users
            rows += [UserObjectPermission(user=user, permission=perms["view"], content_type=ct, object_pk=str(p.pk))
                     for p in projects]  # fmt: skip
        rows += [UserObjectPermission(user=subject, permission=perms["view"], content_type=ct, object_pk=str(p.pk))
                 for p in projects[3::3]]  # fmt: skip
        UserObjectPermission.objects.bulk_create(rows)
        GroupObjectPermission.objects.bulk_create(
            GroupObjectPermission(group=group, permission=perms["view"], content_type=ct, object_pk=str(p.pk))
            for p in projects[2::4]
        )
        total = UserObjectPermission.objects.count() + GroupObjectPermission.objects.count()
        assert total >= 10_000
        assert Project.objects.count() == 1000

        expected = {
            p.pk for i, p in enumerate(projects)
            if i % 10 == 0 or i % 97 == 0 or i % 50 == 1 or (i >= 3 and i % 3 == 0) or (i >= 2 and i % 4 == 2)
        }  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            listed = list(scope(Project.objects.all(), user=subject).order_by("-id"))
        assert len(_data_queries(queries)) == 1
        assert {p.pk for p in listed} == expected
        assert 0 < len(expected) < 1000
        with CaptureQueriesContext(connection) as queries:
            assert len(list(scope(Project.objects.all(), user=people["admin"]))) == 1000
        assert len(_data_queries(queries)) == 1


def test_single_object_level_agrees_with_the_list_filter(tenant_a, people):
    """level_for (one loaded object) and level_q (SQL for lists) implement the same rules."""
    from apps.access.selectors import level_q

    lead, member = people["lead"], people["member"]
    with tenant_a.context():
        group = Group.objects.create(name="agree")
        member.groups.add(group)
        cases = [
            make_project("A1", visibility="tenant"),
            make_project("A2"),
            make_project("A3", owner=member),
            make_project("A4", team=[member]),
            make_project("A5", visibility="tenant", team=[member]),
            make_project("A6", owner=lead),
            make_project("A7", owner=lead),
            make_project("A8", owner=lead, visibility="tenant"),
        ]
        grant_set(actor=lead, obj=cases[5], level=policy.VIEW, user=member)
        grant_set(actor=lead, obj=cases[6], level=policy.MANAGE, group=group)
        grant_set(actor=lead, obj=cases[7], level=policy.CHANGE, user=member)
        artifacts = [make_artifact("agree-1")[0], make_artifact("agree-2", owner=member)[0]]
        for obj in [*cases, *artifacts]:
            kind = "project" if isinstance(obj, Project) else "artifact"
            by_sql = None
            for level in policy.LEVELS:
                if type(obj).objects.filter(level_q(kind, "", member, level), pk=obj.pk).exists():
                    by_sql = level
            assert level_for(member, obj) == by_sql, obj
        assert [level_for(member, p) for p in cases] == [
            "view", None, "manage", "change", "change", "view", "manage", "change"
        ]  # fmt: skip
