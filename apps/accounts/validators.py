"""The username character set: ASCII letters, digits and ``. _ - @``.

Django's default validator also allows ``+`` and any Unicode letter, which lets look-alike names (Cyrillic "а" for
Latin "a") and names that break out of places they are shown unquoted (mentions, shell snippets, CSV). Usernames are
shown in audit logs, exports and commands, so they keep to a set that needs no escaping anywhere and reads the same
to everyone. The same check runs in the model field (Django admin, ``full_clean``), the services (API and dashboard)
and the forms; ``manage.py usernames_check`` lists existing users outside the set (they can still sign in).
"""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

USERNAME_CHARACTERS = "letters (a–z, A–Z), digits and . _ - @"
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]+\Z")
USERNAME_MESSAGE = f"A username may contain only {USERNAME_CHARACTERS}: no spaces or other characters."

validate_username = RegexValidator(USERNAME_RE, USERNAME_MESSAGE, code="invalid_username")


def username_problem(username: str) -> str | None:
    """What is wrong with ``username`` (None when it is fine), in words a person understands."""
    if not username or len(username) > 150:
        return "A username of 1–150 characters is required."
    if not USERNAME_RE.match(username):
        bad = sorted({char for char in username if not re.match(r"[A-Za-z0-9._@-]", char)})
        shown = ", ".join("space" if char == " " else repr(char) for char in bad)
        return f"A username may contain only {USERNAME_CHARACTERS}; not {shown}."
    return None
