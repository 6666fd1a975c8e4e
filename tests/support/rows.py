"""Generic rows for every tenant model, so tests that must cover "every table" cover models added later too.

``populate_every_tenant_model()`` (inside a tenant's ``schema_context``) gives every tenant model with no rows two
rows of field values derived from the field types, choices and validators; foreign keys point at existing rows
(created first, in dependency order); file fields get real stored files. Models whose invariants a generic value
cannot meet get an entry in ``OVERRIDES`` (model label → field values or a callable returning them).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import secrets
import uuid
from collections.abc import Callable

from django.contrib.postgres.fields import ArrayField
from django.core.files.base import ContentFile
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.ops.archive import tenant_models

# label -> {field name: value} or a callable(index) returning that dict.
OVERRIDES: dict[str, dict | Callable[[int], dict]] = {
    "artifacts.artifactblob": lambda i: {
        "sha256": hashlib.sha256(f"blob-{i}-{secrets.token_hex(4)}".encode()).hexdigest()
    },
    # a version holds an uploaded file (the generic row gets a blob) or a folder of stored files, not both
    "artifacts.artifactversion": lambda i: {
        "version": f"1.{i}.0",
        "major": 1,
        "minor": i,
        "patch": 0,
        "storage_prefix": "",
    },
    "projects.scoringsettings": {"id": 1},
    "sso.ssoconfig": {"singleton": 1},  # one row per tenant (a check constraint)
    "integrations.integration": lambda i: (
        {"provider": "github", "secret_salt": f"salt-{i}-{secrets.token_hex(4)}", "secret_hash": ""}
        if i % 2 == 0
        else {"provider": "gitlab", "secret_salt": "", "secret_hash": hashlib.sha256(f"t{i}".encode()).hexdigest()}
    ),
}
# label -> most rows the model may hold (singletons).
MAX_ROWS: dict[str, int] = {"projects.scoringsettings": 1, "sso.ssoconfig": 1}


def _bounds(f) -> tuple[float | None, float | None]:
    low = high = None
    for validator in f.validators:
        if isinstance(validator, MinValueValidator):
            low = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            high = validator.limit_value
    return low, high


def _number(f, index: int, integer: bool):
    low, high = _bounds(f)
    low = 1 if low is None else low
    high = low + 1000 if high is None else high
    value = low + (high - low) * (0.25 + 0.5 * (index % 2))
    return int(value) if integer else round(float(value), 3)


def _text(f, index: int) -> str:
    limit = f.max_length or 200
    for validator in f.validators:
        if isinstance(validator, MaxLengthValidator):
            limit = min(limit, validator.limit_value)
    value = f"{f.name}-{index}-{secrets.token_hex(4)}"
    return value[: max(1, limit)]


def field_value(f, index: int):
    """A valid value for field ``f`` of the ``index``-th generated row."""
    if f.choices:
        choices = [key for key, _ in f.flatchoices if key not in ("", None)]
        return choices[index % len(choices)]
    if isinstance(f, models.BooleanField):
        return index % 2 == 0
    if isinstance(f, (models.AutoField, models.BigAutoField)):
        return None
    if isinstance(f, (models.IntegerField, models.BigIntegerField, models.SmallIntegerField)):
        return _number(f, index, integer=True)
    if isinstance(f, models.FloatField):
        low, high = _bounds(f)
        if low is None and high is None and index == 1:
            return float("nan")  # a float with no range: make sure NaN survives the round trip
        return _number(f, index, integer=False)
    if isinstance(f, models.DecimalField):
        return decimal.Decimal(f"{_number(f, index, integer=True)}.25")
    if isinstance(f, models.DateTimeField):
        return timezone.now() - dt.timedelta(days=index, microseconds=123)
    if isinstance(f, models.DateField):
        return dt.date(2024, 1, 1) + dt.timedelta(days=index)
    if isinstance(f, models.DurationField):
        return dt.timedelta(seconds=90 + index)
    if isinstance(f, models.UUIDField):
        return uuid.uuid4()
    if isinstance(f, models.JSONField):
        return {"index": index, "nested": [1, 2.5, None, "x"]}
    if isinstance(f, ArrayField):
        return [field_value(f.base_field, index), field_value(f.base_field, index + 1)]
    if isinstance(f, models.BinaryField):
        return secrets.token_bytes(16)
    if isinstance(f, models.GenericIPAddressField):
        return f"192.0.2.{10 + index}"
    if isinstance(f, models.EmailField):
        return f"row{index}-{secrets.token_hex(3)}@example.test"
    if isinstance(f, (models.CharField, models.TextField, models.SlugField)):
        return _text(f, index)
    raise NotImplementedError(f"No generic value for {f.model._meta.label}.{f.name} ({type(f).__name__})")


def make_row(model, index: int):
    label = model._meta.label_lower
    override = OVERRIDES.get(label, {})
    values = override(index) if callable(override) else dict(override)
    obj = model()
    files = []
    for f in model._meta.concrete_fields:
        if f.name in values or f.generated or (f.primary_key and isinstance(f, models.AutoField)):
            continue
        if f.is_relation and f.unique:  # one-to-one: a target no row of this model points at yet
            used = model._base_manager.values(f.attname)
            target = f.related_model._base_manager.exclude(pk__in=used).order_by("pk").first()
            if target is None and not f.null:
                target = make_row(f.related_model, index)
            setattr(obj, f.name, target)
        elif f.is_relation:
            targets = list(f.related_model._base_manager.order_by("pk")[: index + 1])
            target = targets[index % len(targets)] if targets else None
            if target is None and not f.null:
                raise RuntimeError(f"{label}.{f.name}: no {f.related_model._meta.label} row to point at")
            setattr(obj, f.name, target)
        elif isinstance(f, models.FileField):
            files.append(f)
        else:
            value = field_value(f, index)
            if value is not None:
                setattr(obj, f.attname, value)
    for name, value in values.items():
        setattr(obj, name, value)
    for f in files:
        content = f"content of {label} row {index} {secrets.token_hex(8)}\n".encode()
        getattr(obj, f.attname).save(f"{f.name}-{index}.txt", ContentFile(content), save=False)
    # bulk_create: plain INSERT, no model save() logic that would need related objects a generic row lacks.
    return model._base_manager.bulk_create([obj])[0]


def populate_every_tenant_model(rows_per_model: int = 2) -> dict[str, int]:
    """Give every empty tenant model ``rows_per_model`` rows; return the row count of every model afterwards."""
    models_in_order = tenant_models()
    for model in models_in_order:
        if not model._base_manager.exists():
            for index in range(min(rows_per_model, MAX_ROWS.get(model._meta.label_lower, rows_per_model))):
                make_row(model, index)
    # Counted after all are filled: a one-to-one row may have needed a new row of a model filled before it.
    return {model._meta.label_lower: model._base_manager.count() for model in models_in_order}
