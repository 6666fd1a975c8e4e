"""Hypothesis settings and a request helper for the property tests that send generated requests through the HTTP
stack (``tests/reliability/test_fuzz_search.py``, ``test_fuzz_mlflow.py``).

By default a run is bounded and derandomized: the same examples every time, as CI needs, so a failure reproduces and
the suite's time stays predictable. ``FUZZ_SEED=<n>`` makes it a random run from that seed instead, and
``FUZZ_SCALE=<k>`` multiplies every example count (``FUZZ_SEED=7 FUZZ_SCALE=10 pytest tests/reliability -k fuzz_``
for a long local search).
"""

from __future__ import annotations

import os

from django.db import connection, transaction
from hypothesis import HealthCheck, seed, settings

SEED = os.environ.get("FUZZ_SEED")
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def fuzz(max_examples: int):
    """Decorator for a ``@given`` test: ``max_examples`` (times FUZZ_SCALE), no deadline, no example database."""

    def apply(test):
        configured = settings(
            max_examples=max(1, int(max_examples * SCALE)),
            deadline=None,
            derandomize=SEED is None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(test)
        return seed(int(SEED))(configured) if SEED is not None else configured

    return apply


def in_savepoint(send):
    """``send()`` in a savepoint, so an error PostgreSQL raises fails that example only (the test's transaction
    stays usable for the next one, which the trailing query checks); the response, once it is not a 5xx."""
    with transaction.atomic():
        response = send()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert response.status_code < 500, response.content[:500]
    return response
