import os

from django.core.wsgi import get_wsgi_application

from maestro.startup import refuse_to_start_on_check_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.production")

application = get_wsgi_application()
refuse_to_start_on_check_errors()


def _preload() -> None:
    """Load the spec-embedding model while the worker boots (gunicorn imports this module in each worker before it
    serves), so that no request pays the model load: seconds, and tens of seconds on a busy host."""
    from django.conf import settings

    if getattr(settings, "RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL", False):
        # Imported only when preloading: the WSGI entry is a composition root; maestro/ imports no app otherwise.
        from apps.recommendations.ml.embeddings import get_model

        get_model()


def _load_url_routes() -> None:
    """Import every view and build both URL resolvers (the tenants' and the platform's) while the worker boots.

    Django does this on a process's first request: without it the first request each gunicorn worker serves pays
    for importing every view module and compiling every route, 0.4 s of CPU in-process and seconds on a busy host,
    so every restart or deploy made a few users wait and made any benchmark that starts a server measure it.
    """
    from django.conf import settings
    from django.urls import get_resolver

    for urlconf in dict.fromkeys((settings.ROOT_URLCONF, getattr(settings, "PUBLIC_SCHEMA_URLCONF", None))):
        if urlconf:
            get_resolver(urlconf).reverse_dict  # noqa: B018 — building it imports the views and compiles the routes


_load_url_routes()
_preload()
