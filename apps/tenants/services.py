"""Writes on tenants: creation (schema + primary domain), suspension, renaming.

A tenant is provisioned with its first owner by ``apps.ops.services.tenant_provision``, which calls ``tenant_create``
and the accounts service in one transaction: this base app knows no higher app, users included.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name

from apps.tenants.models import Domain, Tenant

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
RESERVED_SLUGS = frozenset(
    {
        "public",
        "information_schema",
        "admin",
        "api",
        "www",
        "static",
        "media",
        "metrics",
        "localhost",
        "maestro",
        "platform",
        "default",
        "template",
        "tenant_template",
        "postgres",
        "root",
        "system",
    }
)


def tenant_validate_slug(slug: str) -> None:
    """Raise ValidationError unless ``slug`` can name a new tenant schema."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ValidationError(
            {"slug": "Use 3–40 characters: lowercase letters, digits and hyphens, starting with a letter."}
        )
    if slug in RESERVED_SLUGS or slug == get_public_schema_name():
        raise ValidationError({"slug": f"'{slug}' is reserved."})
    if Tenant.objects.filter(schema_name=slug).exists():
        raise ValidationError({"slug": f"A tenant with slug '{slug}' already exists."})
    tenant_validate_schema_owner()


OWNER_ONLY = (
    "This database role may not create or drop schemas (it is the runtime role of the production split, "
    "docs/operations.md 'Database roles'); run the management command with the owner role's DATABASE_URL."
)


def tenant_validate_schema_owner(schema_name: str | None = None) -> None:
    """Raise ValidationError unless the current database role may create schemas — and drop ``schema_name`` (own
    it, directly or through a role it belongs to) when given. Only the owner role of the role split may."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
        allowed = cursor.fetchone()[0]
        if allowed and schema_name is not None:
            cursor.execute(
                "SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = %s",
                [schema_name],
            )
            row = cursor.fetchone()
            allowed = row is None or row[0]
    if not allowed:
        raise ValidationError({"slug": OWNER_ONLY})


def tenant_validate_domain(domain: str) -> None:
    if not isinstance(domain, str) or not HOST_RE.match(domain):
        raise ValidationError({"domain": f"'{domain}' is not a valid host name."})
    if domain in settings.MAESTRO_PUBLIC_HOSTS:
        raise ValidationError({"domain": f"'{domain}' is the platform's own host."})
    if Domain.objects.filter(domain=domain).exists():
        raise ValidationError({"domain": f"The domain '{domain}' is already in use."})


def tenant_create(*, slug: str, name: str, domain: str | None = None) -> tuple[Tenant, Domain]:
    """Create a tenant: its schema (migrated) and its primary domain (default ``<slug>.<tenant domain suffix>``).

    Everything is validated first and happens in one transaction: an invalid slug or name, or a taken domain, creates
    nothing — no row, no schema. The caller's transaction, when there is one, holds it (``tenant_provision`` adds the
    first owner in the same one)."""
    domain = domain or f"{slug}.{settings.MAESTRO_TENANT_DOMAIN_SUFFIX}"
    tenant_validate_slug(slug)
    tenant_validate_domain(domain)
    if not name or not name.strip():
        raise ValidationError({"name": "A tenant needs a name."})
    with transaction.atomic():
        tenant = Tenant(schema_name=slug, name=name.strip())
        tenant.save(verbosity=0)
        primary = Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
    return tenant, primary


def tenant_set_active(*, tenant: Tenant, active: bool, reason: str = "") -> Tenant:
    """Suspend (active=False) or reactivate a tenant. Suspended tenants are refused by routing and by tasks."""
    if tenant.is_public:
        raise ValidationError({"tenant": "The platform tenant cannot be suspended."})
    tenant.is_active = active
    tenant.suspended_reason = "" if active else reason
    tenant.save(update_fields=["is_active", "suspended_reason"])
    return tenant


def tenant_rename(*, tenant: Tenant, name: str) -> Tenant:
    """Change a tenant's display name (from within its own schema or the platform's)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": "A name of 1–200 characters is required."})
    if name != tenant.name:
        tenant.name = name
        tenant.save(update_fields=["name"])
    return tenant
