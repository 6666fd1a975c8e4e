"""Celery task metrics from Celery's own signals: outcome (success, failure, retry, skipped) and run time.

Connected once, when the ops app is ready (web and worker processes alike). ``skipped`` is a task that
``TenantTask`` refused to run because its tenant is suspended or gone. A worker whose host shares no metrics directory
with the web (a pod, a container) serves its own ``/metrics`` once it is ready (``METRICS_WORKER_PORT``; see
``maestro.observability.worker_server``).
"""

from __future__ import annotations

import os
import time

from celery import signals

from maestro.observability.metrics import record_task
from maestro.observability.multiproc import mark_process_dead
from maestro.observability.worker_server import start_worker_metrics_server

_STARTED_ATTR = "_maestro_started"
_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}


@signals.task_prerun.connect(weak=False, dispatch_uid="maestro.metrics.prerun")
def _task_started(task=None, **_kwargs):
    if task is not None:
        setattr(task.request, _STARTED_ATTR, time.perf_counter())


@signals.task_postrun.connect(weak=False, dispatch_uid="maestro.metrics.postrun")
def _task_finished(task=None, state=None, **_kwargs):
    if task is None:
        return
    started = getattr(task.request, _STARTED_ATTR, None)
    duration = time.perf_counter() - started if started is not None else None
    outcome = "skipped" if getattr(task.request, "maestro_skipped", False) else _OUTCOMES.get(state, "other")
    record_task(task.name, outcome, duration)


@signals.worker_process_shutdown.connect(weak=False, dispatch_uid="maestro.metrics.child_exit")
def _worker_child_exit(pid=None, **_kwargs):
    mark_process_dead(pid or os.getpid())


@signals.worker_ready.connect(weak=False, dispatch_uid="maestro.metrics.worker_server")
def _serve_worker_metrics(**_kwargs):
    start_worker_metrics_server()
