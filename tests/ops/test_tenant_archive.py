"""export_tenant / import_tenant: every row and file round-trips; bad archives are refused and create nothing."""

import gzip
import json
import shutil
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.services import token_create, user_create
from apps.ops.archive import DERIVED_COLUMNS, FORMAT_VERSION, MANIFEST_NAME, tenant_models
from apps.ops.models import TenantExport
from apps.tenants.models import Domain, Tenant
from tests.ops.archive_helpers import files_of, media_root, read_members, rows_of, write_members
from tests.support.rows import populate_every_tenant_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def cleanup_media():
    """Remove media directories of tenants a test creates, and files it adds to existing tenants."""
    created: list[str] = []
    before = {schema: set(files_of(schema)) for schema in ("alpha", "beta")}
    yield created
    for schema in created:
        shutil.rmtree(media_root(schema), ignore_errors=True)
    for schema, names in before.items():
        for name in set(files_of(schema)) - names:
            (media_root(schema) / name).unlink()


def _nothing_created(slug: str) -> None:
    assert not Tenant.objects.filter(schema_name=slug).exists()
    assert not Domain.objects.filter(domain=f"{slug}.localhost").exists()
    assert not schema_exists(slug)
    assert not media_root(slug).exists()


def _export(slug: str, path, *extra) -> str:
    out = StringIO()
    call_command("export_tenant", slug, "--out", str(path), *extra, stdout=out)
    return out.getvalue()


def test_round_trip_restores_every_table_row_and_file_hash(tenant_a, tmp_path, cleanup_media):
    cleanup_media.append("alpha-copy")
    with tenant_a.context():
        counts = populate_every_tenant_model()
        storages["default"].save("notes/loose-file.bin", ContentFile(bytes(range(256)) * 8))
    assert [label for label, count in counts.items() if count == 0] == []
    assert len(counts) == len(tenant_models()) >= 20

    archive = tmp_path / "alpha.tar.gz"
    output = _export("alpha", archive, "--with-secrets")
    assert f"[1/{len(counts)}]" in output and "rows" in output and "Exported 'alpha'" in output
    record = TenantExport.objects.get(schema_name="alpha", path=str(archive.resolve()))
    assert record.row_count == sum(counts.values()) - counts["sessions.session"] * 0
    assert record.with_secrets and record.file_count == len(files_of("alpha"))

    out = StringIO()
    call_command("import_tenant", str(archive), "--slug", "alpha-copy", "--domain", "alpha-copy.localhost", stdout=out)
    assert "verified" in out.getvalue() and "Imported into 'alpha-copy'" in out.getvalue()

    # Derived columns (caches the code rebuilds) are exported as NULL: compare them as such.
    with schema_context("alpha"), connection.cursor() as cursor:
        for label, columns in DERIVED_COLUMNS.items():
            table = apps.get_model(label)._meta.db_table
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {' AND '.join(f'{c} IS NOT NULL' for c in columns)}")
            assert cursor.fetchone()[0] > 0, label  # the source really had values to leave out
            cursor.execute(f"UPDATE {table} SET {', '.join(f'{c} = NULL' for c in columns)}")
    source, restored = rows_of("alpha"), rows_of("alpha-copy")
    assert source.keys() == restored.keys()
    for label in source:
        assert restored[label] == source[label], label
    assert files_of("alpha-copy") == files_of("alpha") != {}

    copy = Tenant.objects.get(schema_name="alpha-copy")
    assert (copy.name, copy.max_users, copy.max_storage_mb) == ("Alpha Analytics", 50, 10_240)
    assert copy.get_primary_domain().domain == "alpha-copy.localhost"
    with schema_context("alpha-copy"):
        highest = get_user_model().objects.order_by("-pk").first().pk
        assert user_create(username="after-restore", email="n@x.test").pk > highest  # sequences were reset
    # With secrets, the admin's password still works on the restored tenant's own host.
    response = tenant_a.client().post(
        "/accounts/login/",
        {"username": "admin", "password": tenant_a.admin_password},
        HTTP_HOST="alpha-copy.localhost",
    )
    assert response.status_code == 302


