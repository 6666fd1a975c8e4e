"""Security headers on every HTML response, and production settings that pass `check --deploy`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from apps.tenants.services import tenant_set_active

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, str]:
    parts = [p.strip().split(" ", 1) for p in response.get("Content-Security-Policy", "").split(";") if p.strip()]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_security_headers(response, label: str, inline_styles: bool = False):
    csp = csp_directives(response)
    assert csp.get("default-src") == "'self'" and csp.get("script-src") == "'self'", label
    assert csp.get("frame-ancestors") == "'none'" and csp.get("object-src") == "'none'", label
    assert csp.get("style-src") == ("'self' 'unsafe-inline'" if inline_styles else "'self'"), label
    assert response.get("X-Content-Type-Options") == "nosniff", label
    assert response.get("Referrer-Policy") == "same-origin", label
    assert response.get("X-Frame-Options") == "DENY", label
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", label


def test_every_kind_of_html_page_carries_the_headers(tenant_a, tenant_b):
    logged_in = tenant_a.client()
    logged_in.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    pages = {
        "login": tenant_a.client().get("/accounts/login/"),
        "dashboard": logged_in.get("/"),
        "admin index": logged_in.get("/admin/"),
        "admin change list": logged_in.get("/admin/accounts/user/"),
        "admin login": tenant_a.client().get("/admin/login/"),
        "api docs": tenant_a.client().get("/api/docs/"),
        "unknown host": Client().get("/", HTTP_HOST="nobody.localhost"),
        "platform index": Client().get("/", HTTP_HOST="localhost"),
        "platform admin login": Client().get("/admin/login/", HTTP_HOST="localhost"),
    }
    tenant_set_active(tenant=tenant_b.tenant, active=False)
    pages["suspended tenant"] = tenant_b.client().get("/accounts/login/")
    for label, response in pages.items():
        assert response["Content-Type"].startswith("text/html"), label
        assert_security_headers(
            response, label, inline_styles=label.startswith(("admin", "api docs", "platform admin"))
        )
    assert pages["unknown host"].status_code == 404 and pages["suspended tenant"].status_code == 403


def _production_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "maestro.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://maestro:not-a-real-password@127.0.0.1:5432/maestro",
        "ALLOWED_HOSTS": "maestro.example.com,.maestro.example.com",
    }


def test_production_settings_pass_check_deploy_at_warning_level():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=_production_env(), cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_cookies_and_hsts():
    script = (
        "import json; from django.conf import settings as s; import django; django.setup(); "
        "print(json.dumps({k: getattr(s, k) for k in ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'SESSION_COOKIE_NAME', 'SECURE_HSTS_SECONDS', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_SSL_REDIRECT', 'DEBUG']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=_production_env(), cwd=settings.BASE_DIR, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax", "SESSION_COOKIE_NAME": "__Host-sessionid", "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_SSL_REDIRECT": True, "DEBUG": False,
    }  # fmt: skip


def test_hsts_header_on_https_responses(tenant_a, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = tenant_a.client().get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
