"""Sending Celery tasks from requests without depending on the broker being up.

A request that asks for background work records the request durably in the database (in its own transaction) and
then tries to send the task once it commits. When Redis is down the send fails fast — one connection attempt, no
publish retries — and is only logged: the request still answers (202) within the broker's connect timeout, and a
periodic reconciliation task sends every recorded request that has not been served yet. The task itself checks the
durable record under a row lock, so a request sent twice (by the request and by reconciliation) runs once.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("maestro.tasks")


def send_or_defer(task, *, countdown: float | None = None, **kwargs) -> bool:
    """Send ``task`` with ``kwargs`` now (to run ``countdown`` seconds later, if given); on any broker failure log it
    and return False instead of raising."""
    try:
        task.apply_async(kwargs=kwargs, retry=False, **({"countdown": countdown} if countdown else {}))
    except Exception as exc:  # kombu and redis raise many kinds of errors; none may fail the request
        logger.warning("task_deferred", extra={"task": task.name, "error": exc.__class__.__name__})
        return False
    return True
