"""Real gunicorn (2 workers, deploy/gunicorn.conf.py) and a real Celery worker sharing one multiprocess directory:
the scraped counters add up across processes, survive a worker restart, and include the Celery task outcomes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel

from apps.accounts.tasks import clear_expired_sessions
from maestro.celery import app
from tests.ops.scrape import parse, value
from tests.support.celery import wait_for, worker_env

# django_db: makes pytest-django set up the test database (the tests themselves only read committed tenants).
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

N = 40
VIEW = {"status": "200", "view": "platform-index", "method": "GET"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, host: str = "localhost") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _scrape(port: int):
    status, body = _get(port, "/metrics")
    assert status == 200, body[:300]
    return parse(body.decode())


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def _ready_workers(log: Path) -> list[int]:
    """Workers that loaded the application (post_worker_init in deploy/gunicorn.conf.py)."""
    return [int(line["message"].split()[1]) for line in _json_lines(log) if line["message"].endswith(" ready")]


@pytest.fixture
def stack(committed, tmp_path):
    """gunicorn + Celery worker (own queue) with a shared PROMETHEUS_MULTIPROC_DIR; yields (port, queue, paths)."""
    metrics_dir = tmp_path / "metrics"
    (metrics_dir).mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale file of a dead process")
    queue = f"ops-mp-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **worker_env(),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_CELERY_QUEUES": queue,
        "WEB_CONCURRENCY": "2",
        "WEB_BIND": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    web_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "maestro.wsgi"],
        env=env, cwd=settings.BASE_DIR, stdout=web_log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs = {"web": web}
    try:
        wait_for(lambda: len(_ready_workers(web_log)) >= 2 and _ready(port), timeout=60)
        yield {"port": port, "queue": queue, "env": env, "web_log": web_log, "worker_log": worker_log,
               "metrics_dir": metrics_dir, "procs": procs}  # fmt: skip
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        keys = [f"{prefix}{queue}{Channel.sep}{step}" if step else f"{prefix}{queue}" for step in PRIORITY_STEPS]
        client.delete(*keys, f"{prefix}_kombu.binding.{queue}")
        client.close()


def _ready(port: int) -> bool:
    try:
        return _get(port, "/healthz")[0] == 200
    except OSError:
        return False


def _start_worker(stack) -> None:
    stack["procs"]["worker"] = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "maestro", "worker", "--pool", "solo", "-Q", stack["queue"],
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"{stack['queue']}@%h"],
        env=stack["env"], cwd=settings.BASE_DIR, stdout=stack["worker_log"].open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_for(lambda: b"ready." in stack["worker_log"].read_bytes(), timeout=60)


def test_counters_add_up_across_gunicorn_workers_and_restarts(stack):
    port, web_log = stack["port"], stack["web_log"]
    assert not (stack["metrics_dir"] / "counter_999999.db").exists()  # cleaned at start
    before = _scrape(port)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: _get(port, "/")[0], range(N)))
    assert statuses == [200] * N
    after = _scrape(port)
    assert (
        value(after, "django_http_responses_total_by_status_view_method_total", **VIEW)
        - value(before, "django_http_responses_total_by_status_view_method_total", **VIEW)
        == N
    )
    served_by = {line["pid"] for line in _json_lines(web_log) if line.get("path") == "/" and line.get("status") == 200}
    assert len(served_by) >= 2, "the requests should have been spread over both workers"
    assert value(after, "django_db_execute_total", alias="default", vendor="postgresql") >= N

    # Replace one worker: the dead worker's counts stay in the total.
    victim = _ready_workers(web_log)[0]
    os.kill(victim, signal.SIGTERM)
    wait_for(lambda: len(_ready_workers(web_log)) >= 3, timeout=30)
    wait_for(lambda: _ready(port), timeout=30)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda _: _get(port, "/")[0], range(N))) == [200] * N
    final = _scrape(port)
    assert (
        value(final, "django_http_responses_total_by_status_view_method_total", **VIEW)
        - value(before, "django_http_responses_total_by_status_view_method_total", **VIEW)
        == 2 * N
    )


def test_celery_task_outcomes_and_queue_length_reach_the_web_metrics(stack):
    port, queue = stack["port"], stack["queue"]
    name = "accounts.clear_expired_sessions"
    clear_expired_sessions.apply_async(kwargs={"schema_name": "alpha"}, queue=queue)
    app.send_task(name, kwargs={}, queue=queue)  # no schema_name: TenantTask raises, a failure
    clear_expired_sessions.apply_async(kwargs={"schema_name": "nobody"}, queue=queue)  # unknown tenant: skipped
    waiting = _scrape(port)
    assert value(waiting, "maestro_celery_queue_length", queue=queue) == 3
    assert value(waiting, "maestro_celery_broker_up") == 1

    _start_worker(stack)

    def finished():
        samples = _scrape(port)
        done = value(samples, "maestro_celery_task_duration_seconds_count", task=name)
        return samples if done >= 3 else None

    samples = wait_for(finished, timeout=60)
    for outcome in ("success", "failure", "skipped"):
        assert value(samples, "maestro_celery_tasks_total", task=name, outcome=outcome) == 1, outcome
    assert value(samples, "maestro_celery_queue_length", queue=queue) == 0
    worker_lines = _json_lines(stack["worker_log"])
    assert any(line.get("message") == "task_skipped_inactive_tenant" for line in worker_lines)
