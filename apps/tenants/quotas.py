"""Plan limits of a tenant (``Tenant.max_users`` / ``max_projects`` / ``max_artifacts`` / ``max_storage_mb``).

Services call ``quota_check(resource, adding=...)`` inside their ``transaction.atomic()`` block, right before the
insert. It locks the tenant row (``SELECT … FOR UPDATE``), so two concurrent creations cannot both take the last
free place, and raises ``QuotaExceeded`` — a 403 in the shared error shape with code ``quota_exceeded`` and a
message naming the limit, the usage and who can raise it.

What counts:

* ``users`` — active users of the tenant (service accounts included; deactivated and erased users do not count);
* ``projects`` — all projects; ``artifacts`` — all artifacts (inactive ones included);
* ``storage`` — bytes of stored files, against ``max_storage_mb`` × 1 MiB: what every registered storage measure
  counts (``register_storage_measure``; the artifact library's blobs, each once, and MLflow artifact files register
  theirs at start-up, so this base module imports neither); ``adding`` is the size in bytes of the new content.

In the platform schema (operators) there are no limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum
from django_tenants.utils import get_public_schema_name, schema_context
from rest_framework import exceptions

from apps.tenants.models import Tenant
from maestro.observability.metrics import record_quota_refusal

MIB = 1024 * 1024


def _count_users() -> int:
    from apps.accounts.models import User

    return User.objects.filter(is_active=True).count()


def _count_projects() -> int:
    from apps.projects.models import Project

    return Project.objects.count()


def _count_artifacts() -> int:
    from apps.artifacts.models import Artifact

    return Artifact.objects.count()


_STORAGE_MEASURES: dict[str, Callable[[], int]] = {}


def register_storage_measure(name: str, measure: Callable[[], int]) -> None:
    """Count ``measure()`` (bytes of files one app keeps in the tenant's storage, in the current schema) into the
    ``storage`` quota. Apps call it from ``AppConfig.ready``; registering a name again replaces it."""
    _STORAGE_MEASURES[name] = measure


def sum_of(queryset, field: str = "size") -> int:
    """A storage measure's usual body: the sum of ``field`` over ``queryset`` (0 when empty)."""
    return queryset.aggregate(total=Sum(field))["total"] or 0


def _storage_bytes() -> int:
    return sum(measure() for measure in _STORAGE_MEASURES.values())


@dataclass(frozen=True)
class _Resource:
    field: str
    noun: str
    measure: Callable[[], int]
    unit: int = 1  # limit field value × unit = limit in counted units


RESOURCES: dict[str, _Resource] = {
    "users": _Resource("max_users", "active users", _count_users),
    "projects": _Resource("max_projects", "projects", _count_projects),
    "artifacts": _Resource("max_artifacts", "artifacts", _count_artifacts),
    "storage": _Resource("max_storage_mb", "MB of stored files", _storage_bytes, unit=MIB),
}


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
        used = spec.measure()  # entering the schema it is in would re-send SET search_path, before and after
    else:
        with schema_context(tenant.schema_name):
            used = spec.measure()
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
    usage = QuotaUsage(resource=resource, limit=getattr(tenant, spec.field) * spec.unit, used=spec.measure())
    if not usage.allows(adding):
        record_quota_refusal(resource)
        raise QuotaExceeded(usage, adding)
    return usage
