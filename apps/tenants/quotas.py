"""Plan limits of a tenant (``Tenant.max_users`` / ``max_projects`` / ``max_artifacts`` / ``max_storage_mb``).

Services call ``quota_check(resource, adding=...)`` inside their ``transaction.atomic()`` block, right before the
insert. It locks the tenant row (``SELECT … FOR UPDATE``), so two concurrent creations cannot both take the last
free place, and raises ``QuotaExceeded`` — a 403 in the shared error shape with code ``quota_exceeded`` and a
message naming the limit, the usage and who can raise it.

What counts is what the apps owning the counted rows register (``register_quota_measure``, from their
``AppConfig.ready``), so this base module imports none of them:

* ``users`` — active users of the tenant (service accounts included; deactivated and erased users do not count),
  registered by ``apps.accounts``;
* ``projects`` — all projects (``apps.projects``); ``artifacts`` — all artifacts, inactive ones included
  (``apps.artifacts``);
* ``storage`` — bytes of stored files, against ``max_storage_mb`` × 1 MiB: the sum of every registered storage
  measure (the artifact library's blobs, each once, and MLflow artifact files); ``adding`` is the size in bytes of
  the new content.

The measures run inside ``quota_check`` after the tenant row is locked, as the counts always did. A resource no app
counts is a configuration error (``ImproperlyConfigured``), never an unlimited quota. Sums over rows are registered
as querysets (``register_quota_sum``) rather than callables, so that all of a resource's sums are one SQL statement
(``SELECT (SELECT SUM…) + (SELECT SUM…)``): the storage usage is read on every MLflow artifact upload, where each
round trip to PostgreSQL shows in the throughput of small files.

``quota_usage`` of the current tenant takes the limit from the tenant the request was routed to
(``connection.tenant``, loaded by the tenant middleware) instead of reading the row again; ``quota_check`` still
reads it, locked.

In the platform schema (operators) there are no limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import F, Func, IntegerField, QuerySet
from django_tenants.utils import get_public_schema_name, schema_context
from rest_framework import exceptions

from apps.tenants.models import Tenant
from maestro.observability.metrics import record_quota_refusal

MIB = 1024 * 1024


@dataclass(frozen=True)
class _Resource:
    field: str
    noun: str
    unit: int = 1  # limit field value × unit = limit in counted units


RESOURCES: dict[str, _Resource] = {
    "users": _Resource("max_users", "active users"),
    "projects": _Resource("max_projects", "projects"),
    "artifacts": _Resource("max_artifacts", "artifacts"),
    "storage": _Resource("max_storage_mb", "MB of stored files", unit=MIB),
}


class _SumMeasure:
    """The sum of ``field`` over ``queryset``, evaluated together with the resource's other sums. Its SQL is
    compiled once (the queryset is fixed; the schema comes from the connection's search_path at each execution)."""

    def __init__(self, queryset: QuerySet, field: str):
        self.queryset = queryset
        self.field = field

    @functools.cached_property
    def sql(self) -> tuple[str, tuple]:
        total = Func(F(self.field), function="SUM", output_field=IntegerField())  # no GROUP BY: one row
        return self.queryset.order_by().annotate(_quota_total=total).values_list("_quota_total").query.sql_with_params()


_MEASURES: dict[str, dict[str, Callable[[], int] | _SumMeasure]] = {resource: {} for resource in RESOURCES}


def register_quota_measure(resource: str, name: str, measure: Callable[[], int]) -> None:
    """Count ``measure()`` (run in the tenant's schema: a number of rows, or bytes of files for ``storage``) into
    ``resource``'s usage; a resource's usage is the sum of its measures. Apps call it from ``AppConfig.ready``;
    registering a name again replaces it."""
    if resource not in RESOURCES:
        raise ValueError(f"Unknown quota resource {resource!r}; use one of {', '.join(RESOURCES)}.")
    _MEASURES[resource][name] = measure


def register_quota_sum(resource: str, name: str, queryset: QuerySet, field: str = "size") -> None:
    """Count the sum of ``field`` over ``queryset`` (evaluated in the tenant's schema at each check) into
    ``resource``'s usage, in one statement with the resource's other sums. As ``register_quota_measure``."""
    register_quota_measure(resource, name, _SumMeasure(queryset, field))


def _sums(measures: list[_SumMeasure]) -> int:
    """The total of ``measures`` in one round trip."""
    if not measures:
        return 0
    parts, params = [], []
    for measure in measures:
        sql, part_params = measure.sql
        parts.append(f"COALESCE(({sql}), 0)")
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {' + '.join(parts)}", params)
        return int(cursor.fetchone()[0])


def _measure(resource: str) -> int:
    measures = _MEASURES[resource]
    if not measures:
        raise ImproperlyConfigured(f"No app counts the quota resource {resource!r} (register_quota_measure).")
    sums = [measure for measure in measures.values() if isinstance(measure, _SumMeasure)]
    return _sums(sums) + sum(measure() for measure in measures.values() if not isinstance(measure, _SumMeasure))


@dataclass(frozen=True)
class QuotaUsage:
    resource: str
    limit: int  # in counted units (bytes for storage)
    used: int

    @property
    def _spec(self) -> _Resource:
        return RESOURCES[self.resource]

    def _show(self, value: int) -> str:
        return f"{value / MIB:.1f}" if self._spec.unit == MIB else str(value)

    def describe(self) -> str:
        return f"{self.resource}: {self._show(self.used)} of {self._show(self.limit)} {self._spec.noun}"

    def allows(self, adding: int) -> bool:
        return self.used + adding <= self.limit


class QuotaExceeded(exceptions.PermissionDenied):
    """A plan limit would be exceeded. Rendered by the API as 403 ``quota_exceeded`` in the shared error shape."""

    default_code = "quota_exceeded"

    def __init__(self, usage: QuotaUsage, adding: int):
        self.usage = usage
        self.adding = adding
        spec = RESOURCES[usage.resource]
        message = (
            f"Plan limit reached: this organisation may have at most {usage._show(usage.limit)} {spec.noun} "
            f"({usage._show(usage.used)} in use, this request adds {usage._show(adding)}). "
            f"A platform operator can raise {spec.field}."
        )
        super().__init__(detail=message, code="quota_exceeded")


def _current_tenant(lock: bool) -> Tenant | None:
    schema = connection.schema_name
    if schema == get_public_schema_name():
        return None
    routed = getattr(connection, "tenant", None)
    if not lock and isinstance(routed, Tenant) and routed.pk and routed.schema_name == schema:
        return routed  # the row the request was routed with (schema_context sets a stand-in, not a Tenant)
    queryset = Tenant.objects.filter(schema_name=schema)
    if lock and connection.in_atomic_block:
        queryset = queryset.select_for_update()
    return queryset.first()


def quota_usage(resource: str, *, tenant: Tenant | None = None) -> QuotaUsage | None:
    """Usage of ``resource`` in ``tenant`` (default: the tenant of the current schema); None in the platform."""
    if resource not in RESOURCES:
        raise ValueError(f"Unknown quota resource {resource!r}; use one of {', '.join(RESOURCES)}.")
    spec = RESOURCES[resource]
    tenant = tenant or _current_tenant(lock=False)
    if tenant is None:
        return None
    if tenant.schema_name == connection.schema_name:
        used = _measure(resource)  # entering the schema it is in would re-send SET search_path, before and after
    else:
        with schema_context(tenant.schema_name):
            used = _measure(resource)
    return QuotaUsage(resource=resource, limit=getattr(tenant, spec.field) * spec.unit, used=used)


def quota_usage_all(*, tenant: Tenant) -> list[QuotaUsage]:
    return [quota_usage(resource, tenant=tenant) for resource in RESOURCES]


def quota_lock() -> Tenant | None:
    """Lock the current tenant's row until the caller's transaction ends (what ``quota_check`` does first), for a
    service that writes before it can count what it adds (``quota_recount``); None in the platform."""
    return _current_tenant(lock=True)


def quota_recount(resource: str, *, tenant: Tenant | None, added: int) -> QuotaUsage | None:
    """Raise ``QuotaExceeded`` if ``resource``'s usage — counted now, so including what the caller has just written
    in its transaction (``added`` units) — is over ``tenant``'s limit. ``tenant`` is what ``quota_lock`` returned
    before the write: concurrent writers of the tenant wait for the lock, so each counts the others' committed rows
    and together they cannot pass the limit."""
    if tenant is None:
        return None
    spec = RESOURCES[resource]
    usage = QuotaUsage(resource=resource, limit=getattr(tenant, spec.field) * spec.unit, used=_measure(resource))
    if usage.used > usage.limit:
        record_quota_refusal(resource)
        raise QuotaExceeded(QuotaUsage(resource=resource, limit=usage.limit, used=usage.used - added), added)
    return usage


def quota_check(resource: str, *, adding: int = 1) -> QuotaUsage | None:
    """Raise ``QuotaExceeded`` unless the current tenant may add ``adding`` more of ``resource``.

    Call inside the creating service's ``transaction.atomic()``: the tenant row stays locked until that
    transaction ends, which serialises concurrent creations of one tenant.
    """
    if resource not in RESOURCES:
        raise ValueError(f"Unknown quota resource {resource!r}; use one of {', '.join(RESOURCES)}.")
    spec = RESOURCES[resource]
    tenant = _current_tenant(lock=True)
    if tenant is None:
        return None
    usage = QuotaUsage(resource=resource, limit=getattr(tenant, spec.field) * spec.unit, used=_measure(resource))
    if not usage.allows(adding):
        record_quota_refusal(resource)
        raise QuotaExceeded(usage, adding)
    return usage
