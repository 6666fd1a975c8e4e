"""Hostile input catalogue: every kind of bad request gets a clear 4xx in the error shape (never a 500), stores
nothing partial, and what is stored is stored verbatim.

The requests go through the whole stack in-process (middleware, routing by token, DRF, services, PostgreSQL).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from apps.artifacts.models import ArtifactBlob, ArtifactVersion
from apps.metrics.models import MetricPoint, Run
from apps.projects.models import Project
from tests.support.access import make_principal

INJECTIONS = [
    "'; DROP TABLE projects_project; --",
    "Robert'); DELETE FROM metrics_run WHERE ('1'='1",
    '" OR ""="',
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>",
    "{{ settings.SECRET_KEY }} {% debug %}",
    "${jndi:ldap://localhost/a}",
]
BIG = 2**64


@pytest.fixture
def admin(tenant_a):
    return make_principal(tenant_a, "admin")


@pytest.fixture
def api(tenant_a, admin):
    client = tenant_a.api(admin.token)
    return client


@pytest.fixture
def project(tenant_a, admin):
    with tenant_a.context():
        return Project.objects.create(name="Hostile target", slug="hostile-target", owner=admin.user)


@pytest.fixture
def run(tenant_a, project):
    with tenant_a.context():
        return Run.objects.create(project=project, name="hostile-run", start_time=timezone.now())


def error_of(response, status: int) -> dict:
    """The body of an error response, checked to be in the shared error shape with ``status``."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"status", "code", "detail", "errors"} and body["status"] == status, body
    return body


def fields_of(body: dict) -> set:
    return {error["field"] for error in body["errors"]}


def raw_post(api, path: str, body: bytes, content_type: str = "application/json"):
    return api.generic("POST", path, body, content_type=content_type)


# ---------------------------------------------------------------------------------------------- sizes


def test_json_body_over_the_memory_limit_is_413_and_creates_nothing(tenant_a, api):
    body = json.dumps({"name": "big", "spec": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)}).encode()
    error_of(raw_post(api, "/api/v1/projects", body), 413)
    with tenant_a.context():
        assert not Project.objects.filter(name="big").exists()


def test_ten_megabyte_string_is_413_and_a_long_string_below_the_limit_is_400_naming_the_field(tenant_a, api):
    error_of(raw_post(api, "/api/v1/projects", json.dumps({"name": "x" * 10_000_000}).encode()), 413)
    body = error_of(api.post("/api/v1/projects", {"name": "x" * 1_000_000}), 400)
    assert "name" in fields_of(body)
    with tenant_a.context():
        assert not Project.objects.filter(name__startswith="xxxx").exists()


def test_log_batch_over_one_megabyte_is_413_and_writes_nothing(tenant_a, api, run):
    metrics = [{"key": "loss", "value": 1.0, "step": i, "timestamp": i, "pad": "x" * 100} for i in range(12_000)]
    error_of(raw_post(api, f"/api/v1/runs/{run.pk}/log-batch", json.dumps({"metrics": metrics}).encode()), 413)
    with tenant_a.context():
        assert not MetricPoint.objects.filter(run_id=run.pk).exists()


def test_upload_over_the_limit_is_413_naming_the_file_and_stores_nothing(tenant_a, api, admin):
    with tenant_a.context():
        from apps.artifacts.models import Artifact

        artifact = Artifact.objects.create(name="hostile-upload", type="dataset", owner=admin.user)
    before = _files()
    with override_settings(ARTIFACT_MAX_UPLOAD_BYTES=1024):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("big.bin", b"x" * 4096)
        response = api.post(
            f"/api/v1/artifacts/{artifact.pk}/versions", {"version": "1.0.0", "file": upload}, format="multipart"
        )
    assert fields_of(error_of(response, 413)) == {"file"}
    with tenant_a.context():
        assert not ArtifactVersion.objects.filter(artifact=artifact).exists()
    assert _files() == before


