"""A Celery worker that shares no metrics directory with the web (a pod, a container) serves its own /metrics.

A real prefork worker with its own ``PROMETHEUS_MULTIPROC_DIR`` and ``METRICS_WORKER_PORT``: the task outcomes its pool
child records are scraped from the worker's port, under web's access rule (token or allow-listed address), and the
files of dead processes left in the directory are removed when it starts serving.
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel

from apps.accounts.tasks import clear_expired_sessions
from tests.ops.scrape import parse, value
from tests.support.celery import wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

TOKEN = "worker-metrics-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _answers(port: int) -> bool:
    try:
        return _get(port, "/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture
def worker(committed, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_999999.db"
    stale.write_bytes(b"file of a process that no longer runs")
    queue = f"ops-wm-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **worker_env(),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_WORKER_PORT": str(port),
        "METRICS_TOKEN": TOKEN,
        # Loopback is not allow-listed here, so only the token opens /metrics.
        "METRICS_ALLOWED_NETWORKS": "192.0.2.0/24",
        "METRICS_CELERY_QUEUES": queue,
    }
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "maestro", "worker", "--pool", "prefork", "--concurrency", "1",
         "-Q", queue, "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"{queue}@%h"],
        env=env, cwd=settings.BASE_DIR, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or _answers(port), timeout=90)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield {"port": port, "queue": queue, "stale": stale}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        keys = [f"{prefix}{queue}{Channel.sep}{step}" if step else f"{prefix}{queue}" for step in PRIORITY_STEPS]
        client.delete(*keys, f"{prefix}_kombu.binding.{queue}")
        client.close()


def test_worker_serves_its_pool_processes_task_metrics_to_the_token_only(worker):
    port, queue = worker["port"], worker["queue"]
    assert not worker["stale"].exists()
    assert _get(port, "/metrics")[0] == 403
    assert _get(port, "/metrics", token="wrong")[0] == 403
    assert _get(port, "/elsewhere", token=TOKEN)[0] == 404

    name = "accounts.clear_expired_sessions"
    clear_expired_sessions.apply_async(kwargs={"schema_name": "alpha"}, queue=queue)
    clear_expired_sessions.apply_async(kwargs={"schema_name": "nobody"}, queue=queue)  # unknown tenant: skipped

    def finished():
        status, body = _get(port, "/metrics", token=TOKEN)
        assert status == 200, body[:300]
        samples = parse(body)
        return samples if value(samples, "maestro_celery_task_duration_seconds_count", task=name) >= 2 else None

    samples = wait_for(finished, timeout=60)
    assert value(samples, "maestro_celery_tasks_total", task=name, outcome="success") == 1
    assert value(samples, "maestro_celery_tasks_total", task=name, outcome="skipped") == 1
    assert value(samples, "maestro_celery_queue_length", queue=queue) == 0
    assert value(samples, "maestro_dependency_up", dependency="redis") == 1
