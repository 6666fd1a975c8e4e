"""Observability: Prometheus business metrics, scrape-time collectors, multiprocess exposition, task metrics.

* ``maestro.observability.metrics`` — every Maestro-specific metric, with its name, labels and a helper to record it.
  Other apps call the helpers (``record_points_ingested(...)``), never the metric objects.
* ``maestro.observability.collectors`` — values read at scrape time: Celery queue lengths (Redis) and dependency
  readiness (PostgreSQL, Redis), each with short timeouts so an outage never breaks ``/metrics``.
* ``maestro.observability.exposition`` — renders ``/metrics``: in-process registry, or the prometheus_client
  multiprocess collector when ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn workers and Celery workers on one host
  share that directory), plus the scrape-time collectors.
* ``maestro.observability.multiproc`` — the multiprocess directory's life cycle (prepare at start, mark dead
  processes); used by the gunicorn config and the Celery worker. Imports no metric definitions.
* ``maestro.observability.tasks`` — Celery signal handlers recording task outcomes and durations.

Why a package under ``maestro/`` rather than an app: metrics are infrastructure shared by every app (like logging),
hold no data and need no models or URLs; the /metrics view stays in ``maestro/metrics.py``.
"""
