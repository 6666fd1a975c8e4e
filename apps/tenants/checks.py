"""System check: tenant isolation needs every statement of a connection to run on the server session that received
its ``SET search_path``.

With ``TENANT_LIMIT_SET_CALLS`` django-tenants sets the tenant's ``search_path`` once per (Django) connection and
schema, not before every statement. Directly, or through a pooler in *session* mode, a client connection is one
server session, so that holds. A pooler in *transaction* or *statement* mode hands each transaction (or statement) to
whichever server connection is free, whose ``search_path`` another client — serving another tenant — may have set:
Maestro would read and write the wrong tenant's rows. ``DATABASE_POOL_MODE`` says which is in front; the process
refuses to start on the unsafe ones (``manage.py`` commands, and ``maestro.wsgi`` / Celery workers through
``maestro.startup``).
"""

from django.conf import settings
from django.core.checks import Error, register

from maestro.startup import STARTUP

SUPPORTED_POOL_MODES = ("direct", "session")
UNSAFE_POOL_MODES = ("transaction", "statement")


@register(STARTUP)
def database_pool_mode(app_configs, **kwargs):
    mode = getattr(settings, "DATABASE_POOL_MODE", "direct")
    if mode in SUPPORTED_POOL_MODES:
        return []
    if mode in UNSAFE_POOL_MODES:
        return [
            Error(
                f"DATABASE_POOL_MODE is '{mode}': a connection pooler in {mode} mode would run one tenant's statements "
                "with another tenant's search_path (set once per connection: TENANT_LIMIT_SET_CALLS).",
                hint="Put the pooler in session mode (PgBouncer: pool_mode = session) and set "
                "DATABASE_POOL_MODE=session, or connect directly (DATABASE_POOL_MODE=direct).",
                id="tenants.E001",
            )
        ]
    return [
        Error(
            f"DATABASE_POOL_MODE is '{mode}'; use one of: {', '.join(SUPPORTED_POOL_MODES + UNSAFE_POOL_MODES)}.",
            id="tenants.E002",
        )
    ]
