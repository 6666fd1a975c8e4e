"""Tenant operations: provisioning (a tenant with its first owner), export, import (restore into a new tenant) and
deletion. They span the tenants app (schemas, domains) and the apps inside a tenant's schema (its users, its data),
so they live here, above both."""

from __future__ import annotations

import logging
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection
from django_tenants.utils import schema_context

from apps.accounts.services import user_create
from apps.ops.archive import (
    FORMAT_VERSION,
    ArchiveError,
    Progress,
    _file_sha256,
    _noop,
    load_rows,
    read_archive,
    remove_written,
    restore_files,
    write_archive,
)
from apps.ops.models import TenantExport
from apps.tenants.models import Domain, Tenant
from apps.tenants.services import (
    tenant_create,
    tenant_set_active,
    tenant_validate_domain,
    tenant_validate_schema_owner,
    tenant_validate_slug,
)
from maestro.storage import tenant_storage

logger = logging.getLogger("maestro.ops")


def generate_password() -> str:
    """A random password for a generated account (printed once, never stored in clear)."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class ProvisionResult:
    tenant: Tenant
    domain: Domain
    admin_username: str
    admin_email: str
    password: str

    @property
    def url(self) -> str:
        return f"http://{self.domain.domain}:{settings.MAESTRO_BASE_PORT}/"


def tenant_provision(
    *,
    slug: str,
    name: str,
    admin_email: str,
    domain: str | None = None,
    admin_username: str = "admin",
    password: str | None = None,
) -> ProvisionResult:
    """Create a tenant: its schema (migrated), its primary domain and its first admin (role owner).

    Everything is validated first and happens in one transaction: an invalid slug, a taken domain or a bad admin
    e-mail creates nothing — no row, no schema.
    """
    password = password or generate_password()
    with transaction.atomic():
        tenant, primary = tenant_create(slug=slug, name=name, domain=domain)
        with schema_context(tenant.schema_name):
            user_create(
                username=admin_username,
                email=admin_email,
                password=password,
                role="owner",
                is_staff=True,
                is_superuser=True,
                validate_password=False,
            )
    return ProvisionResult(
        tenant=tenant, domain=primary, admin_username=admin_username, admin_email=admin_email, password=password
    )


def default_export_path(schema_name: str) -> Path:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.TENANT_EXPORT_DIR) / f"{schema_name}-{stamp}.tar.gz"


def tenant_export(
    *,
    tenant: Tenant,
    out: Path | None = None,
    with_secrets: bool = False,
    created_by: str = "",
    progress: Progress = _noop,
) -> TenantExport:
    """Write ``tenant``'s archive (all rows of every tenant model, all stored files) and record it."""
    if tenant.is_public:
        raise ValidationError({"tenant": "The platform schema is not a tenant; back it up with pg_dump."})
    out = Path(out) if out else default_export_path(tenant.schema_name)
    progress(f"Exporting tenant '{tenant.schema_name}' to {out}{' (with secrets)' if with_secrets else ''}")
    result = write_archive(tenant, out, with_secrets=with_secrets, progress=progress)
    record = TenantExport.objects.create(
        tenant=tenant,
        schema_name=tenant.schema_name,
        path=str(result.path.resolve()),
        sha256=result.sha256,
        size=result.size,
        format_version=FORMAT_VERSION,
        with_secrets=with_secrets,
        row_count=result.row_count,
        file_count=result.file_count,
        created_by=created_by,
    )
    logger.info(
        "tenant_exported",
        extra={
            "schema": tenant.schema_name,
            "rows": record.row_count,
            "files": record.file_count,
            "bytes": record.size,
        },
    )
    progress(f"Done: {record.row_count} rows, {record.file_count} files, {record.size} bytes, sha256 {record.sha256}")
    return record


@dataclass(frozen=True)
class ImportResult:
    tenant: Tenant
    domain: Domain
    rows: int
    files: int


