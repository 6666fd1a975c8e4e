"""The project list's query is built once per process and its subqueries compile once (maestro.db.CompiledOnceMixin):
the SQL must stay right wherever the queryset goes, and no tenant's rows may leak into another's list."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.test.utils import CaptureQueriesContext

from apps.projects import selectors
from apps.projects.models import Project, TeamMember
from maestro.db import CompiledOnceArraySubquery
from tests.projects.factories import ProjectFactory, TeamMemberFactory

pytestmark = pytest.mark.django_db


def _admin(ctx):
    return get_user_model().objects.get(username=ctx.admin_username)


def _compilations(monkeypatch) -> list:
    """Count the inner compilations of the list's JSON-array subqueries."""
    calls = []
    original = CompiledOnceArraySubquery.__mro__[2].as_sql  # ArraySubquery.as_sql, below the mixin

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledOnceArraySubquery.__mro__[2], "as_sql", counting)
    return calls


def test_the_subqueries_compile_once_and_later_lists_reuse_the_same_sql(tenant_a, monkeypatch):
    with tenant_a.context():
        user = _admin(tenant_a)
        project = ProjectFactory(name="Churn")
        TeamMemberFactory(project=project, display_name="Ada")
        selectors._base_query.cache_clear()
        calls = _compilations(monkeypatch)
        first = selectors.project_list(user=user, owner=False)
        with CaptureQueriesContext(connection) as first_sql:
            rows = list(first)
        assert len(calls) == 2  # team and usages, compiled on first use
        with CaptureQueriesContext(connection) as again_sql:
            again = list(selectors.project_list(user=user, owner=False))
        filtered = list(selectors.project_list(user=user, owner=False).filter(status=project.status))
        assert len(calls) == 2, "a later list compiled the subqueries again"
    assert [row.name for row in rows] == [row.name for row in again] == [row.name for row in filtered] == ["Churn"]
    assert [member["display_name"] for member in filtered[0].team_json] == ["Ada"]
    assert first_sql.captured_queries[-1]["sql"] == again_sql.captured_queries[-1]["sql"]


def test_as_a_subquery_elsewhere_the_aliases_are_relabelled_and_the_sql_is_compiled_afresh(tenant_a, monkeypatch):
    with tenant_a.context():
        user = _admin(tenant_a)
        alpha, beta = ProjectFactory(name="Alpha"), ProjectFactory(name="Beta")
        TeamMemberFactory(project=alpha, display_name="Ada")
        TeamMemberFactory(project=beta, display_name="Grace")
        selectors._base_query.cache_clear()
        list(selectors.project_list(user=user, owner=False))  # fills the memo with the top-level aliases
        calls = _compilations(monkeypatch)
        # The list's team array of the *same* project, read through a correlated subquery of another query: the
        # inner aliases are bumped (U → V), so a stale memo would read the outer table's row or fail.
        teams = selectors.project_list(user=user, owner=False).filter(pk=OuterRef("project_id")).values("team_json")
        members = TeamMember.objects.annotate(project_team=Subquery(teams[:1])).order_by("display_name")
        rows = [(member.display_name, [m["display_name"] for m in member.project_team]) for member in members]
        ids = Project.objects.filter(pk__in=selectors.project_list(user=user, owner=False).values("pk"))
        assert sorted(ids.values_list("name", flat=True)) == ["Alpha", "Beta"]
    assert rows == [("Ada", ["Ada"]), ("Grace", ["Grace"])]
    assert calls, "the relabelled subquery reused SQL compiled for other aliases"


def test_a_copy_never_carries_the_memo(tenant_a):
    with tenant_a.context():
        selectors._base_query.cache_clear()
        list(selectors.project_list(user=_admin(tenant_a), owner=False))
        expression = selectors._base_query(False).annotations["team_json"]
        assert expression.__dict__["_compiled_once"][0] is expression.query
        copied = expression.copy()
        assert copied.query is not expression.query
        assert copied.__dict__.get("_compiled_once", (None,))[0] is not copied.query


def test_tenants_share_the_compiled_sql_but_never_the_rows(tenant_a, tenant_b):
    with tenant_a.context():
        project = ProjectFactory(name="Only in A")
        TeamMemberFactory(project=project, display_name="A's member")
        a_rows = [(p.name, [m["display_name"] for m in p.team_json]) for p in selectors.project_list(
            user=_admin(tenant_a), owner=False)]  # fmt: skip
    with tenant_b.context():
        project = ProjectFactory(name="Only in B")
        TeamMemberFactory(project=project, display_name="B's member")
        b_rows = [(p.name, [m["display_name"] for m in p.team_json]) for p in selectors.project_list(
            user=_admin(tenant_b), owner=False)]  # fmt: skip
    assert a_rows == [("Only in A", ["A's member"])]
    assert b_rows == [("Only in B", ["B's member"])]


def test_the_cached_query_never_holds_results(tenant_a):
    with tenant_a.context():
        ProjectFactory(name="Kept out of the cache")
        listed = selectors.project_list(user=_admin(tenant_a))
        assert [p.name for p in listed] == ["Kept out of the cache"]
    cached = selectors._base_query(True)
    assert not hasattr(cached, "_result_cache")
    assert listed.query is not cached
