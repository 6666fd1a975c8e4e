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
