"""Render the Prometheus exposition for ``/metrics``.

In-process mode (tests, ``runserver``): the default registry. Multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set,
gunicorn + Celery workers): a fresh registry aggregating every process's files. Both append the scrape-time
collectors. django-prometheus' own ``ExportToDjangoView`` is not used because it cannot add collectors to the
multiprocess registry it builds.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

from maestro.observability.collectors import CeleryQueueCollector, DependencyCollector
from maestro.observability.multiproc import multiproc_dir


def scrape_time_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CeleryQueueCollector())
    registry.register(DependencyCollector())
    return registry


def render_metrics() -> bytes:
    """The full text exposition: recorded metrics, then the values read now."""
    if multiproc_dir() is not None:
        recorded = CollectorRegistry()
        multiprocess.MultiProcessCollector(recorded)
    else:
        recorded = REGISTRY
    return generate_latest(recorded) + generate_latest(scrape_time_registry())
