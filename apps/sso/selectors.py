"""Reads on single sign-on: the tenant's configuration, and whether a user may still sign in with a password."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import get_public_schema_name

from apps.access.selectors import require
from apps.accounts.choices import Role
from apps.sso.models import SsoConfig


def _in_tenant_schema() -> bool:
    return connection.schema_name != get_public_schema_name()


def sso_config_get() -> SsoConfig | None:
    """The tenant's configuration, enabled or not (None on the platform host, which has no tenant users)."""
    if not _in_tenant_schema():
        return None
    return SsoConfig.objects.first()


def sso_config_for(*, user) -> SsoConfig | None:
    """The configuration for the settings page; PermissionDenied for those the matrix does not let read it."""
    require(user, "sso_settings", "read")
    return sso_config_get()


def sso_login_option() -> SsoConfig | None:
    """The configuration when sign-in through it is on (what the login page and the sign-in routes serve)."""
    config = sso_config_get()
    return config if config is not None and config.enabled else None


def password_sign_in_refusal(user) -> str | None:
    """Why ``user`` may not use a password (``maestro.passwords`` policy): in "SSO only" mode everyone but owners
    signs in through the provider; owners keep their password to get in when the provider is down or misconfigured."""
    if getattr(user, "role", None) == Role.OWNER and not getattr(user, "is_service_account", False):
        return None
    config = sso_login_option()
    if config is None or not config.sso_only:
        return None
    return f"This organisation signs in with {config.display_name}; passwords are turned off except for owners."
