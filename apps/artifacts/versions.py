"""Semantic versions (semver.org 2.0.0), parsed with the ``semver`` library."""

from __future__ import annotations

import semver
from django.core.exceptions import ValidationError

MAX_LENGTH = 64


def parse_version(version: str) -> semver.Version:
    """Parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` strictly, or raise a ValidationError naming ``version``."""
    if not isinstance(version, str) or not version.strip():
        raise ValidationError({"version": "A semantic version such as 1.4.0 or 2.0.0-rc.1 is required."})
    version = version.strip()
    hint = " Drop the leading 'v'." if version[:1] in ("v", "V") else ""
    if len(version) > MAX_LENGTH:
        raise ValidationError({"version": f"The version is longer than {MAX_LENGTH} characters."})
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        raise ValidationError(
            {"version": f"'{version}' is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]).{hint}"}
        ) from None
