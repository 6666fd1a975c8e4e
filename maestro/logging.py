"""Logging helpers: context on every record (request id, tenant, actor) and redaction of secrets.

Redaction happens twice, on purpose:

* ``RedactingFilter`` (on the handler) replaces the values of sensitive *fields* — ``password``, ``token``,
  ``authorization``, ``secret``, ``cookie``, … in ``extra={...}`` dicts, at any nesting depth — and rewrites the
  message text;
* the formatters pass their final output through ``redact_text``, which catches what no field name reveals:
  Maestro API tokens (``mae_<tenant>_<prefix>_<secret>`` keeps tenant and prefix, drops the secret),
  ``Authorization: Bearer …`` / ``Basic …`` values, ``password=…`` pairs (query strings, form dumps, exception
  messages) and session cookies.

Hand-written because no maintained library covers Maestro's token format; the rules are small regular expressions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from maestro.context import actor_var, request_id_var, tenant_var

REDACTED = "[REDACTED]"
SENSITIVE_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authorization|api[_-]?key|cookie|session[_-]?id|csrf|credential|key_hash",
    re.IGNORECASE,
)
# Keys that look sensitive but carry only public identifiers.
SAFE_KEYS = frozenset({"token_prefix", "prefix"})

# Rules whose replacement and matched characters contain no quotes or backslashes: safe to apply to an already
# JSON-encoded line without breaking it.
_SAFE_RULES: list[tuple[re.Pattern[str], str]] = [
    # Maestro API tokens: keep the routing part and the public prefix, drop the secret.
    (re.compile(r"\b(mae_[a-z0-9-]{1,63}_[0-9a-f]{8})_[0-9a-f]{6,}"), r"\1_" + REDACTED),
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # "Basic <base64>" as the HTTP scheme is written (capitalised), or after "Authorization:" in any case.
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/=]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?basic)\s+[A-Za-z0-9+/=]{8,}"), r"\1 " + REDACTED),
    # Session and CSRF cookie values.
    (re.compile(r"(?i)\b(sessionid|csrftoken)=[^;\s\"'\\]+"), r"\1=" + REDACTED),
]
# password=..., "password": "...", passwd: ... in raw text (messages, exception text) before JSON encoding.
_PAIR_RULE = (
    re.compile(
        r"""(?i)(["']?\b(?:pass(?:word|wd|phrase)?\d?|secret|api[_-]?key|csrfmiddlewaretoken)["']?\s*[=:]\s*)"""
        r"""(?:"[^"]*"|'[^']*'|[^\s&,;"'}]+)"""
    ),
    r"\1" + REDACTED,
)


def redact_text(text: str) -> str:
    """Remove token-shaped strings, credentials in headers and password-like pairs from free text."""
    for pattern, replacement in (*_SAFE_RULES, _PAIR_RULE):
        text = pattern.sub(replacement, text)
    return text


def redact_encoded(line: str) -> str:
    """The final pass over an already formatted (possibly JSON) line: only rules that cannot break the encoding."""
    for pattern, replacement in _SAFE_RULES:
        line = pattern.sub(replacement, line)
    return line


def redact_value(value: Any, key: str | None = None, _depth: int = 0) -> Any:
    """Redact a structured value: sensitive keys lose their value, strings are scrubbed, containers recursed."""
    if key is not None and key not in SAFE_KEYS and SENSITIVE_KEY_RE.search(key):
        return REDACTED if value not in (None, "") else value
    if _depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k), _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, None, _depth + 1) for v in value)
    return value


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.actor = actor_var.get()
        return True


class RedactingFilter(logging.Filter):
    """Scrub the message and every ``extra`` attribute of a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping):
            record.msg = redact_value(record.msg)
            return self._redact_extras(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not lose the record; logging reports it itself
            return True
        record.msg = redact_text(message)
        record.args = None
        return self._redact_extras(record)

    @staticmethod
    def _redact_extras(record: logging.LogRecord) -> bool:
        for name, value in list(vars(record).items()):
            if name in _STANDARD_ATTRS or name in ("request_id", "tenant", "actor"):
                continue
            setattr(record, name, redact_value(value, name))
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter: tracebacks are redacted as text, then each line gets a final pass."""

    def formatException(self, ei) -> str:
        return redact_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact_text(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        return redact_encoded(super().format(record))


class RedactingFormatter(logging.Formatter):
    """The plain-text formatter with the same final redaction pass."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))
