"""deploy/caddy/Caddyfile in front of a real gunicorn with production settings: TLS for the platform host and tenant
hosts from Caddy's internal CA, the forwarded protocol trusted (no redirect loop; HSTS, so Secure cookies are sent
back), plain HTTP redirected, and /metrics refused through the proxy.

Runs the Caddy of the Debian package (``scripts/services.sh tools`` installs it; compose uses the caddy image) on free
ports with the same Caddyfile; skipped without it.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.celery import worker_env
from tests.support.live_server import free_port, stop_server

CADDY = shutil.which("caddy")
CADDYFILE = Path(settings.BASE_DIR) / "deploy" / "caddy" / "Caddyfile"
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the SNI and Host of a *.localhost name (Python's resolver does not resolve them)."""

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _get(conn: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    conn.request("GET", path)
    response = conn.getresponse()
    response.body = response.read()
    return response


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s")


@pytest.fixture
def proxied(committed, tmp_path):
    """gunicorn (production settings) behind Caddy; yields the ports and the CA root Caddy issued from."""
    web_port, http_port, https_port = free_port(), free_port(), free_port()
    env = {
        **worker_env(),
        "DJANGO_SETTINGS_MODULE": "maestro.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "MAESTRO_TRUSTED_PROXY_COUNT": "1",
        "MAESTRO_BASE_PORT": str(https_port),
        "RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL": "false",
        "WEB_CONCURRENCY": "1",
        "WEB_BIND": "127.0.0.1",
        "WEB_PORT": str(web_port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "maestro.wsgi"],
        env=env, cwd=settings.BASE_DIR, stdout=(tmp_path / "web.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    caddy_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "CADDY_HTTP_PORT": str(http_port),
        "CADDY_HTTPS_PORT": str(https_port),
        "MAESTRO_UPSTREAM": f"127.0.0.1:{web_port}",
    }
    caddy = subprocess.Popen(
        [CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=caddy_env, cwd=tmp_path, stdout=(tmp_path / "caddy.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        _wait(lambda: _get(http.client.HTTPConnection("127.0.0.1", web_port, timeout=5), "/healthz").status == 200,
              60, "gunicorn answers")  # fmt: skip
        _wait(root.exists, 30, "Caddy creates its CA")
        yield {"web": web_port, "http": http_port, "https": https_port, "context": ssl.create_default_context(
            cafile=str(root))}  # fmt: skip
    finally:
        stop_server(caddy)
        stop_server(web)


@pytest.mark.skipif(CADDY is None, reason="caddy not installed (scripts/services.sh tools installs it)")
def test_caddy_terminates_tls_for_platform_and_tenant_hosts(proxied):
    port, context = proxied["https"], proxied["context"]

    def tls(host: str) -> http.client.HTTPSConnection:
        return _Pinned(host, port, context=context, timeout=20)

    health = _wait(lambda: _get(tls("localhost"), "/healthz"), 30, "Caddy serves localhost")
    assert health.status == 200 and json.loads(health.body) == {"status": "ok"}

    # Django saw HTTPS (Caddy's X-Forwarded-Proto, trusted from one proxy): HSTS is only sent on secure requests,
    # and production settings would otherwise redirect to https.
    api = _get(tls("alpha.localhost"), "/api/v1/me")
    assert api.status == 401, api.body[:300]
    assert api.getheader("Strict-Transport-Security", "").startswith("max-age=")

    # The certificate names the tenant host itself, issued by Caddy's CA on the first handshake.
    with (
        socket.create_connection(("127.0.0.1", port), 10) as raw,
        context.wrap_socket(raw, server_hostname="beta.localhost") as sock,
    ):
        names = {value for kind, value in sock.getpeercert()["subjectAltName"] if kind == "DNS"}
    assert names == {"beta.localhost"}

    refused = _get(tls("localhost"), "/metrics")
    assert refused.status == 403 and b"not served through the proxy" in refused.body

    # Without the proxy, production settings redirect plain HTTP; through Caddy's plain port, Caddy redirects.
    direct = _get(http.client.HTTPConnection("127.0.0.1", proxied["web"], timeout=10), "/api/v1/me")
    assert direct.status == 301 and direct.getheader("Location").startswith("https://")
    plain = http.client.HTTPConnection("127.0.0.1", proxied["http"], timeout=10)
    plain.request("GET", "/accounts/login/", headers={"Host": "alpha.localhost"})
    response = plain.getresponse()
    assert response.status in (301, 302, 307, 308)
    # (Caddy 2.6 leaves a non-default HTTPS port out of the redirect; compose uses 443.)
    location = response.getheader("Location")
    assert location.startswith("https://alpha.localhost") and location.endswith("/accounts/login/")