def _files() -> set[Path]:
    return {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}


# ---------------------------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/octet-stream"],
)  # fmt: skip
def test_wrong_content_type_is_415(tenant_a, api, run, content_type):
    for path in ("/api/v1/projects", f"/api/v1/runs/{run.pk}/log-batch", "/api/v1/runs/search"):
        body = error_of(api.generic("POST", path, b"name=x", content_type=content_type), 415)
        assert content_type.split(";")[0] in body["detail"]
    with tenant_a.context():
        assert not Project.objects.filter(name="x").exists()


# ---------------------------------------------------------------------------------------------- structure


@pytest.mark.parametrize("depth", [33, 5_000, 200_000])
def test_deeply_nested_json_is_400(api, run, depth):
    nested = ("[" * depth + "]" * depth).encode()
    for path in ("/api/v1/projects", f"/api/v1/runs/{run.pk}/log-batch", "/api/v1/runs/search"):
        error_of(raw_post(api, path, b'{"name": "n", "tags": ' + nested + b"}"), 400)


def test_nesting_within_the_limit_is_an_ordinary_validation_error(api):
    nested = "[" * 20 + "]" * 20
    body = error_of(raw_post(api, "/api/v1/projects", f'{{"name": "n", "tags": {nested}}}'.encode()), 400)
    assert fields_of(body) == {"tags[0]"}


# ---------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "spec": "a\x00"}, "spec"),
        ({"name": "ok", "tags": ["fine", "b\x00d"]}, "tags[1]"),
        ({"name": "ok", "extra\x00key": 1}, None),
    ],
)
def test_nul_characters_in_json_strings_are_400_naming_the_place(tenant_a, api, payload, field):
    body = error_of(api.post("/api/v1/projects", payload, format="json"), 400)
    if field:
        assert field in fields_of(body), body
    with tenant_a.context():
        assert not Project.objects.filter(name__in=["ok", "a\x00b".replace("\x00", "")]).exists()


def test_nul_and_lone_surrogates_in_run_params_tags_and_metrics_are_400(tenant_a, api, project, run):
    cases = [
        ("/api/v1/runs", b'{"project": %d, "params": {"k\\u0000": "v"}}' % project.pk),
        ("/api/v1/runs", b'{"project": %d, "tags": {"k": "\\ud800"}}' % project.pk),
        (f"/api/v1/runs/{run.pk}/params", b'{"key": "lr", "value": "0.1\\u0000"}'),
        (f"/api/v1/runs/{run.pk}/tags", b'{"key": "t", "value": "\\udfff"}'),
        (f"/api/v1/runs/{run.pk}/log-batch", b'{"params": [{"key": "p", "value": "x\\u0000"}]}'),
        (f"/api/v1/runs/{run.pk}/log-batch", b'{"tags": [{"key": "t\\ud800", "value": "x"}]}'),
        ("/api/v1/runs/search", b'{"filter": "params.p = \'\\u0000\'"}'),
    ]
    for path, body in cases:
        error_of(raw_post(api, path, body), 400)
    with tenant_a.context():
        assert Run.objects.filter(project=project).count() == 1
        assert not run.params.exists() and not run.tags.exists()


def test_invalid_utf8_in_the_body_is_400(api, run):
    for path in ("/api/v1/projects", f"/api/v1/runs/{run.pk}/log-batch", "/api/v1/runs/search"):
        error_of(raw_post(api, path, b'{"name": "\xff\xfe\xc3("}'), 400)


@pytest.mark.parametrize("query", ["search=a%00b", "tags=x%00", "owner_username=%00", "ordering=name%00",
                                   "search=%ff%fe", "tags=%c3%28", "%00=1", "%ff=1", "page_size=5%00"])  # fmt: skip
def test_nul_and_invalid_utf8_in_query_parameters_are_400_naming_the_parameter(api, query):
    body = error_of(api.get(f"/api/v1/projects?{query}"), 400)
    name = query.split("=")[0]
    if "%" not in name:
        assert fields_of(body) == {name}


