"""Test settings: the same services as production (PostgreSQL, Redis), with test-only conveniences."""

import tempfile

from .base import *  # noqa: F403
from .base import BASE_DIR, REDIS_URL, STORAGES, env

DEBUG = False
ALLOWED_HOSTS = [".localhost", "localhost", "127.0.0.1", "testserver"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=tempfile.mkdtemp(prefix="maestro-media-"))
STATIC_ROOT = tempfile.mkdtemp(prefix="maestro-static-")
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
LOG_FORMAT = "json"
TEST_OUTPUT_DIR = BASE_DIR / "test-output"

# The test suite's Celery worker uses its own Redis database, so a running dev worker never takes its tasks.
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default=REDIS_URL.rsplit("/", 1)[0] + "/15")
