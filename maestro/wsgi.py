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


_preload()