def test_nul_and_invalid_utf8_in_query_parameters_are_400_on_every_kind_of_endpoint(api, run):
    for path in (
        f"/api/v1/runs/{run.pk}/metrics/loss/history?max_points=10%00",
        "/api/v1/metrics/history?runs=1&key=lo%00ss",
        "/api/v1/audit-events?action_prefix=%00",
        "/api/v1/grants?object_type=project%00&object_id=1",
        "/api/v1/artifacts?search=%e9t%e9",
    ):
        error_of(api.get(path), 400)


def test_nul_in_a_path_segment_is_400(api, run):
    error_of(api.delete(f"/api/v1/runs/{run.pk}/tags/a%00b"), 400)
    error_of(api.get(f"/api/v1/runs/{run.pk}/metrics/lo%00ss/history"), 400)


def test_nul_outside_the_api_is_a_plain_400(tenant_a):
    response = tenant_a.client().get("/accounts/login/?next=%00")
    assert response.status_code == 400


# ---------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "path",
    [f"/api/v1/projects/{BIG}", f"/api/v1/runs/{BIG}", f"/api/v1/runs/{BIG}/params",
     f"/api/v1/runs/{BIG}/metrics/loss/history", f"/api/v1/artifacts/{BIG}/versions", f"/api/v1/users/{BIG}",
     f"/api/v1/tokens/{BIG}", f"/api/v1/audit-events/{BIG}", f"/api/v1/projects/{BIG}/team-members",
     f"/api/v1/projects/{BIG}/integrations", f"/api/v1/artifacts/{BIG}/versions/{BIG}/download",
     f"/api/v1/projects/{'9' * 400}", f"/api/v1/projects?page={BIG}"],
)  # fmt: skip
def test_huge_ids_in_paths_are_404(api, path):
    error_of(api.get(path), 404)


@pytest.mark.parametrize(
    "query",
    [f"owner={BIG}", f"complexity_min={BIG}", f"success_score_max=-{BIG}", "complexity_min=1e400",
     "created_at_after=9999-12-31T23:59:59-15:00", "created_at_after=0001-01-01T00:00:00%2B05:00",
     "created_at_before=2026-01-01T00:00:00%2B16:30", f"page_size={BIG}", "page_size=NaN"],
)  # fmt: skip
def test_huge_or_out_of_range_filter_values_never_500(api, query):
    response = api.get(f"/api/v1/projects?{query}")
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        error_of(response, 400)


def test_huge_integers_in_bodies_are_400_naming_the_field(tenant_a, api, project, run):
    body = error_of(api.post("/api/v1/runs", {"project": BIG}), 400)
    assert "project" in fields_of(body)
    body = error_of(api.post("/api/v1/projects", {"name": "n", "complexity_score": BIG}), 400)
    assert "complexity_score" in fields_of(body)
    batch = {"metrics": [{"key": "loss", "value": 1, "step": 0, "timestamp": 1},
                         {"key": "loss", "value": 1, "step": 2**63, "timestamp": 1},
                         {"key": "loss", "value": 1, "step": 1, "timestamp": -(2**63) - 1}]}  # fmt: skip
    body = error_of(api.post(f"/api/v1/runs/{run.pk}/log-batch", batch), 400)
    assert {"metrics[1].step", "metrics[2].timestamp"} <= fields_of(body)
    body = error_of(api.post(f"/api/v1/projects/{project.pk}/team-members", {"display_name": "d", "user": BIG}), 400)
    assert "user" in fields_of(body)
    with tenant_a.context():
        assert not MetricPoint.objects.filter(run_id=run.pk).exists()


