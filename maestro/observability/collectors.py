"""Values read when Prometheus scrapes, not recorded by the code that changes them.

Each collector answers within its own short timeout and reports a failure as a value (``..._up 0``) instead of
raising, so an outage of Redis or PostgreSQL shows up in the metrics rather than breaking ``/metrics``.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client.core import GaugeMetricFamily

from maestro.health import readiness

logger = logging.getLogger("maestro.metrics")


def celery_queue_lengths(queues: list[str], *, url: str, key_prefix: str = "", timeout: float = 0.5) -> dict[str, int]:
    """Messages waiting in each Celery queue on the Redis broker.

    Kombu's Redis transport keeps one list per queue and priority step (``<prefix><queue>`` for priority 0,
    ``<prefix><queue>\\x06\\x16<step>`` for the others); the queue length is the sum of their LLENs. Read with a
    plain Redis client and a short timeout so a broker outage costs a scrape at most ``2 × timeout``.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                for step in PRIORITY_STEPS:
                    suffix = f"{Channel.sep}{step}" if step else ""
                    pipe.llen(f"{key_prefix}{queue}{suffix}")
            sizes = pipe.execute()
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    return {queue: int(sum(sizes[i * steps : (i + 1) * steps])) for i, queue in enumerate(queues)}


class CeleryQueueCollector:
    """``maestro_celery_queue_length{queue}`` and ``maestro_celery_broker_up``."""

    def describe(self):
        yield GaugeMetricFamily(
            "maestro_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        yield GaugeMetricFamily("maestro_celery_broker_up", "1 when the Celery broker answered the last scrape.")

    def collect(self):
        lengths = GaugeMetricFamily(
            "maestro_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        up = GaugeMetricFamily("maestro_celery_broker_up", "1 when the Celery broker answered the last scrape.")
        try:
            sizes = celery_queue_lengths(
                list(settings.METRICS_CELERY_QUEUES),
                url=settings.CELERY_BROKER_URL,
                key_prefix=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""),
                timeout=settings.METRICS_COLLECTOR_TIMEOUT,
            )
        except (redis.RedisError, OSError) as exc:
            logger.warning("metrics_queue_length_failed", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for queue, size in sizes.items():
                lengths.add_metric([queue], size)
        yield lengths
        yield up


class DependencyCollector:
    """``maestro_dependency_up{dependency}``: the readiness checks of ``/readyz`` as a metric, for alerting."""

    def describe(self):
        yield GaugeMetricFamily(
            "maestro_dependency_up", "1 when the dependency passed its readiness check.", labels=["dependency"]
        )

    def collect(self):
        family = GaugeMetricFamily(
            "maestro_dependency_up", "1 when the dependency passed its readiness check.", labels=["dependency"]
        )
        for name, state in readiness().items():
            family.add_metric([name], 1 if state == "ok" else 0)
        yield family
