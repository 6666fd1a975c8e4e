"""The tenant archive: a versioned, self-describing ``.tar.gz`` of one tenant's rows and files.

Format ``maestro-tenant-export`` version 1 (documented in docs/operations.md, "Backup, restore, export")::

    data/<app_label>.<model>.copy   one member per table, PostgreSQL COPY text format (one line per row, columns
                                    as listed in the manifest, ``\\N`` for NULL), rows ordered by primary key
    files/<storage key>             every file in the tenant's storage (maestro.storage: MEDIA_ROOT/<schema>/…
                                    or the tenant's prefix in an S3 bucket)
    manifest.json                   written last: format name and version, source tenant (name, domains, plan),
                                    applied migrations, tables in dependency order (model, table, columns, primary
                                    key, row count, member, size, SHA-256, redacted columns), skipped tables,
                                    files (path, size, SHA-256)

Tables are every managed model of every app in ``TENANT_APPS`` (auto-created many-to-many tables included), so
models added later are exported without changes here. COPY is used rather than Django's serializers because it is
exact for every PostgreSQL type (arrays, JSON, NaN/±Inf floats, UUIDs, bytea, extension types), streams, and
restores primary keys verbatim.

Without ``with_secrets``: the columns in ``SECRET_COLUMNS`` are replaced by a harmless constant (users get an
unusable password, API tokens a hash that matches nothing) and the tables in ``SECRET_TABLES`` (sessions) are left
out; the manifest lists both.

Reading verifies the whole archive (member names, SHA-256 of every member, row counts, format version, tables and
columns known to this code) before anything is created, so a corrupted or truncated archive changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath

import django
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.audit.models import APPEND_ONLY_MODELS
from maestro.storage import tenant_storage

logger = logging.getLogger("maestro.ops")

FORMAT_NAME = "maestro-tenant-export"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHUNK = 1 << 20

# model label -> {column: SQL expression exported instead of the value} unless --with-secrets.
SECRET_COLUMNS: dict[str, dict[str, str]] = {
    "accounts.user": {"password": "'!'"},  # "!" is Django's unusable-password marker
    "accounts.apitoken": {"key_hash": "''"},  # matches no token
    # Encrypted, but under this deployment's MAESTRO_ENCRYPTION_KEYS: left out, an owner enters it again.
    "sso.ssoconfig": {"client_secret_encrypted": "''"},
}
# model label -> {column: SQL expression} always exported instead of the value: caches the code rebuilds on demand.
DERIVED_COLUMNS: dict[str, dict[str, str]] = {
    # The packed copy of each metric series (rebuilt by the first history read after import).
    "metrics.metricseries": {
        "packed_points": "NULL",
        "packed_last_step": "NULL",
        "packed_last_timestamp": "NULL",
        "packed_last_value": "NULL",
        "packed_steps": "NULL",
        "packed_timestamps": "NULL",
        "packed_values": "NULL",
    },
}
# Tables left out entirely unless --with-secrets.
SECRET_TABLES: frozenset[str] = frozenset({"sessions.session"})

Progress = Callable[[str], None]


class ArchiveError(Exception):
    """The archive cannot be written or read; the message says why. Nothing was created."""


def _noop(_message: str) -> None:
    return None


# ------------------------------------------------------------------------------------------------ tables


def _tenant_app_configs():
    tenant_apps = set(settings.TENANT_APPS)
    return [config for config in apps.get_app_configs() if config.name in tenant_apps]


def tenant_models() -> list[type[models.Model]]:
    """Every managed, concrete model stored in a tenant schema, parents before the models that point at them.

    Cycles (possible with nullable foreign keys) are ordered by the required keys alone, and failing that by label:
    PostgreSQL foreign keys created by Django are DEFERRABLE INITIALLY DEFERRED, so rows loaded in one transaction
    are checked at commit anyway.
    """
    found = sorted(
        (
            model
            for config in _tenant_app_configs()
            for model in config.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy and not model._meta.swapped
        ),
        key=lambda model: model._meta.label_lower,
    )
    members = set(found)

    def order(required_only: bool) -> list[type[models.Model]]:
        graph = {
            model: sorted(
                {
                    f.related_model
                    for f in model._meta.concrete_fields
                    if f.is_relation
                    and f.related_model in members
                    and f.related_model is not model
                    and not (required_only and f.null)
                },
                key=lambda m: m._meta.label_lower,
            )
            for model in found
        }
        return list(TopologicalSorter(graph).static_order())

    try:
        return order(required_only=False)
    except CycleError:
        pass
    try:  # a cycle through nullable keys (e.g. a training run and the model version it produced): order by the rest
        return order(required_only=True)
    except CycleError:
        return found


def model_columns(model: type[models.Model]) -> list[str]:
    """Stored columns of ``model``; generated columns are left out (PostgreSQL recomputes them on import)."""
    return [f.column for f in model._meta.concrete_fields if not f.generated]


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


# ------------------------------------------------------------------------------------------------ export


@dataclass
class ExportResult:
    path: Path
    sha256: str
    size: int
    manifest: dict

    @property
    def row_count(self) -> int:
        return sum(table["rows"] for table in self.manifest["tables"])

    @property
    def file_count(self) -> int:
        return len(self.manifest["files"])


class _HashingReader(io.RawIOBase):
    """Read-through wrapper computing SHA-256 of what tarfile copies from a storage file."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent, read-only view of all tables (REPEATABLE READ) unless already inside a transaction."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _applied_migrations() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM {_qn('django_migrations')} ORDER BY app, id")  # noqa: S608
        applied: dict[str, list[str]] = {}
        for app, name in cursor.fetchall():
            applied.setdefault(app, []).append(name)
    return applied


