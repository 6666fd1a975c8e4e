"""Thin Celery entry points for MLflow artifacts: hashing what a presigned multipart upload stored, and the periodic
upkeep of every tenant's artifact storage (``apps.mlflow_api.artifacts``)."""

from celery import shared_task
from django.conf import settings

from apps.mlflow_api.artifacts import artifact_file_hash
from apps.mlflow_api.artifacts import artifact_housekeeping as upkeep
from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask
from maestro.storage import cleanup_stale_uploads


@shared_task(base=TenantTask, name="mlflow_api.hash_artifact_file")
def hash_artifact_file(*, schema_name: str, file_id: int) -> str | None:
    """SHA-256 of one file a presigned multipart upload stored (its bytes never passed through Maestro)."""
    return artifact_file_hash(file_id=file_id)


@shared_task(base=TenantTask, name="mlflow_api.artifact_housekeeping")
def artifact_housekeeping(*, schema_name: str) -> dict:
    """One tenant's upkeep (``artifacts.artifact_housekeeping``)."""
    return upkeep(max_age_seconds=settings.MAESTRO_STORAGE_STALE_UPLOAD_SECONDS)


@shared_task(name="mlflow_api.artifact_housekeeping_all_tenants")
def artifact_housekeeping_all_tenants() -> int:
    """Abort multipart uploads and remove partly written files older than MAESTRO_STORAGE_STALE_UPLOAD_SECONDS that
    no tenant tracks (a killed process's), then fan out one ``artifact_housekeeping`` per active tenant."""
    cleanup_stale_uploads(settings.MAESTRO_STORAGE_STALE_UPLOAD_SECONDS)
    schemas = tenant_schemas_active()
    for schema in schemas:
        artifact_housekeeping.delay(schema_name=schema)
    return len(schemas)
