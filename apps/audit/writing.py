"""One audit event in one SQL statement: the write every audited request pays for.

Every audited write records an event, each MLflow ``runs/log-metric`` call included, so its cost is part of the fixed
cost of a request (issue 24). Through the ORM an event was three statements: the actor's identity upsert,
``AuditEvent.objects.create`` and ``AuditEventDetail.objects.create``. Here the three are data-modifying CTEs of one
statement whose text is built once per process from the models' columns (one text per combination of "names a
user" and "has a detail"); the values are converted as the ORM converts them (JSON fields as JSON text, the rest as
they are); no model is saved, only the returned instances are built (``Model.from_db``, a few µs). Measured with
``bench/request_budget.py --requests 300``, five runs alternated with five of the ORM version on a loaded machine:
the audit stage of one ``runs/log-metric`` went from 1.58 to 0.55 ms of Python CPU (medians of the runs' p50s), and
PostgreSQL's CPU per request from 3.03 to 2.63 ms (medians; the runs spread by more than that, see
docs/performance.md, "Per-request budget").

Nothing about the event changes: the same rows with the same values, in the caller's transaction (the event commits
or rolls back with the write it records), all three inserts succeeding or failing together. The identity keeps its
rules: written when missing, renamed when the name changed, never when erased (an erased identity stays erased), and
no row lock unless it is written, so concurrent writes by one user do not queue on it. It is one INSERT that finds
nothing to insert in the common case (the name is known, or erased), and otherwise inserts or, on conflict, renames
unless erased (re-checked on the locked row). It replaced an UPDATE plus an INSERT … DO NOTHING with the same
outcome, ~0.05 ms of PostgreSQL CPU cheaper (one sub-statement and one index probe less). No model signals are sent for
the audit rows; none are connected (the registry exempts the audit models).
The statement holds no schema name: django-tenants' ``search_path`` routes it to the current tenant's tables.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from django.db import connection, models

from apps.audit.models import AuditEvent, AuditEventDetail, AuditIdentity
from maestro.db import server_binding

_EVENT_FIELDS = tuple(field for field in AuditEvent._meta.concrete_fields if not field.primary_key)
_DETAIL_FIELDS = tuple(field for field in AuditEventDetail._meta.concrete_fields if not field.primary_key)
_EVENT_NAMES = ("id", *(field.attname for field in _EVENT_FIELDS))
_DETAIL_NAMES = ("event_id", *(field.attname for field in _DETAIL_FIELDS))


def _placeholder(field: models.Field) -> str:
    if isinstance(field, models.JSONField):
        return "%s::jsonb"
    if isinstance(field, models.GenericIPAddressField):
        return "%s::inet"
    return "%s"


def _placeholders(fields: tuple[models.Field, ...]) -> str:
    return ", ".join(_placeholder(field) for field in fields)


def _columns(fields: tuple[models.Field, ...]) -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in fields)


@functools.cache
def statement(*, with_identity: bool, with_detail: bool) -> str:
    """The SQL text that writes one event (and the actor's identity, and the detail), returning the event's id.
    Table and column names come from the models (hence the S608 exemptions), every value is a parameter."""
    quote = connection.ops.quote_name
    identities, events, details = (quote(m._meta.db_table) for m in (AuditIdentity, AuditEvent, AuditEventDetail))
    event_pk, detail_pk = quote(AuditEvent._meta.pk.column), quote(AuditEventDetail._meta.pk.column)
    parts = []
    if with_identity:
        parts.append(
            f"noted AS (INSERT INTO {identities} AS known (actor_id, username) SELECT %s, %s "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {identities} WHERE actor_id = %s "
            "AND (username = %s OR erased_at IS NOT NULL)) "
            "ON CONFLICT (actor_id) DO UPDATE SET username = EXCLUDED.username WHERE known.erased_at IS NULL)"
        )
    parts.append(
        f"event AS (INSERT INTO {events} ({_columns(_EVENT_FIELDS)}) "  # noqa: S608
        f"VALUES ({_placeholders(_EVENT_FIELDS)}) RETURNING {event_pk})"
    )
    if with_detail:
        parts.append(
            f"detail AS (INSERT INTO {details} ({detail_pk}, {_columns(_DETAIL_FIELDS)}) "  # noqa: S608
            f"VALUES ((SELECT {event_pk} FROM event), {_placeholders(_DETAIL_FIELDS)}))"
        )
    return f"WITH {', '.join(parts)} SELECT {event_pk} FROM event"  # noqa: S608


def _db_values(fields: tuple[models.Field, ...], values: dict[str, Any]) -> list[Any]:
    return [
        json.dumps(values[field.attname]) if isinstance(field, models.JSONField) else values[field.attname]
        for field in fields
    ]


def event_insert(
    *, event: dict[str, Any], detail: dict[str, Any] | None = None, identity: tuple[int, str] | None = None
) -> AuditEvent:
    """Write one event in one statement and return it as the ORM would have (with ``detail`` when one was written).

    ``event`` and ``detail`` map every column of ``AuditEvent`` / ``AuditEventDetail`` but the keys (by attribute
    name, e.g. ``actor_id``) to values already checked and masked by the caller; ``identity`` is (actor id,
    username) when the event names a user.
    """
    params: list[Any] = []
    if identity is not None:
        actor_id, username = identity
        params += [actor_id, username, actor_id, username]
    params += _db_values(_EVENT_FIELDS, event)
    if detail is not None:
        params += _db_values(_DETAIL_FIELDS, detail)
    with server_binding(), connection.cursor() as cursor:  # kept prepared: one text per combination
        cursor.execute(statement(with_identity=identity is not None, with_detail=detail is not None), params)
        (event_id,) = cursor.fetchone()
    written = AuditEvent.from_db(connection.alias, _EVENT_NAMES, [event_id, *map(event.__getitem__, _EVENT_NAMES[1:])])
    if detail is not None:
        written.detail = AuditEventDetail.from_db(
            connection.alias, _DETAIL_NAMES, [event_id, *map(detail.__getitem__, _DETAIL_NAMES[1:])]
        )
    return written
