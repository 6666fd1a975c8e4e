"""PostgreSQL restarted under traffic (a private cluster: never the shared one).

gunicorn (2 workers) and a Celery worker run against a private copy of the test database; three client threads read
projects and runs and ingest metric batches while the cluster is restarted. Pass: every answer is 2xx or a 503 in the
error shape with Retry-After (never a 500, never a dropped connection); the 503s fall inside the restart window (plus
the few seconds a worker needs to notice its connection is gone); afterwards every request succeeds again, without
restarting the web or worker processes; every batch acknowledged with 200 is stored; the Celery worker runs a task
sent after the restart.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import psycopg
import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

from apps.metrics.models import Run
from apps.projects.models import Project
from tests.support import faults
from tests.support.access import make_principal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (faults.postgres_available() and faults.redis_available()), reason="needs PostgreSQL and "
                       "Redis server binaries"),
]  # fmt: skip

GRACE_SECONDS = 5.0  # after the restart: gunicorn workers find their dead connection on the next request
RESTARTS = int(os.environ.get("FAULT_PG_RESTARTS", "2"))


@pytest.fixture
def seeded(committed):
    alpha, _beta = committed
    admin = make_principal(alpha, "admin")
    with alpha.context():
        project = Project.objects.create(name="PG fault", slug="pg-fault", owner=admin.user, visibility="tenant")
        run = Run.objects.create(project=project, name="pg-fault-run", start_time=timezone.now())
    yield alpha, admin, project, run
    with alpha.context():
        project.delete()


def test_postgresql_restart_under_traffic_answers_503_only_during_the_restart(seeded, tmp_path):
    alpha, admin, _project, run = seeded
    pg, redis = faults.PrivatePostgres(), faults.PrivateRedis()
    pg.create()
    redis.start()
    env = faults.process_env(database_url=pg.url, redis_url=redis.url)
    server = faults.start_gunicorn(env, tmp_path / "gunicorn.log")
    worker = faults.start_celery(env, tmp_path / "celery.log")
    acknowledged: list[int] = []
    steps_counter = itertools.count(1)

    def ingest():
        step = next(steps_counter)
        body = json.dumps({"metrics": [{"key": "fault", "value": step, "step": step, "timestamp": step}]}).encode()
        status, answer = faults.request("POST", server.url(f"/api/v1/runs/{run.pk}/log-batch"), admin.token, body)
        if status == 200:
            acknowledged.append(step)
        return status, answer

    traffic = faults.Traffic(
        steps=[
            ("list projects", lambda: faults.request("GET", server.url("/api/v1/projects"), admin.token)),
            ("run detail", lambda: faults.request("GET", server.url(f"/api/v1/runs/{run.pk}"), admin.token)),
            ("ingest", ingest),
            ("history", lambda: faults.request(
                "GET", server.url(f"/api/v1/runs/{run.pk}/metrics/fault/history"), admin.token)),
        ],
        threads=3,
    )  # fmt: skip
    windows = []
    try:
        traffic.start()
        time.sleep(3)
        for _ in range(RESTARTS):
            began = time.monotonic()
            pg.restart()
            windows.append((began, time.monotonic()))
            time.sleep(GRACE_SECONDS + 3)
        answers = traffic.stop()

        # The worker, still the same process, runs a task sent after the restarts.
        with psycopg.connect(pg.url.replace("postgres://", "postgresql://"), autocommit=True) as db:
            db.execute(
                f'INSERT INTO "{alpha.schema}".django_session (session_key, session_data, expire_date) '
                "VALUES ('faultexpiredsession', 'x', now() - interval '1 day')"
            )
            # set_as_current=False: a new app would otherwise become the process's current app, and every later
            # test's .delay() would go to this private Redis after it is gone.
            sender = Celery(
                broker=f"{redis.url}/2",
                broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                set_as_current=False,
            )
            sender.send_task("accounts.clear_expired_sessions", kwargs={"schema_name": alpha.schema}, queue="default")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = db.execute(
                    f'SELECT 1 FROM "{alpha.schema}".django_session WHERE session_key = %s', ["faultexpiredsession"]
                ).fetchone()
                if row is None:
                    break
                time.sleep(0.5)
            worker_recovered = row is None
            stored = {
                int(value)
                for (value,) in db.execute(
                    f'SELECT step FROM "{alpha.schema}".metrics_metricpoint WHERE run_id = %s AND key = %s',
                    [run.pk, "fault"],
                )
            }
        assert worker.poll() is None and server.proc.poll() is None, "a process died"
    finally:
        traffic.stop()
        faults.stop(worker)
        faults.stop(server.proc)
        redis.stop()
        pg.destroy()

    def in_window(answer) -> bool:
        # the request was in flight during a restart window (a slow request sent just before it counts)
        return any(
            answer.at <= ended + GRACE_SECONDS and answer.at + answer.seconds >= began - 1 for began, ended in windows
        )

    statuses = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    failed = [a for a in answers if a.status not in (200, 201)]
    print(f"\nPostgreSQL restarted {RESTARTS}x under traffic: {len(answers)} requests, statuses {statuses}, "
          f"restart windows {[round(end - begin, 1) for begin, end in windows]} s, "
          f"{len(acknowledged)} batches acknowledged, {len(stored)} stored")  # fmt: skip
    assert len(answers) > 50
    assert all(a.status == 503 for a in failed), [(a.name, a.status, a.body) for a in failed if a.status != 503][:5]
    for answer in failed:
        body = json.loads(answer.body)
        assert body["status"] == 503 and body["code"] == "unavailable", body
    assert all(in_window(a) for a in failed), [(round(a.at - windows[0][0], 1), a.name) for a in failed]
    after = [a for a in answers if a.at > windows[-1][1] + GRACE_SECONDS]
    assert after and all(a.status in (200, 201) for a in after)
    assert set(acknowledged) <= stored, sorted(set(acknowledged) - stored)[:10]
    assert worker_recovered, "the Celery worker did not run a task after the restart"
