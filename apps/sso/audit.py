"""How single sign-on appears in the audit trail.

Every change of the configuration, from the settings page or anywhere else, is one ``sso.config_changed`` security
event (the client secret masked as ``***``, like every secret-named field). Subject links are security events of
their own (``sso_identity.created``); the subject identifier names a person at the provider, so it is kept in the
erasable detail. Sign-ins are recorded by the service: ``sso.login``, ``sso.login_failed`` (with the reason) and
``sso.user_created`` for a user created at first sign-in.
"""

from __future__ import annotations

from apps.audit.models import Category
from apps.audit.registry import AuditSpec, Classified, audit_register


def _classify_config(spec: AuditSpec, verb: str, changes: dict) -> Classified:
    return Classified("sso.config_changed", Category.SECURITY)


def register() -> None:
    audit_register(
        "sso.SsoConfig",
        name="sso_config",
        secret_fields={"client_secret_encrypted"},
        classify=_classify_config,
        category=Category.SECURITY,
    )
    audit_register(
        "sso.SsoIdentity",
        name="sso_identity",
        ignore_fields={"last_login_at"},
        category=Category.SECURITY,
        personal_fields={"subject"},
        subject_field="user_id",
    )
