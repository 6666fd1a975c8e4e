"""docs/dashboard.md describes pages that exist and shows screenshots that are committed."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from django.urls import Resolver404, resolve

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _section() -> str:
    return (DOCS / "dashboard.md").read_text()


def test_every_url_in_the_page_table_is_served():
    paths = set()
    for row in re.findall(r"^\| [^|]+ \| ([^|]+) \|", _section(), flags=re.M):
        paths.update(re.findall(r"`(/[^`?…]*)", row))
    assert len(paths) >= 12, paths
    for path in sorted(paths):
        concrete = path.replace("<id>", "1")
        try:
            resolve(concrete)
        except Resolver404:
            raise AssertionError(f"docs/dashboard.md names {path}, which no URL serves") from None


def test_screenshots_are_committed_pngs_1280_wide_and_small():
    images = re.findall(r"!\[[^\]]+\]\((screenshots/[^)]+\.png)\)", _section())
    assert 3 <= len(images) <= 5, images
    for image in images:
        data = (DOCS / image).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", image
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert width == 1280 and 600 <= height <= 1600, (image, width, height)
        assert len(data) < 250 * 1024, (image, len(data))
