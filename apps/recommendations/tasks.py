"""Celery entry points of the recommendation engine: thin wrappers that run one TrainingRun (queue ``ml``).

Reconciliation (``reconcile_all_tenants`` from beat, and each tenant's ``reconcile``) only reads rows and queues runs,
so it goes to the ``default`` queue: the ``ml`` queue then holds work only when there is embedding, training or impact
to compute, and its worker can scale to zero between them (deploy/kubernetes/components/ml-scale-to-zero).

Each task takes the tenant's ``schema_name`` explicitly and runs inside it (``TenantTask``), acknowledges late
(a worker dying mid-task leaves the message to be redelivered) and is idempotent: the run row moves from queued to
running exactly once, and training itself is serialised per tenant by an advisory lock.
"""

from celery import shared_task

from apps.recommendations.choices import RunKind
from apps.recommendations.services import reconcile as reconcile_tenant
from apps.recommendations.services import run_execute
from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask

ML_TASK = {"base": TenantTask, "acks_late": True, "queue": "ml"}
RECONCILE_TASK = {"base": TenantTask, "acks_late": True, "queue": "default"}


def _execute_run(*, schema_name: str, run_id: int) -> str | None:
    """Execute one queued TrainingRun of any kind; the run row says which (``services.run_execute``)."""
    run = run_execute(run_id=run_id)
    return run.status if run else None


# One task body, registered once per run kind. The names stay apart on purpose: the task name is the ``task`` label
# of maestro_celery_tasks_total and maestro_celery_task_duration_seconds, so the failing-task alert and the
# duration panel keep telling a training from an embedding run, and messages already queued under these
# names still run after an upgrade.
RUN_TASK_NAMES = {
    RunKind.TRAIN: "recommendations.retrain",
    RunKind.IMPACT: "recommendations.recompute_impact",
    RunKind.EMBEDDINGS: "recommendations.recompute_embeddings",
}
RUN_TASKS = {kind: shared_task(name=name, **ML_TASK)(_execute_run) for kind, name in RUN_TASK_NAMES.items()}


@shared_task(name="recommendations.reconcile", **RECONCILE_TASK)
def reconcile(*, schema_name: str) -> dict:
    return reconcile_tenant()


@shared_task(name="recommendations.reconcile_all_tenants", acks_late=True, queue="default")
def reconcile_all_tenants() -> int:
    """Beat entry point: one ``reconcile`` per active tenant."""
    schemas = tenant_schemas_active()
    for schema in schemas:
        reconcile.delay(schema_name=schema)
    return len(schemas)