def _referenced_files(model_list) -> set[str]:
    names = set()
    for model in model_list:
        for f in model._meta.concrete_fields:
            if isinstance(f, models.FileField):
                names.update(
                    n for n in model._base_manager.exclude(**{f.attname: ""}).values_list(f.attname, flat=True) if n
                )
    return names


def write_archive(tenant, out_path: Path, *, with_secrets: bool = False, progress: Progress = _noop) -> ExportResult:
    """Write ``tenant``'s archive to ``out_path`` (atomically: a partial archive never carries the final name)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model_list = tenant_models()
    manifest: dict = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "django_version": django.get_version(),
        "with_secrets": with_secrets,
        "tenant": {
            "schema_name": tenant.schema_name,
            "name": tenant.name,
            "is_active": tenant.is_active,
            "domains": [{"domain": d.domain, "is_primary": d.is_primary} for d in tenant.domains.order_by("domain")],
            "plan": {
                "max_users": tenant.max_users,
                "max_projects": tenant.max_projects,
                "max_artifacts": tenant.max_artifacts,
                "max_storage_mb": tenant.max_storage_mb,
            },
        },
        "tables": [],
        "skipped_tables": [],
        "files": [],
        "missing_files": [],
    }
    partial = out_path.with_name(out_path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="maestro-export-", dir=out_path.parent) as workdir:
        workdir = Path(workdir)
        (workdir / "data").mkdir()
        with schema_context(tenant.schema_name), _snapshot():
            manifest["migrations"] = _applied_migrations()
            for index, model in enumerate(model_list, start=1):
                label = model._meta.label_lower
                if label in SECRET_TABLES and not with_secrets:
                    manifest["skipped_tables"].append(
                        {"model": label, "table": model._meta.db_table, "reason": "secrets (use --with-secrets)"}
                    )
                    progress(f"[{index}/{len(model_list)}] {label}: skipped (holds secrets)")
                    continue
                entry = _export_table(model, workdir, with_secrets=with_secrets)
                manifest["tables"].append(entry)
                progress(f"[{index}/{len(model_list)}] {label}: {entry['rows']} rows")
            storage = tenant_storage(tenant.schema_name)
            file_names = [key for key, _size in storage.walk("")]
            manifest["missing_files"] = sorted(_referenced_files(model_list) - set(file_names))
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                for entry in manifest["tables"]:
                    tar.add(workdir / entry["member"], arcname=entry["member"], recursive=False)
                for count, name in enumerate(file_names, start=1):
                    manifest["files"].append(_add_storage_file(tar, storage, name))
                    if count % 100 == 0 or count == len(file_names):
                        progress(f"files: {count}/{len(file_names)}")
                payload = json.dumps(manifest, indent=2, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size = len(payload)
                info.mtime = int(timezone.now().timestamp())
                tar.addfile(info, io.BytesIO(payload))
    os.replace(partial, out_path)
    digest = _file_sha256(out_path)
    return ExportResult(path=out_path, sha256=digest, size=out_path.stat().st_size, manifest=manifest)


def primary_key_columns(model) -> list[str]:
    """The primary key's column(s): one for ordinary models, several for a composite primary key."""
    return [field.column for field in model._meta.pk_fields]


