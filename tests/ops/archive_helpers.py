"""Helpers for archive tests: table contents, stored files, and re-packing archives."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from django.conf import settings
from django.db import connection

from apps.ops.archive import MANIFEST_NAME, primary_key_columns, tenant_models


def rows_of(schema: str) -> dict[str, list[str]]:
    """Every row of every tenant table of ``schema`` as PostgreSQL's text form, in primary-key order."""
    qn = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        for model in tenant_models():
            table = f"{qn(schema)}.{qn(model._meta.db_table)}"
            order = ", ".join(f"t.{qn(column)}" for column in primary_key_columns(model))
            cursor.execute(f"SELECT t::text FROM {table} t ORDER BY {order}")
            out[model._meta.label_lower] = [row[0] for row in cursor.fetchall()]
    return out


def media_root(schema: str) -> Path:
    return Path(settings.MEDIA_ROOT) / schema


def files_of(schema: str) -> dict[str, str]:
    root = media_root(schema)
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def write_members(archive: Path, members: dict[str, bytes], *, fix_manifest: bool) -> Path:
    """Re-pack ``members``; with ``fix_manifest`` the manifest's sizes, hashes and row counts are recomputed."""
    members = dict(members)
    if fix_manifest:
        manifest = json.loads(members[MANIFEST_NAME])
        for entry in [*manifest["tables"], *manifest["files"]]:
            data = members[entry["member"]]
            entry["size"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            if "rows" in entry:
                entry["rows"] = data.count(b"\n")
        members[MANIFEST_NAME] = json.dumps(manifest).encode()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive
