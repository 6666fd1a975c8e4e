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
counts is a configuration error (``ImproperlyConfigured``), never an unlimited quota.

In the platform schema (operators) there are no limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Sum
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

_MEASURES: dict[str, dict[str, Callable[[], int]]] = {resource: {} for resource in RESOURCES}


def register_quota_measure(resource: str, name: str, measure: Callable[[], int]) -> None:
    """Count ``measure()`` (run in the tenant's schema: a number of rows, or bytes of files for ``storage``) into
    ``resource``'s usage; a resource's usage is the sum of its measures. Apps call it from ``AppConfig.ready``;
    registering a name again replaces it."""
    if resource not in RESOURCES:
        raise ValueError(f"Unknown quota resource {resource!r}; use one of {', '.join(RESOURCES)}.")
    _MEASURES[resource][name] = measure


def sum_of(queryset, field: str = "size") -> int:
    """A storage measure's usual body: the sum of ``field`` over ``queryset`` (0 when empty)."""
    return queryset.aggregate(total=Sum(field))["total"] or 0


def _measure(resource: str) -> int:
    measures = _MEASURES[resource]
    if not measures:
        raise ImproperlyConfigured(f"No app counts the quota resource {resource!r} (register_quota_measure).")
    return sum(measure() for measure in measures.values())


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
