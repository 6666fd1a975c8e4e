"""A gunicorn worker imports ``maestro.wsgi`` before it serves: the URL routes are built then, not by its first request.

Without this, the first request of every worker after a start or a deploy imported every view module and compiled
every route (measured: the first ``GET /api/v1/me`` of a one-worker gunicorn took 520–533 ms, the next ones 3 ms;
with the routes built at boot, 20–23 ms).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from django.conf import settings

PROBE = """
import json, sys
{setup}
from django.conf import settings
from django.urls import get_resolver
print(json.dumps({{
    "tenant_routes_built": get_resolver(settings.ROOT_URLCONF)._populated,
    "platform_routes_built": get_resolver(settings.PUBLIC_SCHEMA_URLCONF)._populated,
    "views_imported": [m for m in ("apps.mlflow_api.api.views", "apps.projects.api.views") if m in sys.modules],
}}))
"""


def _probe(setup: str) -> dict:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "maestro.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        env=environment,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_wsgi_application_builds_both_url_resolvers_and_imports_the_views():
    assert _probe("import maestro.wsgi") == {
        "tenant_routes_built": True,
        "platform_routes_built": True,
        "views_imported": ["apps.mlflow_api.api.views", "apps.projects.api.views"],
    }


def test_django_alone_leaves_them_to_the_first_request():
    """The control: what the first request paid for before (Django builds neither resolver at setup)."""
    assert _probe("import django; django.setup()") == {
        "tenant_routes_built": False,
        "platform_routes_built": False,
        "views_imported": [],
    }
