"""A metric batch written but not yet committed on a second connection, for tests of what waits for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction


@contextmanager
def batch_in_flight(ctx, run_id: int, batch, *, hold_seconds: float = 1.0) -> Iterator[list[BaseException]]:
    """Write ``batch`` (a parsed LogBatch) to run ``run_id`` in ``ctx`` on another thread's connection and keep the
    transaction open for ``hold_seconds`` (the run row stays locked FOR KEY SHARE). Enters once the batch holds the
    lock; on exit waits for the writer to commit. Yields the list of errors the writer raised (empty if none)."""
    from apps.metrics import services

    holds_lock = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            with ctx.context(), transaction.atomic():
                services._write_batch(run_id, batch)
                holds_lock.set()
                time.sleep(hold_seconds)  # still uncommitted while the test acts
        except BaseException as exc:
            errors.append(exc)
            holds_lock.set()
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert holds_lock.wait(10)
        yield errors
    finally:
        writer.join(10)


@contextmanager
def committed_run(ctx, slug: str):
    """A project and a run committed in ``ctx`` (for tests on the ``committed`` fixture), removed on exit with their
    metric points (which have no database-level foreign key to cascade them)."""
    from django.db import connection

    from apps.metrics import services
    from apps.metrics.models import MetricPoint, Run
    from apps.projects.models import Project

    with ctx.context():
        project = Project.objects.create(name="p", slug=slug)
        run = services.run_create(user=None, project=project)
    try:
        yield run
    finally:
        with ctx.context():
            MetricPoint.objects.filter(run_id=run.pk).delete()
            Run.objects.filter(pk=run.pk).delete()
            project.delete()
        connection.set_schema_to_public()
