"""The API's filter backend builds only the filters a request names (maestro.api.filters._narrowed): the result and
the errors must be those of the whole filterset."""

import pytest

from apps.projects.filtersets import ProjectFilterSet
from maestro.api.filters import _named_filters, _narrowed
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_parameters_name_their_filters_including_widget_suffixes():
    named = _named_filters({"start_date_after": "2026-01-01", "tags_all": "a", "page": "2", "ordering": "name"},
                           ProjectFilterSet)  # fmt: skip
    assert named == {"start_date", "tags", "tags_all"}  # tags_all also names tags, which then filters nothing
    assert _named_filters({"page": "2", "search": "x"}, ProjectFilterSet) == frozenset()


def test_a_narrowed_filterset_has_only_the_named_filters_and_is_built_once():
    narrowed = _narrowed(ProjectFilterSet, frozenset({"status", "complexity_min"}))
    assert list(narrowed.base_filters) == ["status", "complexity_min"]
    assert issubclass(narrowed, ProjectFilterSet) and narrowed.__name__ == "ProjectFilterSet"
    assert _narrowed(ProjectFilterSet, frozenset({"complexity_min", "status"})) is narrowed
    assert len(ProjectFilterSet.base_filters) > 2, "narrowing must not change the filterset itself"
    assert _narrowed(ProjectFilterSet, frozenset(ProjectFilterSet.base_filters)) is ProjectFilterSet


def test_narrowed_filters_select_and_reject_as_the_whole_filterset_does(admin, tenant_a):
    with tenant_a.context():
        ProjectFactory(name="Low", complexity_score=10, status="active", tags=["a"])
        ProjectFactory(name="High", complexity_score=90, status="active", tags=["a", "b"])
        ProjectFactory(name="Planned", complexity_score=95, status="planned", tags=["b"])

    def names(query):
        response = admin.api.get(f"/api/v1/projects?ordering=name&{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["results"]]

    assert names("status=active&complexity_min=50") == ["High"]
    assert names("tags_all=a,b") == ["High"]
    assert names("tags=b&complexity_max=92") == ["High"]
    assert names("complexity_min=50") == ["High", "Planned"]
    bad = admin.api.get("/api/v1/projects?status=active&complexity_min=lots&start_date_after=soon")
    assert bad.status_code == 400
    fields = {error["field"] for error in bad.json()["errors"]}
    assert fields == {"complexity_min", "start_date"}
