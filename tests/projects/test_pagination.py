"""The project list's pagination: exact counts up to a cap, estimates beyond, late row lookups on deep pages."""

import pytest
from django.db import connection

from apps.projects.models import Project
from maestro.api.pagination import CappedCountPageNumberPagination
from tests.projects.factories import ProjectFactory
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(tenant_a):
    with tenant_a.context():
        for i in range(23):
            ProjectFactory(name=f"P{i:02d}", complexity_score=i % 5 + 1, status="active" if i % 2 else "planned")
        # The estimates below come from the planner: give it this table's statistics, not whatever an autovacuum
        # left from earlier tests (a stale row count made the filtered estimate exceed the cap now and then).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Project._meta.db_table}")
    return admin_actor(tenant_a)


def _walk(admin, url):
    names, pages = [], 0
    while url:
        body = admin.api.get(url).json()
        names += [item["name"] for item in body["results"]]
        url, pages = body["next"], pages + 1
    return names, pages, body


def test_counts_are_exact_under_the_cap(admin):
    body = admin.api.get("/api/v1/projects?page_size=5").json()
    assert (body["count"], body["count_is_estimate"]) == (23, False)


def test_over_the_cap_the_count_is_an_estimate_and_every_page_is_still_reachable(admin, monkeypatch):
    monkeypatch.setattr(CappedCountPageNumberPagination, "count_cap", 10)
    first = admin.api.get("/api/v1/projects?page_size=5&ordering=name").json()
    assert first["count_is_estimate"] is True and first["count"] >= 11
    names, pages, last = _walk(admin, "/api/v1/projects?page_size=5&ordering=name")
    assert names == [f"P{i:02d}" for i in range(23)] and pages == 5
    assert last["next"] is None and len(last["results"]) == 3
    assert admin.api.get("/api/v1/projects?page_size=5&page=6").status_code == 404
    exact = admin.api.get("/api/v1/projects?page_size=5&exact_count=true").json()
    assert (exact["count"], exact["count_is_estimate"]) == (23, False)
    filtered = admin.api.get("/api/v1/projects?page_size=5&status=active").json()
    assert (filtered["count"], filtered["count_is_estimate"]) == (11, True)


def test_deep_pages_by_late_row_lookup_match_plain_offsets(admin, monkeypatch):
    expected = [
        item["name"] for item in admin.api.get("/api/v1/projects?page_size=100&ordering=-complexity_score").json()[
            "results"]
    ]  # fmt: skip
    monkeypatch.setattr(CappedCountPageNumberPagination, "late_lookup_offset", 4)
    names, _, _ = _walk(admin, "/api/v1/projects?page_size=4&ordering=-complexity_score")
    assert names == expected
    page = admin.api.get("/api/v1/projects?page_size=4&page=3&ordering=-complexity_score").json()
    assert all("team_members" in item for item in page["results"])


def test_the_late_lookup_reads_ids_without_a_join_so_an_index_only_scan_can_serve_it(admin, monkeypatch):
    """The owner's username is a correlated subquery, not a join: a join to the users table (even one PostgreSQL
    removes) would make it read ``owner_id`` from the table for every skipped row instead of scanning only the
    index (bench/projects_list.py measures the difference). The page still names each owner."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(CappedCountPageNumberPagination, "late_lookup_offset", 4)
    with CaptureQueriesContext(connection) as queries:
        page = admin.api.get("/api/v1/projects?page_size=4&page=3&status=active&ordering=-complexity_score").json()
    ids_query = [q["sql"] for q in queries.captured_queries if "OFFSET 8" in q["sql"]]
    assert len(ids_query) == 1 and "JOIN" not in ids_query[0].upper(), ids_query
    assert len(page["results"]) == 3 and all(item["owner_username"] for item in page["results"])


def test_bad_page_numbers_are_404(admin, monkeypatch):
    monkeypatch.setattr(CappedCountPageNumberPagination, "count_cap", 10)
    assert admin.api.get("/api/v1/projects?page=abc").status_code == 404
    assert admin.api.get("/api/v1/projects?page=0").status_code == 404


def test_far_over_the_cap_the_planner_estimate_is_the_count_without_counting(admin, tenant_a, monkeypatch):
    """When PostgreSQL estimates more than twice the cap, no rows are counted: the estimate is the (flagged) count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_a.context(), connection.cursor() as cursor:
        cursor.execute("ANALYZE projects_project")  # statistics: the planner now estimates the 23 rows exactly
    monkeypatch.setattr(CappedCountPageNumberPagination, "count_cap", 10)  # 23 > 2 × 10
    with CaptureQueriesContext(connection) as queries:
        body = admin.api.get("/api/v1/projects?page_size=5&ordering=name").json()
    assert (body["count"], body["count_is_estimate"]) == (23, True)
    assert [item["name"] for item in body["results"]] == [f"P{i:02d}" for i in range(5)]
    statements = [query["sql"] for query in queries.captured_queries]
    assert any(sql.startswith("EXPLAIN") for sql in statements)
    assert not any("COUNT(" in sql.upper() for sql in statements), statements
    monkeypatch.setattr(CappedCountPageNumberPagination, "count_cap", 12)  # 23 ≤ 2 × 12: counted up to the cap
    with CaptureQueriesContext(connection) as queries:
        body = admin.api.get("/api/v1/projects?page_size=5").json()
    assert (body["count"], body["count_is_estimate"]) == (23, True)
    assert any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    monkeypatch.setattr(CappedCountPageNumberPagination, "count_cap", 30)
    assert admin.api.get("/api/v1/projects?page_size=5").json()["count_is_estimate"] is False


@pytest.mark.parametrize("query", ["complexity_max=-5", "complexity_max=-1654263179&completion_date_after=0002-06-10"])
def test_a_filter_django_knows_matches_nothing_is_an_empty_page(admin, query):
    """Found by the full fuzzing run: out-of-range bounds on a positive field make Django skip the SQL (no rows can
    match); the planner estimate must not turn that into a 500."""
    response = admin.api.get(f"/api/v1/projects?{query}")
    assert response.status_code == 200, response.content
    assert (response.json()["count"], response.json()["results"]) == (0, [])