def _export_table(model, workdir: Path, *, with_secrets: bool) -> dict:
    label = model._meta.label_lower
    columns = model_columns(model)
    redacted = {} if with_secrets else SECRET_COLUMNS.get(label, {})
    derived = DERIVED_COLUMNS.get(label, {})
    replaced = {**redacted, **derived}
    select = ", ".join(f"{replaced[c]} AS {_qn(c)}" if c in replaced else _qn(c) for c in columns)
    table = f"{_qn(connection.schema_name)}.{_qn(model._meta.db_table)}"
    key_columns = primary_key_columns(model)
    order = ", ".join(_qn(c) for c in key_columns)
    sql = f"COPY (SELECT {select} FROM {table} ORDER BY {order}) TO STDOUT"  # noqa: S608
    member = f"data/{label}.copy"
    digest, rows, size = hashlib.sha256(), 0, 0
    with open(workdir / member, "wb") as out, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in copy:
            data = bytes(chunk)
            out.write(data)
            digest.update(data)
            rows += data.count(b"\n")
            size += len(data)
    return {
        "model": label,
        "table": model._meta.db_table,
        "columns": columns,
        "primary_key": key_columns if len(key_columns) > 1 else key_columns[0],
        "rows": rows,
        "member": member,
        "size": size,
        "sha256": digest.hexdigest(),
        "redacted_columns": sorted(redacted),
        "derived_columns": sorted(derived),
    }


def _add_storage_file(tar: tarfile.TarFile, storage, name: str) -> dict:
    member = f"files/{name}"
    info = tarfile.TarInfo(member)
    info.size = storage.size(name)
    info.mtime = int(storage.get_modified_time(name).timestamp())
    with storage.open_stream(name) as raw:
        reader = _HashingReader(raw)
        tar.addfile(info, reader)
    if reader.size != info.size:
        raise ArchiveError(f"File {name} changed while it was being exported; export again.")
    return {"path": name, "member": member, "size": info.size, "sha256": reader.digest.hexdigest()}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ read + verify


@dataclass
class VerifiedArchive:
    """An archive extracted to ``workdir`` whose every member matched the manifest."""

    workdir: Path
    manifest: dict
    models: dict[str, type[models.Model]] = field(default_factory=dict)

    def member_path(self, member: str) -> Path:
        return self.workdir / member


def _safe_member_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name != str(path):
        raise ArchiveError(f"Unsafe member name in archive: {name!r}.")
    if name != MANIFEST_NAME and path.parts[0] not in ("data", "files"):
        raise ArchiveError(f"Unexpected member in archive: {name!r}.")
    return name


