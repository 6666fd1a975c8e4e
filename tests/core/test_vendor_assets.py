"""Front-end libraries are served from static/vendor/, exactly as pinned (package, version, SHA-256)."""

import hashlib
import json
from pathlib import Path

from django.conf import settings

VENDOR = Path(settings.BASE_DIR) / "static" / "vendor"


def test_vendored_files_match_the_manifest_and_package_json():
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    pinned = json.loads((Path(settings.BASE_DIR) / "package.json").read_text())["dependencies"]
    assert set(manifest) == {p.name for p in VENDOR.iterdir() if p.name != "MANIFEST.json"}
    for name, entry in manifest.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert pinned[entry["package"]] == entry["version"], name


def test_vendored_assets_are_served_by_whitenoise(client):
    response = client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)


def test_collectstatic_succeeds_with_the_production_manifest_storage(tmp_path):
    """Production serves hashed, compressed files; every reference inside CSS/JS (e.g. source maps) must resolve."""
    from django.core.management import call_command
    from django.test import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert "vendor/htmx.min.js" in manifest and "css/maestro.css" in manifest
