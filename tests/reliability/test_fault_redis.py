"""Redis stopped under traffic (a private redis-server: never the shared one).

gunicorn and a Celery worker (with beat) use a private Redis for cache, broker and rate limits. Client threads read
and ingest metrics while Redis is killed for ``FAULT_REDIS_OUTAGE_SECONDS`` (8 in the suite; ``make faults`` runs
60); during the outage every integration of a project is asked to reprocess. Redis then comes back empty (no
persistence: whatever was queued is gone, as after a crash).

Pass: reads and metric ingest answer 2xx throughout; each reprocess request answers 202 within 5 s; after Redis
returns, reconciliation serves every request made during the outage (0 lost) and each runs exactly once (0
duplicated, counted from the worker's task results); every process is still the original one.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time

import pytest
from django.utils import timezone

from apps.integrations.models import Integration, WebhookDelivery
from apps.metrics.models import Run
from apps.projects.models import Project
from tests.integrations.factories import make_integration
from tests.integrations.helpers import outside_event_loop
from tests.integrations.payloads import deliver_github, gh_commit, gh_push
from tests.support import faults
from tests.support.access import make_principal

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not faults.redis_available(), reason="needs redis-server")]

OUTAGE_SECONDS = float(os.environ.get("FAULT_REDIS_OUTAGE_SECONDS", "8"))
INTEGRATIONS = 5
RECONCILE_SECONDS = 3


@pytest.fixture
def seeded(committed):
    alpha, _beta = committed
    admin = make_principal(alpha, "admin")
    with alpha.context():
        project = Project.objects.create(name="Redis fault", slug="redis-fault", owner=admin.user, visibility="tenant")
        run = Run.objects.create(project=project, name="redis-fault-run", start_time=timezone.now())
        integrations = [make_integration(project, name=f"acme/repo-{i}")[0:2] for i in range(INTEGRATIONS)]
    for integration, secret in integrations:
        push = gh_push([gh_commit(f"c{integration.pk}", at=timezone.now())])
        response = deliver_github(alpha.host, integration, secret, "push", push)
        assert response.status_code == 200
    yield alpha, admin, project, run, [integration for integration, _ in integrations]
    with alpha.context():
        project.delete()


def test_redis_outage_keeps_reads_and_ingest_up_and_loses_no_requested_work(seeded, tmp_path):
    alpha, admin, project, run, integrations = seeded
    redis = faults.PrivateRedis()
    redis.start()
    env = {**faults.process_env(redis_url=redis.url), "INTEGRATIONS_RECONCILE_SECONDS": str(RECONCILE_SECONDS)}
    server = faults.start_gunicorn(env, tmp_path / "gunicorn.log")
    worker_log = tmp_path / "celery.log"
    worker = faults.start_celery(env, worker_log, beat_schedule=tmp_path / "beat-schedule")
    steps = itertools.count(1)

    def ingest():
        step = next(steps)
        body = json.dumps({"metrics": [{"key": "redis", "value": step, "step": step, "timestamp": step}]}).encode()
        return faults.request("POST", server.url(f"/api/v1/runs/{run.pk}/log-batch"), admin.token, body)

    traffic = faults.Traffic(
        steps=[
            ("list projects", lambda: faults.request("GET", server.url("/api/v1/projects"), admin.token)),
            ("run detail", lambda: faults.request("GET", server.url(f"/api/v1/runs/{run.pk}"), admin.token)),
            ("ingest", ingest),
            ("list runs", lambda: faults.request("GET", server.url("/api/v1/runs"), admin.token)),
        ],
        threads=3,
    )
    requests = []
    try:
        traffic.start()
        time.sleep(2)
        redis.stop()
        down_at = time.monotonic()
        for integration in integrations:
            started = time.monotonic()
            status, body = faults.request(
                "POST",
                server.url(f"/api/v1/projects/{project.pk}/integrations/{integration.pk}/reprocess"),
                admin.token,
                b"",
            )
            requests.append((integration.pk, status, time.monotonic() - started, body))
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        redis.start()
        up_at = time.monotonic()
        time.sleep(3)
        answers = traffic.stop()

        def pending():
            with alpha.context():
                return Integration.objects.filter(project=project, reprocess_requested_at__isnull=False).count()

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and outside_event_loop(pending):
            time.sleep(1)
        left = outside_event_loop(pending)
        time.sleep(RECONCILE_SECONDS * 2)  # a duplicate send would run within this
        with alpha.context():
            processed = WebhookDelivery.objects.filter(
                integration__project=project, processed_at__gt=timezone.now() - timezone.timedelta(minutes=10)
            ).count()
        assert worker.poll() is None and server.proc.poll() is None, "a process died"
    finally:
        traffic.stop()
        faults.stop(worker)
        faults.stop(server.proc)
        redis.stop()

    log = worker_log.read_text(errors="replace")
    runs = re.findall(r"Task integrations\.reprocess\[[^\]]+\] succeeded in [0-9.]+s: (\{[^}]*\}|None)", log)
    effective = [result for result in runs if result != "None"]
    during = [a for a in answers if down_at <= a.at <= up_at]
    statuses = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    print(f"\nRedis down {OUTAGE_SECONDS:.0f} s under traffic: {len(answers)} requests ({len(during)} during it), "
          f"statuses {statuses}, slowest {max(a.seconds for a in answers):.2f} s; reprocess requests "
          f"{[(status, round(seconds, 2)) for _, status, seconds, _ in requests]}; pending after recovery {left}; "
          f"reprocess runs {len(effective)} effective, {len(runs) - len(effective)} no-op")  # fmt: skip
    assert len(during) > 10
    failed = [(a.name, a.status, a.body) for a in answers if a.status not in (200, 201)]
    assert not failed, failed[:5]
    assert all(status == 202 and seconds < 5 for _, status, seconds, _ in requests), requests
    assert left == 0, f"{left} reprocess requests were lost"
    assert len(effective) == INTEGRATIONS, runs
    assert processed == INTEGRATIONS