def read_archive(path: Path, workdir: Path, *, progress: Progress = _noop) -> VerifiedArchive:
    """Extract and verify ``path`` into ``workdir``; raise ArchiveError on any inconsistency."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path} does not exist or is not a file.")
    digests: dict[str, tuple[str, int]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = _safe_member_name(member.name)
                if not member.isfile():
                    raise ArchiveError(f"Archive member {name!r} is not a regular file.")
                if name in digests:
                    raise ArchiveError(f"Archive member {name!r} appears twice.")
                target = workdir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                source = tar.extractfile(member)
                with open(target, "wb") as out:
                    while chunk := source.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                digests[name] = (digest.hexdigest(), member.size)
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"{path.name} is truncated or corrupted ({type(exc).__name__}: {exc}).") from exc
    progress(f"read {len(digests)} members from {path.name}")
    if MANIFEST_NAME not in digests:
        raise ArchiveError(f"{path.name} has no {MANIFEST_NAME}: it is truncated or not a Maestro tenant export.")
    try:
        manifest = json.loads((workdir / MANIFEST_NAME).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{MANIFEST_NAME} is not valid JSON: the archive is corrupted.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ArchiveError(f"{path.name} is not a Maestro tenant export (format {manifest.get('format')!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"Archive format version {manifest.get('format_version')!r} is not supported "
            f"(this Maestro reads version {FORMAT_VERSION})."
        )
    _verify_members(manifest, digests, workdir)
    archive = VerifiedArchive(workdir=workdir, manifest=manifest)
    archive.models = _verify_compatible(manifest)
    progress(f"verified {len(manifest['tables'])} tables and {len(manifest['files'])} files (SHA-256)")
    return archive


def _verify_members(manifest: dict, digests: dict[str, tuple[str, int]], workdir: Path) -> None:
    listed = {MANIFEST_NAME}
    for entry in [*manifest.get("tables", []), *manifest.get("files", [])]:
        member = entry.get("member")
        listed.add(member)
        if member not in digests:
            raise ArchiveError(f"Member {member!r} listed in the manifest is missing: the archive is truncated.")
        digest, size = digests[member]
        if digest != entry.get("sha256") or size != entry.get("size"):
            raise ArchiveError(f"Member {member!r} does not match its SHA-256 in the manifest: it is corrupted.")
    for entry in manifest.get("tables", []):
        with open(workdir / entry["member"], "rb") as handle:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(CHUNK), b""))
        if rows != entry.get("rows"):
            raise ArchiveError(f"Table {entry['model']} has {rows} rows, the manifest says {entry.get('rows')}.")
    for entry in manifest.get("files", []):
        _safe_member_name(entry["member"])
        if entry["member"] != f"files/{entry['path']}":
            raise ArchiveError(f"File entry {entry['path']!r} does not match its member name.")
    unlisted = sorted(set(digests) - listed)
    if unlisted:
        raise ArchiveError(f"Members not listed in the manifest: {', '.join(unlisted[:5])}.")


def _verify_compatible(manifest: dict) -> dict[str, type[models.Model]]:
    """Every archived table must be a tenant model of this code with at least the archived columns, and every
    column this code has but the archive lacks must be nullable."""
    current = {model._meta.label_lower: model for model in tenant_models()}
    from django.db.migrations.loader import MigrationLoader

    known_migrations = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = [
        f"{app}.{name}"
        for app, names in manifest.get("migrations", {}).items()
        for name in names
        if (app, name) not in known_migrations and app in {c.label for c in _tenant_app_configs()}
    ]
    if unknown:
        raise ArchiveError(
            f"The archive was made by a newer Maestro (unknown migrations: {', '.join(unknown[:5])}); "
            "import it with that release."
        )
    resolved = {}
    for entry in manifest["tables"]:
        model = current.get(entry["model"])
        if model is None or model._meta.db_table != entry["table"]:
            raise ArchiveError(f"Table {entry['model']} ({entry['table']}) is unknown to this Maestro.")
        columns = model_columns(model)
        extra = [c for c in entry["columns"] if c not in columns]
        if extra:
            raise ArchiveError(f"Table {entry['table']} has columns this Maestro lacks: {', '.join(extra)}.")
        for f in model._meta.concrete_fields:
            if f.generated:
                continue
            if f.column not in entry["columns"] and not (f.null or f.has_db_default()):
                raise ArchiveError(
                    f"Table {entry['table']} lacks the required column {f.column}; import with the release that "
                    "made the archive."
                )
        resolved[entry["model"]] = model
    return resolved


# ------------------------------------------------------------------------------------------------ load


def load_rows(archive: VerifiedArchive, *, progress: Progress = _noop) -> int:
    """Replace every tenant table of the current schema by the archive's rows; reset sequences; return row count.

    Must run inside a transaction in the target schema: the fresh schema's rows made by migrations (content types,
    permissions, defaults) are truncated first so the archive's rows — and primary keys — are restored exactly.
    The append-only audit tables are not truncated (their triggers refuse it); they must still be empty.
    """
    assert connection.in_atomic_block, "load_rows must run inside transaction.atomic()"
    schema = connection.schema_name
    append_only = {m._meta.db_table for m in APPEND_ONLY_MODELS}
    emptied = [f"{_qn(schema)}.{_qn(m._meta.db_table)}" for m in tenant_models() if m._meta.db_table not in append_only]
    with connection.cursor() as cursor:
        # Fire the foreign-key checks the migrations left pending (TRUNCATE refuses tables with pending trigger
        # events), empty every table, then defer the checks again while the rows are loaded in any order.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(emptied)} RESTART IDENTITY CASCADE")
        # The audit trail refuses TRUNCATE (and DELETE): a fresh schema has none, and nothing may empty one.
        for table in sorted(append_only):
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_qn(schema)}.{_qn(table)})")  # noqa: S608
            if cursor.fetchone()[0]:
                raise ArchiveError(f"Table {table} of the new schema is not empty; it is append-only.")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    total = 0
    tables = archive.manifest["tables"]
    for index, entry in enumerate(tables, start=1):
        columns = ", ".join(_qn(c) for c in entry["columns"])
        sql = f"COPY {_qn(schema)}.{_qn(entry['table'])} ({columns}) FROM STDIN"
        with (
            open(archive.member_path(entry["member"]), "rb") as handle,
            connection.cursor() as cursor,
            cursor.cursor.copy(sql) as copy,
        ):
            while chunk := handle.read(CHUNK):
                copy.write(chunk)
        total += entry["rows"]
        progress(f"[{index}/{len(tables)}] {entry['model']}: {entry['rows']} rows")
    with connection.cursor() as cursor:
        # Check the deferred foreign keys now, inside this block, rather than at some later commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in connection.ops.sequence_reset_sql(_no_style(), list(archive.models.values())):
            cursor.execute(statement)
        for entry in tables:
            cursor.execute(f"SELECT count(*) FROM {_qn(schema)}.{_qn(entry['table'])}")  # noqa: S608
            (count,) = cursor.fetchone()
            if count != entry["rows"]:
                raise ArchiveError(f"Table {entry['table']}: loaded {count} rows, expected {entry['rows']}.")
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    return total


def _no_style():
    from django.core.management.color import no_style

    return no_style()


def restore_files(archive: VerifiedArchive, *, written: list[str], progress: Progress = _noop) -> int:
    """Write the archive's files into the current tenant's storage (streamed, local disk or S3 alike); every key
    written is appended to ``written`` (for cleanup if the import fails later)."""
    storage = tenant_storage()
    files = archive.manifest["files"]
    for count, entry in enumerate(files, start=1):
        if storage.exists(entry["path"]):
            raise ArchiveError(f"Storage already had a file at {entry['path']}; nothing was imported.")
        with open(archive.member_path(entry["member"]), "rb") as handle:
            written.append(entry["path"])
            storage.save_stream(entry["path"], handle)
        if count % 100 == 0 or count == len(files):
            progress(f"files: {count}/{len(files)}")
    return len(files)


def remove_written(written: list[str], schema: str) -> None:
    """Undo ``restore_files``: the import began only with the tenant's storage empty, so everything in it now is what
    the import wrote (``written``) — remove it all, directories included."""
    try:
        tenant_storage(schema).delete_prefix("")
    except OSError:  # best effort: the import fails anyway, and says so
        logger.warning("could not remove the files of a failed import", extra={"schema": schema, "files": len(written)})
