"""Checks every serving process runs before it serves.

Django runs its system checks in ``manage.py`` commands and ``runserver``, but not in a WSGI server or a Celery
worker: a setting that makes serving unsafe (e.g. a transaction-mode connection pooler in front of a schema-per-tenant
database) would otherwise be reported by ``manage.py check`` and ignored by the processes that matter. System checks
registered with the ``STARTUP`` tag are run again by ``maestro.wsgi`` and by each Celery worker at boot; any error
among them stops the process with the checks' own messages.
"""

from __future__ import annotations

STARTUP = "startup"


def refuse_to_start_on_check_errors() -> None:
    """Raise ``SystemCheckError`` (listing every message) when a ``STARTUP`` check reports an error."""
    from django.core import checks
    from django.core.management.base import SystemCheckError

    errors = [message for message in checks.run_checks(tags=[STARTUP]) if message.is_serious()]
    if errors:
        raise SystemCheckError("Refusing to start:\n" + "\n".join(str(message) for message in errors))