def test_nan_and_infinity_tokens(tenant_a, api, project, run):
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = error_of(
            raw_post(api, f"/api/v1/projects/{project.pk}/complete", b'{"model_performance": %s}' % literal), 400
        )
        assert "model_performance" in fields_of(body) or body["code"] in ("parse_error", "invalid")
    # Metric values may be non-finite (documented); numbers beyond float64 are a 400 naming the item.
    ok = raw_post(
        api,
        f"/api/v1/runs/{run.pk}/log-batch",
        b'{"metrics": [{"key": "l", "value": NaN, "step": 0, "timestamp": 1},'
        b' {"key": "l", "value": -Infinity, "step": 1, "timestamp": 1}]}',
    )
    assert ok.status_code == 200 and ok.json()["metrics_written"] == 2
    body = error_of(
        raw_post(api, f"/api/v1/runs/{run.pk}/log-batch", b'{"metrics": [{"key": "l", "value": 1e400, "step": 2, '
                 b'"timestamp": 1}]}'), 400)  # fmt: skip
    assert fields_of(body) == {"metrics[0].value"}
    history = api.get(f"/api/v1/runs/{run.pk}/metrics/l/history").json()
    assert history["values"] == ["NaN", "-Infinity"]


# ---------------------------------------------------------------------------------------------- injection


def test_sql_and_script_injection_strings_are_stored_and_returned_verbatim(tenant_a, api, project):
    created = []
    for index, text in enumerate(INJECTIONS):
        response = api.post("/api/v1/projects", {"name": f"{text} {index}", "spec": text, "tags": [text[:50]]})
        assert response.status_code == 201, response.content
        created.append(response.json())
        run = api.post(
            "/api/v1/runs", {"project": project.pk, "name": text, "params": {"p": text}, "tags": {"t": text}}
        )
        assert run.status_code == 201, run.content
        assert run.json()["params"]["p"] == text and run.json()["tags"]["t"] == text
    for item, text in zip(created, INJECTIONS, strict=True):
        again = api.get(f"/api/v1/projects/{item['id']}").json()
        assert again["spec"] == text and again["name"].startswith(text)
    search = api.get("/api/v1/projects", {"search": INJECTIONS[0]})
    assert search.status_code == 200 and search.json()["count"] == 1
    found = api.post("/api/v1/runs/search", {"filter": f"params.p = '{INJECTIONS[1].replace(chr(39), chr(39) * 2)}'"})
    assert found.status_code == 200 and [r["name"] for r in found.json()["runs"]] == [INJECTIONS[1]]
    with tenant_a.context(), connection.cursor() as cursor:  # the tables the strings name are intact
        cursor.execute("SELECT count(*) FROM projects_project")
        assert cursor.fetchone()[0] >= len(INJECTIONS)
        cursor.execute("SELECT count(*) FROM metrics_run")
        assert cursor.fetchone()[0] >= len(INJECTIONS)


def test_injection_in_search_filter_syntax_is_a_parse_error(api):
    for text in ("name = 'x' OR 1=1 --", "name = 'x'; DROP TABLE metrics_run", "params.`a'; --` = 1 UNION SELECT 1"):
        body = error_of(api.post("/api/v1/runs/search", {"filter": text}), 400)
        assert fields_of(body) == {"filter"}


# ---------------------------------------------------------------------------------------------- files

BOUNDARY = "hostileboundary"


