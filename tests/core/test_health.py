import shutil
import socket
import subprocess
import time

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_on_any_host(client):
    for host in ("localhost", "nobody.localhost"):
        response = client.get("/healthz", HTTP_HOST=host)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_readyz_reports_each_dependency(client):
    response = client.get("/readyz", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


def test_readyz_refuses_an_unknown_dependency_naming_it(client):
    response = client.get("/readyz?dependencies=postgresql,mysql", HTTP_HOST="localhost")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["field"] == "dependencies" and "mysql" in body["errors"][0]["message"]


def test_probes_answer_on_a_pod_address_not_in_allowed_hosts(client):
    """Kubernetes probes and Prometheus address a pod by its IP: no ALLOWED_HOSTS entry names it."""
    for path in ("/healthz", "/readyz", "/readyz?dependencies=postgresql"):
        assert client.get(path, HTTP_HOST="10.244.3.7:8000").status_code == 200, path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_readyz_is_503_naming_redis_when_redis_stops(client, tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        with override_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
            for _ in range(50):
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            assert client.get("/readyz").status_code == 200
            server.terminate()
            server.wait(timeout=10)
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["failed"] == ["redis"]
            assert response.json()["checks"]["postgresql"] == "ok"
            # The Kubernetes readiness probe asks for PostgreSQL only: the web serves on while Redis is down.
            scoped = client.get("/readyz?dependencies=postgresql", HTTP_HOST="10.244.3.7:8000")
            assert scoped.status_code == 200
            assert scoped.json() == {"status": "ok", "checks": {"postgresql": "ok"}}
            assert client.get("/readyz?dependencies=postgresql,redis").status_code == 503
    finally:
        if server.poll() is None:
            server.kill()


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc12345-req")
    assert given["X-Request-ID"] == "abc12345-req"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert generated["X-Request-ID"] != "bad id with spaces" and len(generated["X-Request-ID"]) == 32


def test_openapi_schema_and_swagger_ui_without_cdn(client):
    schema = client.get("/api/schema/", HTTP_HOST="localhost")
    assert schema.status_code == 200
    assert b"/api/v1/tokens" in schema.content
    docs = client.get("/api/docs/", HTTP_HOST="localhost")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_metrics_need_token_or_allowed_address(client):
    with override_settings(METRICS_TOKEN="s3cret-metrics-token", METRICS_ALLOWED_NETWORKS=["10.9.0.0/16"]):
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
        bad = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer wrong")
        assert bad.status_code == 403
        ok = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
        assert ok.status_code == 200
        assert b"django_http_requests_total_by_method_total" in ok.content
        assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 200
    with override_settings(METRICS_TOKEN=""):
        # An empty configured token never matches an empty bearer value.
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer ").status_code == 403
