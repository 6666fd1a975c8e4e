"""Shared fixtures. Two tenants (alpha, beta) exist for the whole session; each test runs in a transaction that is
rolled back, so tests may write freely inside them."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.browser import request_problem
from tests.support.tenants import TenantCtx, make_tenant

# Suite-wide check that no password or token reaches any log line; one static-file scan per process (see the modules).
pytest_plugins = ["tests.support.log_secrets", "tests.support.static_files"]


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """Always create the test database, even when only tests without a django_db marker are selected (pytest-django
    would otherwise skip it and let committed-data fixtures reach the development database)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def _session_tenants(django_db_setup, django_db_blocker) -> tuple[TenantCtx, TenantCtx]:
    with django_db_blocker.unblock():
        assert connection.settings_dict["NAME"].startswith("test_"), "refusing to create test tenants outside a test DB"
        alpha = make_tenant("alpha", "Alpha Analytics")
        beta = make_tenant("beta", "Beta Vision")
        connection.set_schema_to_public()
    return alpha, beta


@pytest.fixture
def tenant_a(_session_tenants, db) -> TenantCtx:
    return _session_tenants[0]


@pytest.fixture
def tenant_b(_session_tenants, db) -> TenantCtx:
    return _session_tenants[1]


@pytest.fixture(autouse=True)
def _reset_schema():
    """Never let one test's schema leak into the next."""
    yield
    connection.set_schema_to_public()


@pytest.fixture(scope="session")
def celery_worker(_session_tenants, tmp_path_factory):
    """A real Celery worker (separate process) against the test database and a dedicated Redis database."""
    from tests.support.celery import start_worker, stop_worker

    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    proc = start_worker(log_path)
    yield log_path
    stop_worker(proc)


@pytest.fixture
def committed(_session_tenants, django_db_blocker):
    """Database access outside a test transaction, for work another process (worker, server) must see.
    Tests using it clean up what they write."""
    with django_db_blocker.unblock():
        yield _session_tenants


@pytest.fixture(scope="session")
def live_server_url(_session_tenants, tmp_path_factory):
    """Base URL template of a real gunicorn serving the test database: ``url(ctx, path)`` builds tenant URLs."""
    from tests.support.live_server import free_port, start_server, stop_server

    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
    proc = start_server(log_path, port)
    yield LiveServer(port=port, log_path=log_path)
    stop_server(proc)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API (moto's server, its own process on a free port) with the tests' bucket; started on first use."""
    from tests.support.s3 import start_s3, stop_s3

    server = start_s3(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    stop_s3(server)


@pytest.fixture
def s3_storage(s3_server, settings):
    """Maestro's file storage on the S3 server for this test, under a key prefix of its own: ``(server, prefix)``."""
    prefix = s3_server.new_prefix()
    for name, value in s3_server.settings(prefix).items():
        setattr(settings, name, value)
    return s3_server, prefix


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request, settings, tmp_path) -> str:
    """Runs a test twice: on the local filesystem (a MEDIA_ROOT of its own) and on the S3 server (a prefix of its
    own), so it sees only the files it stores."""
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    else:
        settings.MEDIA_ROOT = str(tmp_path / "media")
    return request.param


LIVE_S3_MAX_UPLOAD_BYTES = 16 * 1024 * 1024  # the MLflow artifact upload limit of live_server_s3


@pytest.fixture(scope="session")
def live_server_s3(_session_tenants, s3_server, tmp_path_factory):
    """A second real gunicorn like ``live_server_url``, whose file storage is the S3 server (prefix ``.prefix``)."""
    from tests.support.live_server import free_port, start_server, stop_server

    port = free_port()
    prefix = s3_server.new_prefix()
    log_path = tmp_path_factory.mktemp("gunicorn-s3") / "server.log"
    limits = {"MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES": str(LIVE_S3_MAX_UPLOAD_BYTES)}
    proc = start_server(log_path, port, extra_env={**s3_server.env(prefix), **limits})
    server = LiveServer(port=port, log_path=log_path)
    server.prefix = prefix
    yield server
    stop_server(proc)


class LiveServer:
    def __init__(self, port: int, log_path):
        self.port = port
        self.log_path = log_path

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


# Module scope: while Playwright's sync API runs, its asyncio loop counts as running in the main thread, and Django
# refuses ORM calls from committed-data tests that follow (SynchronousOnlyOperation); leaving the module stops it.
@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium driven by Playwright."""
    from tests.support.live_server import CHROMIUM_ARGS, CHROMIUM_PATH, chromium_available

    if not chromium_available():
        pytest.skip("Chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page that fails the test on any console error or failed request."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    problems: list[str] = []
    expected_4xx = "Failed to load resource: the server responded with a status of 4"

    def console(msg) -> None:
        # a test that sets ``_expect_http_errors`` asserts the 4xx answers itself; Chromium also logs each one
        if msg.type == "error" and not (
            getattr(tab, "_expect_http_errors", False) and msg.text.startswith(expected_4xx)
        ):
            problems.append(f"console {msg.type}: {msg.text}")

    tab.on("console", console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("requestfailed", lambda req: (problem := request_problem(req)) and problems.append(problem))
    tab.on(
        "response",
        lambda resp: (
            problems.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400
            and resp.request.resource_type in ("script", "stylesheet", "image", "font", "fetch", "xhr")
            and not getattr(tab, "_expect_http_errors", False)
            else None
        ),
    )
    yield tab
    context.close()
    assert not problems, "browser problems:\n" + "\n".join(problems)


_mlflow_build = None


def pytest_collection_finish(session):
    """When a selected test needs the full-MLflow virtualenv and it is not built yet (a fresh clone), build it in the
    background from now on rather than when that test starts (tests/support/mlflow_venv.py)."""
    global _mlflow_build
    needed = any("mlflow_python" in getattr(item, "fixturenames", ()) for item in session.items)
    if needed and not session.config.option.collectonly:
        from tests.support.mlflow_venv import ROOT, build_in_background

        _mlflow_build = build_in_background(ROOT / "test-output" / "mlflow-venv-build.log")


def pytest_sessionfinish(session, exitstatus):
    if _mlflow_build is not None:
        from tests.support.mlflow_venv import stop_background_build

        stop_background_build(_mlflow_build)


def pytest_collection_modifyitems(session, config, items):
    """Browser tests run last: the session's Playwright browser keeps an event loop in the main thread, under which
    Django refuses the synchronous ORM calls of committed-data tests that would otherwise run after it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