def multipart(fields: dict, file_field: str, filename: str, content: bytes) -> bytes:
    """A multipart body with the file name exactly as given (test clients sanitise names before sending)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; filename="'.encode()
        + filename.encode("utf-8", "surrogatepass")
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("filename", "stored_as"),
    [("../../etc/passwd", "passwd"), ("..\\..\\windows\\win.ini", "win.ini"), ("/etc/shadow", "shadow"),
     ("a/../../b.txt", "b.txt"), ("....//....//x", "x"), ("..", None), ("evil\x00.txt", None),
     ("<script>alert(1)</script>.js", None)],
)  # fmt: skip
def test_path_traversal_in_upload_filenames_never_leaves_the_tenant_storage(tenant_a, api, admin, filename, stored_as):
    from apps.artifacts.models import Artifact

    with tenant_a.context():
        artifact = Artifact.objects.create(name=f"traversal-{abs(hash(filename))}", type="dataset", owner=admin.user)
    content = f"content of {filename}".encode()
    response = api.generic(
        "POST",
        f"/api/v1/artifacts/{artifact.pk}/versions",
        multipart({"version": "1.0.0"}, "file", filename, content),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code == 201, response.content
    version = response.json()
    if version["sha256"] is None:  # a name that is nothing but dots: Django's parser drops the file part
        assert filename.strip(".") == "" and version["download_url"] is None
        return
    assert "/" not in version["filename"] and "\\" not in version["filename"] and "\x00" not in version["filename"]
    assert not version["filename"].startswith(".")
    if stored_as:
        assert version["filename"] == stored_as
    with tenant_a.context():
        blob = ArtifactBlob.objects.get(sha256=version["sha256"])
        stored = Path(blob.file.path).resolve()
    tenant_root = (Path(settings.MEDIA_ROOT) / tenant_a.schema).resolve()
    assert tenant_root in stored.parents and stored.read_bytes() == content
    download = api.get(version["download_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == content
    disposition = download["Content-Disposition"]
    assert ".." not in disposition and "/" not in disposition.split("filename", 1)[1]


# ---------------------------------------------------------------------------------------------- slow filters


@pytest.mark.parametrize(
    "expression",
    [" AND ".join(f"params.p{i} = 'x'" for i in range(51)),
     "(" * 11 + "name = 'x'" + ")" * 11,
     "NOT " * 11 + "name = 'x'",
     "name = '" + "x" * 4000 + "'",
     "params.p IN (" + ", ".join(str(i) for i in range(201)) + ")"],
    ids=["51 comparisons", "11 parentheses", "11 NOTs", "4000 characters", "201 IN values"],
)  # fmt: skip
def test_filter_expressions_beyond_the_limits_are_400_too_complex(api, expression):
    started = time.monotonic()
    body = error_of(api.post("/api/v1/runs/search", {"filter": expression}), 400)
    assert time.monotonic() - started < 10  # refused before any SQL runs
    assert body["errors"][0]["code"] in ("too_complex", "parse_error"), body


def test_the_most_expensive_filter_within_the_limits_answers_in_bounded_time(tenant_a, api, project):
    """Within the limits the worst case is 50 LIKE comparisons with many wildcards against the longest values; it
    must answer (PostgreSQL's LIKE matcher does not backtrack exponentially)."""
    with tenant_a.context():
        from apps.metrics.models import RunParam

        runs = [Run.objects.create(project=project, name=f"slow-{i}", start_time=timezone.now()) for i in range(20)]
        RunParam.objects.bulk_create(RunParam(run=run, key=f"p{k}", value="a" * 6000) for run in runs for k in range(5))
    pattern = "%a" * 20 + "%b"
    expression = " OR ".join(f"params.p{i % 5} LIKE '{pattern}'" for i in range(50))
    assert len(expression) < 4000
    started = time.monotonic()
    response = api.post("/api/v1/runs/search", {"filter": expression, "max_results": 1000})
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["runs"] == [], response.content[:300]
    assert elapsed < 30, elapsed


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects?page_size=%C2%B3",
        "/api/v1/projects?page=%C2%B2",
        "/api/v1/metrics/history?runs=%C2%B3&key=loss",
        "/api/v1/grants?object_type=project&object_id=%C2%B3",
    ],
)
def test_unicode_digits_that_int_refuses_are_a_400_not_a_500(tenant_a, path):
    # str.isdigit() accepts superscripts such as "³" that int() refuses; every integer parameter checks
    # str.isdecimal(), whose characters int() always accepts
    from tests.support.access import make_principal

    admin = make_principal(tenant_a, "admin")
    response = tenant_a.api(admin.token).get(path)
    assert response.status_code in (400, 404), (path, response.status_code, response.content[:200])
    assert response.json()["status"] == response.status_code
