"""Test settings: the same services as production (PostgreSQL, Redis), with test-only conveniences."""

import hashlib
import tempfile

from .base import *  # noqa: F403
from .base import BASE_DIR, CELERY_BROKER_TRANSPORT_OPTIONS, DATABASES, REDIS_URL, STORAGES, env

DEBUG = False
ALLOWED_HOSTS = [".localhost", "localhost", "127.0.0.1", "testserver"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=tempfile.mkdtemp(prefix="maestro-media-"))
STATIC_ROOT = tempfile.mkdtemp(prefix="maestro-static-")
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
LOG_FORMAT = "json"
TEST_OUTPUT_DIR = BASE_DIR / "test-output"

# Each checkout gets its own test database and broker key space, so several checkouts (or a dev server) can run
# their suites on the same PostgreSQL and Redis at once without taking each other's rows or tasks.
CHECKOUT_TAG = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {"NAME": f"test_maestro_{CHECKOUT_TAG}"}
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default=REDIS_URL.rsplit("/", 1)[0] + "/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"test-{CHECKOUT_TAG}:"}
TENANT_EXPORT_DIR = env.path("TENANT_EXPORT_DIR", default=tempfile.mkdtemp(prefix="maestro-exports-"))

# The suite-wide secret check (tests/support/log_secrets.py) sets this for the pytest process and every process the
# tests start (Celery workers, gunicorn): all of them append their formatted log lines to one file.
SUITE_LOG_FILE = env("MAESTRO_TEST_LOG_FILE", default="")
if SUITE_LOG_FILE:
    LOGGING["handlers"]["suite_file"] = {  # noqa: F405
        "class": "logging.FileHandler",
        "filename": SUITE_LOG_FILE,
        "formatter": "json",
        "filters": ["context", "redact"],
        "delay": True,
    }
    LOGGING["root"]["handlers"] = [*LOGGING["root"]["handlers"], "suite_file"]  # noqa: F405

# Rate limits no test trips by accident (tests of the limits lower them on their tenant), counted under this
# checkout's own key prefix.
MAESTRO_RATE_LIMIT_KEY_PREFIX = f"test-{CHECKOUT_TAG}-rl"
MAESTRO_RATE_LIMIT_PLANS = {
    plan: {scope: {"user": "1000000/minute", "tenant": "1000000/minute"} for scope in ("read", "write", "ingest")}
    for plan in ("free", "team", "enterprise")
}
MAESTRO_RATE_LIMIT_ANON = "1000000/minute"
MAESTRO_RATE_LIMIT_AUTH_FAILURES = "1000000/minute"

# Webhook receivers in the tests are local HTTP servers on loopback (the SSRF tests set this empty again).
WEBHOOKS_ALLOWED_NETWORKS = env.list("WEBHOOKS_ALLOWED_NETWORKS", default=["127.0.0.0/8"])
# The tests' own OpenID provider (tests/support/oidc_provider) listens on plain HTTP on the loopback address.
SSO_REQUIRE_HTTPS = False
SSO_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # ... and on loopback (the SSRF tests set this empty again)