def tenant_import(
    *, archive_path: Path, slug: str, domain: str | None = None, name: str | None = None, progress: Progress = _noop
) -> ImportResult:
    """Recreate an exported tenant as a new tenant ``slug`` (new schema, same primary keys, same files).

    The archive is verified completely before anything is created; the tenant row, its schema, its rows and its
    files are then created in one transaction, and the files removed again if anything fails — a bad archive
    leaves no tenant, no schema and no files behind.
    """
    domain = domain or f"{slug}.{settings.MAESTRO_TENANT_DOMAIN_SUFFIX}"
    tenant_validate_slug(slug)
    tenant_validate_domain(domain)
    if not tenant_storage(slug).is_empty():
        raise ValidationError({"slug": f"The file storage already holds files of '{slug}'; remove them first."})
    with tempfile.TemporaryDirectory(prefix="maestro-import-") as workdir:
        archive = read_archive(Path(archive_path), Path(workdir), progress=progress)
        source = archive.manifest["tenant"]
        written: list[str] = []
        try:
            with transaction.atomic():
                progress(f"Creating tenant '{slug}' (schema and migrations)…")
                tenant = Tenant(schema_name=slug, name=(name or source["name"]).strip(), **source["plan"])
                tenant.save(verbosity=0)
                primary = Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
                with schema_context(slug):
                    files = restore_files(archive, written=written, progress=progress)
                    rows = load_rows(archive, progress=progress)
        except (DatabaseError, psycopg.Error) as exc:  # COPY runs on the raw psycopg cursor
            remove_written(written, slug)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArchiveError(f"The archive's rows could not be loaded ({reason}); nothing was imported.") from exc
        except BaseException:
            remove_written(written, slug)
            raise
    logger.info("tenant_imported", extra={"schema": slug, "source": source["schema_name"], "rows": rows})
    progress(f"Tenant '{slug}' restored from '{source['schema_name']}': {rows} rows, {files} files, host {domain}")
    return ImportResult(tenant=tenant, domain=primary, rows=rows, files=files)


def tenant_fresh_export(tenant: Tenant, *, max_age_hours: int | None = None) -> TenantExport | None:
    """The newest export of ``tenant`` younger than the limit whose file still exists with its recorded hash."""
    hours = settings.TENANT_DELETE_EXPORT_MAX_AGE_HOURS if max_age_hours is None else max_age_hours
    since = timezone.now() - timedelta(hours=hours)
    for export in TenantExport.objects.filter(tenant=tenant, created_at__gte=since).order_by("-created_at", "-id"):
        path = Path(export.path)
        if path.is_file() and path.stat().st_size == export.size and _file_sha256(path) == export.sha256:
            return export
    return None


@dataclass(frozen=True)
class DeletionResult:
    schema_name: str
    export: TenantExport | None
    cache_keys: int


def tenant_delete(*, tenant: Tenant, force: bool = False, progress: Progress = _noop) -> DeletionResult:
    """Delete a tenant for good: schema (all its rows), domains, stored files and cache entries.

    Refused unless a fresh export exists (see ``tenant_fresh_export``) or ``force`` is given. The tenant is
    suspended first, so routing and tasks refuse it while the deletion runs.
    """
    if tenant.is_public:
        raise ValidationError({"tenant": "The platform schema cannot be deleted."})
    try:
        tenant_validate_schema_owner(tenant.schema_name)
    except ValidationError as exc:
        raise ValidationError({"tenant": exc.message_dict["slug"]}) from exc
    export = tenant_fresh_export(tenant)
    if export is None and not force:
        raise ValidationError(
            {
                "tenant": (
                    f"No export of '{tenant.schema_name}' from the last {settings.TENANT_DELETE_EXPORT_MAX_AGE_HOURS} "
                    f"hours with an intact file. Run `manage.py export_tenant {tenant.schema_name}` first "
                    "(or pass --force to delete without one)."
                )
            }
        )
    schema = tenant.schema_name
    if export is not None:
        progress(f"Using export {export.path} ({export.created_at:%Y-%m-%d %H:%M} UTC, sha256 {export.sha256[:12]}…)")
    tenant_set_active(tenant=tenant, active=False, reason="being deleted")
    progress(f"Dropping schema '{schema}' and its domains…")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Rows written earlier in the same transaction (a tenant provisioned by the same script) leave deferred
            # foreign-key checks pending, and PostgreSQL refuses to drop tables with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        tenant.delete(force_drop=True)
    progress("Removing the tenant's stored files")
    removed_files = tenant_storage(schema).delete_prefix("")
    progress(f"{removed_files} stored files removed")
    removed = _purge_cache(schema)
    logger.warning("tenant_deleted", extra={"schema": schema, "forced": export is None})
    progress(f"Tenant '{schema}' deleted ({removed} cache entries removed).")
    return DeletionResult(schema_name=schema, export=export, cache_keys=removed)


def _purge_cache(schema: str) -> int:
    """Delete the tenant's cache entries: keys are ``<schema>:<prefix>:<version>:<key>`` (django-tenants)."""
    client = get_redis_connection("default")
    removed = 0
    batch = []
    for key in client.scan_iter(match=f"{schema}:*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            removed += client.delete(*batch)
            batch = []
    if batch:
        removed += client.delete(*batch)
    return removed


__all__ = ["ArchiveError", "tenant_delete", "tenant_export", "tenant_fresh_export", "tenant_import"]
