"""The training-data export of a model version (``GET /api/v1/models/{id}/training-data``): the file, and one audit
event per export — it hands out every visible project's features and outcomes in bulk."""

from __future__ import annotations

from dataclasses import dataclass

from apps.audit.services import audit_security_event
from apps.recommendations import exports, selectors


@dataclass
class ExportFile:
    content: bytes
    content_type: str
    filename: str
    rows: int
    withheld: int


class NotStored(Exception):
    """The version was trained before training data was stored with it."""


def training_data_export(*, user, model_id: int, file_format: str) -> ExportFile:
    found = selectors.training_data(user=user, model_id=model_id)
    model = found["model"]
    if found["columns"] is None:
        raise NotStored(f"Model v{model.version} was trained before training data was stored; retrain.")
    if file_format == "parquet":
        encode, content_type = exports.to_parquet, "application/vnd.apache.parquet"
    else:
        encode, content_type = exports.to_csv, "text/csv; charset=utf-8"
    content = encode(found["columns"], found["ids"], found["values"])
    audit_security_event(
        "model.training_data_exported",
        object_type="recommendations.model",
        object_id=model.pk,
        object_repr=f"success model v{model.version}",
        extra={"format": file_format, "rows": len(found["ids"]), "withheld": found["withheld"]},
    )
    return ExportFile(
        content,
        content_type,
        f"model-v{model.version}-training-data.{file_format}",
        len(found["ids"]),
        found["withheld"],
    )
