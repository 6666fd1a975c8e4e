"""Front-end libraries are served from static/vendor/, exactly as pinned (package, version, SHA-256)."""

import hashlib
import json
from pathlib import Path

from django.conf import settings

VENDOR = Path(settings.BASE_DIR) / "static" / "vendor"


def test_vendored_files_match_the_manifest_and_package_json():
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    pinned = json.loads((Path(settings.BASE_DIR) / "package.json").read_text())["dependencies"]
    assert set(manifest) == {p.name for p in VENDOR.glob("*.js")}
    for name, entry in manifest.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert pinned[entry["package"]] == entry["version"], name


def test_vendored_assets_are_served_by_whitenoise(client):
    response = client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)