def test_export_without_secrets_holds_no_password_token_or_session(tenant_b, tmp_path, cleanup_media):
    cleanup_media.append("beta-plain")
    with tenant_b.context():
        admin = get_user_model().objects.get(username="admin")
        created = token_create(user=admin, name="ci")
        Session.objects.create(
            session_key="s" * 32, session_data="secret-session", expire_date=timezone.now() + timezone.timedelta(1)
        )
    archive = tmp_path / "beta.tar.gz"
    _export("beta", archive)
    raw = b"".join(read_members(archive).values())
    assert admin.password.encode() not in raw
    assert created.token.key_hash.encode() not in raw
    assert b"secret-session" not in raw and b"s" * 32 not in raw
    manifest = json.loads(read_members(archive)[MANIFEST_NAME])
    assert manifest["format_version"] == FORMAT_VERSION and manifest["with_secrets"] is False
    assert {"model": "sessions.session", "table": "django_session", "reason": "secrets (use --with-secrets)"} in (
        manifest["skipped_tables"]
    )
    tables = {entry["model"]: entry for entry in manifest["tables"]}
    assert tables["accounts.user"]["redacted_columns"] == ["password"]
    assert tables["accounts.apitoken"]["redacted_columns"] == ["key_hash"]

    call_command("import_tenant", str(archive), "--slug", "beta-plain", stdout=StringIO())
    with schema_context("beta-plain"):
        restored = get_user_model().objects.get(username="admin")
        assert restored.pk == admin.pk and not restored.has_usable_password()
        assert not Session.objects.exists()


@pytest.fixture
def beta_archive(tenant_b, tmp_path, cleanup_media):
    with tenant_b.context():
        storages["default"].save("docs/spec.txt", ContentFile(b"beta spec\n"))
    archive = tmp_path / "beta.tar.gz"
    _export("beta", archive)
    return archive


def _refused(archive, slug, match):
    with pytest.raises(CommandError, match=match):
        call_command("import_tenant", str(archive), "--slug", slug, stdout=StringIO())
    _nothing_created(slug)


def test_flipped_byte_is_refused_and_creates_nothing(beta_archive):
    data = bytearray(beta_archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    beta_archive.write_bytes(bytes(data))
    _refused(beta_archive, "beta-flip", r"Nothing was imported: .*(corrupted|truncated)")


def test_truncated_archive_is_refused_and_creates_nothing(beta_archive):
    beta_archive.write_bytes(beta_archive.read_bytes()[: beta_archive.stat().st_size // 2])
    _refused(beta_archive, "beta-cut", r"truncated or corrupted")


def test_member_changed_inside_a_valid_gzip_fails_its_checksum(beta_archive):
    members = read_members(beta_archive)
    members["data/accounts.user.copy"] = members["data/accounts.user.copy"].replace(b"admin", b"admon")
    write_members(beta_archive, members, fix_manifest=False)
    _refused(beta_archive, "beta-edit", r"data/accounts.user.copy.*does not match its SHA-256")


def test_missing_member_and_unknown_version_and_foreign_tarball_are_refused(beta_archive, tmp_path):
    members = read_members(beta_archive)
    without_file = {k: v for k, v in members.items() if k != "files/docs/spec.txt"}
    _refused(write_members(tmp_path / "a.tar.gz", without_file, fix_manifest=False), "beta-miss", "is missing")

    manifest = json.loads(members[MANIFEST_NAME])
    manifest["format_version"] = 99
    future = {**members, MANIFEST_NAME: json.dumps(manifest).encode()}
    _refused(write_members(tmp_path / "b.tar.gz", future, fix_manifest=False), "beta-future", "version 99")

    foreign = write_members(tmp_path / "c.tar.gz", {"data/x.copy": b"1\n"}, fix_manifest=False)
    _refused(foreign, "beta-foreign", "no manifest.json")
    (tmp_path / "d.tar.gz").write_bytes(gzip.compress(b"not a tar at all"))
    _refused(tmp_path / "d.tar.gz", "beta-notar", "truncated or corrupted")


def test_rows_that_cannot_load_roll_back_tenant_schema_and_files(beta_archive):
    """Checksums are consistent, but a duplicated primary key makes COPY fail after the files were written."""
    members = read_members(beta_archive)
    users = members["data/accounts.user.copy"]
    members["data/accounts.user.copy"] = users + users.splitlines(keepends=True)[0]
    write_members(beta_archive, members, fix_manifest=True)
    _refused(beta_archive, "beta-dup", r"rows could not be loaded .*duplicate key")


def test_import_refuses_a_taken_slug_or_domain_before_reading(beta_archive):
    with pytest.raises(CommandError, match="already exists"):
        call_command("import_tenant", str(beta_archive), "--slug", "alpha", stdout=StringIO())
    with pytest.raises(CommandError, match="already in use"):
        call_command(
            "import_tenant", str(beta_archive), "--slug", "beta-dom", "--domain", "alpha.localhost", stdout=StringIO()
        )
    _nothing_created("beta-dom")
