"""Background work on a real Celery worker and real Redis: tenant schemas, idempotency, broker outages, beat."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from datetime import date, timedelta

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.projects.models import Project
from apps.recommendations import services
from apps.recommendations.choices import RunKind
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.models import ProjectEmbedding, SuccessModel, TrainingRun
from apps.recommendations.tasks import reconcile, reconcile_all_tenants
from tests.recommendations.support import admin_token, celery_broker, cleanup, seeded
from tests.support.celery import wait_for

pytestmark = pytest.mark.slow
SHARED_PK = 990_001
DONE = ("succeeded", "skipped", "failed")


@pytest.fixture(scope="module")
def seeded_tenants(_session_tenants, django_db_blocker):
    """alpha: 50 demo projects, embedded but not trained; beta: three completed projects."""
    alpha, beta = _session_tenants
    with django_db_blocker.unblock(), seeded(alpha, projects=50, seed=21, train=False, gate=False):
        try:
            with beta.context():
                for i, score in enumerate((55.0, 65.0, 75.0)):
                    Project.objects.create(
                        name=f"beta {i}", slug=f"test-beta-{i}", spec=f"Beta project number {i} about parcels.",
                        status="completed", success_score=score, start_date=date.today() - timedelta(days=50),
                        completion_date=date.today(),
                    )  # fmt: skip
            connection.set_schema_to_public()
            yield alpha, beta
        finally:
            cleanup(beta)


def run_state(ctx, run_id):
    with ctx.context():
        return TrainingRun.objects.select_related("model").get(pk=run_id)


def finished(ctx, run_id):
    run = run_state(ctx, run_id)
    return run if run.status in DONE else None


def test_tasks_for_two_tenants_interleaved_never_touch_the_other_schema(seeded_tenants, committed, celery_worker):
    alpha, beta = seeded_tenants
    specs = {
        alpha.schema: "Alpha: forecast hourly electricity load for substations.",
        beta.schema: "Beta: detect fraudulent insurance claims from adjuster notes.",
    }
    for ctx in (alpha, beta):  # the same primary key in both schemas, with different specs
        spec = specs[ctx.schema]
        with ctx.context():
            Project.objects.create(pk=SHARED_PK, name="shared pk", slug=f"test-shared-{ctx.schema}", spec=spec)
    try:
        runs = []
        for ctx in (alpha, beta, alpha, beta):
            with ctx.context():
                kind = RunKind.EMBEDDINGS if len(runs) < 2 else RunKind.TRAIN
                params = {"project_ids": [SHARED_PK]} if kind == RunKind.EMBEDDINGS else {}
                runs.append((ctx, services.run_request(kind=kind, params=params).pk))
        results = [wait_for(lambda c=ctx, r=run_id: finished(c, r), timeout=180) for ctx, run_id in runs]

        for (ctx, _), run in zip(runs[:2], results[:2], strict=True):
            assert run.status == "succeeded" and run.result["schema"] == ctx.schema and run.result["embedded"] == 1
            with ctx.context():
                stored = ProjectEmbedding.objects.get(project_id=SHARED_PK)
                assert stored.text_sha256 == emb.text_sha256(specs[ctx.schema])

        alpha_train, beta_train = results[2], results[3]
        assert alpha_train.status == "succeeded" and alpha_train.model.version == 1
        assert beta_train.status == "skipped" and beta_train.result == {
            "status": "insufficient_data", "have": 3, "needed": 30,
        }  # fmt: skip
        with beta.context():
            assert not SuccessModel.objects.exists()
            assert not TrainingRun.objects.filter(kind=RunKind.IMPACT).exists()
        with alpha.context():
            assert SuccessModel.objects.get().status == "active"
            impact = TrainingRun.objects.get(kind=RunKind.IMPACT)
        assert wait_for(lambda: finished(alpha, impact.pk), timeout=120).status == "succeeded"
    finally:
        for ctx in (alpha, beta):
            with ctx.context():
                Project.objects.filter(pk=SHARED_PK).delete()
        connection.set_schema_to_public()


def _touch_outcomes(ctx, n: int = 1) -> None:
    with ctx.context():
        for project in Project.objects.filter(status="completed", slug__startswith="seed-").order_by("pk")[:n]:
            project.success_score = min(100.0, project.success_score + 0.5)
            project.save()


def test_two_concurrent_retrains_produce_one_new_version(seeded_tenants, committed):
    alpha, _beta = seeded_tenants
    _touch_outcomes(alpha)  # new data since any earlier model
    with alpha.context():
        before = SuccessModel.objects.count()
        ids = [TrainingRun.objects.create(kind=RunKind.TRAIN).pk for _ in range(2)]
    barrier = threading.Barrier(2)
    done = {}

    def execute(run_id):
        try:
            barrier.wait()
            with schema_context(alpha.schema):
                done[run_id] = services.run_execute(run_id=run_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute, args=(run_id,)) for run_id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    statuses = sorted(done[i].status for i in ids)
    assert statuses == ["skipped", "succeeded"]
    with alpha.context():
        assert SuccessModel.objects.count() == before + 1
        skipped = next(done[i] for i in ids if done[i].status == "skipped")
        assert "unchanged" in skipped.detail and skipped.model_id == SuccessModel.objects.order_by("-version")[0].pk


def test_two_retrain_tasks_sent_together_produce_one_new_version(seeded_tenants, committed, celery_worker):
    alpha, _beta = seeded_tenants
    _touch_outcomes(alpha)
    with alpha.context():
        before = SuccessModel.objects.count()
        ids = [TrainingRun.objects.create(kind=RunKind.TRAIN).pk for _ in range(2)]
        for run_id in ids:
            assert services.run_dispatch(run_id=run_id)
    runs = [wait_for(lambda r=run_id: finished(alpha, r), timeout=180) for run_id in ids]
    assert sorted(r.status for r in runs) == ["skipped", "succeeded"]
    with alpha.context():
        assert SuccessModel.objects.count() == before + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_retrain_request_succeeds_while_redis_is_down_and_reconciliation_sends_it_later(
    seeded_tenants, committed, celery_worker, tmp_path
):
    alpha, _beta = seeded_tenants
    _touch_outcomes(alpha)
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    api = alpha.api(admin_token(alpha))
    try:
        with celery_broker(f"redis://127.0.0.1:{port}/0") as app:
            wait_for(lambda: _answers(app), timeout=10)
            server.terminate()
            server.wait(timeout=10)
            started = time.monotonic()
            response = api.post("/api/v1/models/retrain", {}, format="json")
            elapsed = time.monotonic() - started
        assert response.status_code == 202 and elapsed < 10
        body = response.json()
        assert body["status"] == "queued" and body["dispatched_at"] is None and body["dispatch_error"]
        run = run_state(alpha, body["id"])
        assert run.status == "queued" and run.dispatch_attempts == 1 and "Error" in run.dispatch_error

        reconcile.delay(schema_name=alpha.schema)  # the periodic reconciliation, on the healthy broker
        picked = wait_for(lambda: finished(alpha, body["id"]), timeout=180)
        assert picked.status == "succeeded" and picked.dispatch_error == "" and picked.dispatch_attempts == 2
    finally:
        if server.poll() is None:
            server.kill()


def _answers(app) -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def test_beat_reconciliation_embeds_stale_projects_in_every_tenant(seeded_tenants, committed, celery_worker):
    alpha, beta = seeded_tenants
    created = {}
    for ctx in (alpha, beta):
        with ctx.context():
            created[ctx.schema] = Project.objects.create(
                name="late",
                slug=f"test-late-{ctx.schema}",
                spec=f"Late project in {ctx.schema}: rank next-best actions.",
            ).pk
    try:
        reconcile_all_tenants.delay()
        for ctx in (alpha, beta):
            pk = created[ctx.schema]
            with ctx.context():
                wait_for(lambda p=pk: ProjectEmbedding.objects.filter(project_id=p, dim=384).exists(), timeout=180)
                assert services.embeddings_stale_project_ids() == []
    finally:
        for ctx in (alpha, beta):
            with ctx.context():
                Project.objects.filter(pk=created.get(ctx.schema)).delete()
        connection.set_schema_to_public()


def test_only_embedding_training_and_impact_go_to_the_ml_queue():
    """Reconciliation runs on the default worker, so the ml queue is empty between pieces of real work and its worker
    can scale to zero (deploy/kubernetes/components/ml-scale-to-zero)."""
    from maestro.celery import app

    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert {name: queue_of(name) for name in sorted(app.tasks) if name.startswith("recommendations.")} == {
        "recommendations.reconcile": "default",
        "recommendations.reconcile_all_tenants": "default",
        "recommendations.recompute_embeddings": "ml",
        "recommendations.recompute_impact": "ml",
        "recommendations.retrain": "ml",
    }
