"""Local settings: `make run` (a newcomer's first look, so errors show the product's own pages) and `make dev`
(DEBUG=1: Django's debug pages with tracebacks and the URL list, for developers who turn it on)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=False)
# Serve static files straight from the app folders too, so a missing collectstatic never breaks a dev page.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
