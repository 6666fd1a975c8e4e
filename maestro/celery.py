"""Celery application and the tenant-aware task base.

Every tenant task receives the tenant's schema name explicitly (``schema_name=...``) and runs inside
``schema_context`` — nothing relies on ambient connection state captured when the task was sent. A suspended or
deleted tenant's queued tasks are dropped with a log line, never run. The request id of the request that enqueued a
task travels in the message headers and is restored in the worker's logging context.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, Task, signals

from maestro.context import actor_var, request_id_var, tenant_var
from maestro.startup import refuse_to_start_on_check_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.local")

app = Celery("maestro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("maestro.tasks")


class TenantTask(Task):
    """Base for tasks that act on one tenant's data: ``task.delay(schema_name="acme", ...)``."""

    abstract = True

    def __call__(self, *args, **kwargs):
        from django_tenants.utils import get_tenant_model, schema_context

        Tenant = get_tenant_model()  # settings.TENANT_MODEL: the framework names no app

        schema_name = kwargs.get("schema_name")
        if not schema_name:
            raise TypeError(f"{self.name} must be called with schema_name=")
        tenant = Tenant.objects.filter(schema_name=schema_name).only("schema_name", "is_active").first()
        if tenant is None or not tenant.is_active:
            logger.warning("task_skipped_inactive_tenant", extra={"task": self.name, "schema": schema_name})
            self.request.maestro_skipped = True  # counted as outcome "skipped" by the task metrics
            return None
        token = tenant_var.set(schema_name)
        try:
            with schema_context(schema_name):
                return super().__call__(*args, **kwargs)
        finally:
            tenant_var.reset(token)


@signals.worker_init.connect
def _refuse_unsafe_configuration(**_kwargs):
    """A worker reads and writes tenants' rows like the web does: the same startup checks stop it (maestro.startup).
    Celery logs and swallows a signal handler's exception, so the worker is stopped with ``SystemExit``."""
    from django.core.management.base import SystemCheckError

    try:
        refuse_to_start_on_check_errors()
    except SystemCheckError as exc:
        logger.critical("worker_refused_to_start", extra={"reason": str(exc)})
        raise SystemExit(str(exc)) from exc


@signals.before_task_publish.connect
def _attach_request_id(headers=None, **_kwargs):
    if headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id_var.get()
    if headers is not None and "actor" not in headers:
        headers["actor"] = actor_var.get()


@signals.task_prerun.connect
def _restore_request_id(task=None, **_kwargs):
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    request_id_var.set(request_id or (task.request.id if task is not None else "-"))
    actor_var.set((getattr(task.request, "actor", None) if task is not None else None) or "-")


@signals.task_postrun.connect
def _clear_context(**_kwargs):
    """Solo/threads pools reuse the process: the next task's "received" line must not show this task's ids."""
    request_id_var.set("-")
    actor_var.set("-")
