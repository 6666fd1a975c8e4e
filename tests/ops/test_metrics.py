"""Every metric helper changes what /metrics exports; DB and cache metrics flow through the tenant engine; the
scrape-time collectors read Redis and survive its outage."""

import os
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from kombu.transport.redis import PRIORITY_STEPS, Channel

from apps.accounts.tasks import clear_expired_sessions
from apps.metrics import services
from apps.metrics.selectors import metric_history
from apps.metrics.validation import parse_log_batch
from apps.projects.models import Project
from maestro.celery import app
from maestro.observability import metrics as m
from maestro.observability.multiproc import mark_process_dead, prepare_multiproc_dir
from tests.metrics.factories import points
from tests.ops.scrape import scrape, value

pytestmark = pytest.mark.django_db


def _delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def test_points_ingested_is_counted_per_tenant_from_the_current_schema(tenant_a, tenant_b):
    before = scrape()
    with tenant_a.context():
        m.record_points_ingested(5)
        m.record_points_ingested(0)
    with tenant_b.context():
        m.record_points_ingested(2)
    after = scrape()
    assert _delta(before, after, "maestro_metric_points_ingested_total", tenant="alpha") == 5
    assert _delta(before, after, "maestro_metric_points_ingested_total", tenant="beta") == 2


def test_history_reads_are_counted_per_tenant_and_source(tenant_a, tenant_b, settings):
    """Real reads: a series' first read packs its points, the next ones use the copy (and the points after it)."""
    settings.METRIC_HISTORY_PACK_MIN_POINTS = 4
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 3600
    before = scrape()
    with tenant_a.context():
        run = services.run_create(user=None, project=Project.objects.create(name="p", slug="history-reads"))
        first = parse_log_batch({"metrics": points("loss", [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])})
        services.run_log_batch(run=run, batch=first)
        metric_history(user=None, run=run, key="loss")
        metric_history(user=None, run=run, key="loss", max_points=4)
        services.run_log_batch(run=run, batch=parse_log_batch({"metrics": points("loss", [0.5], start_step=8)}))
        metric_history(user=None, run=run, key="loss")
    with tenant_b.context():
        m.record_history_read("copy")
        m.record_history_read("<client>")
    after = scrape()
    counts = {
        (tenant, source): _delta(before, after, "maestro_metric_history_reads_total", tenant=tenant, source=source)
        for tenant in ("alpha", "beta")
        for source in ("points", "copy", "copy_tail", "other")
    }
    assert {k: v for k, v in counts.items() if v} == {
        ("alpha", "points"): 1,
        ("alpha", "copy"): 1,
        ("alpha", "copy_tail"): 1,
        ("beta", "copy"): 1,
        ("beta", "other"): 1,
    }


def test_rejected_batches_are_counted_by_a_bounded_reason():
    before = scrape()
    m.record_batch_rejected("too_large")
    m.record_batch_rejected("too_large")
    m.record_batch_rejected("<script>client-supplied</script>")
    after = scrape()
    assert _delta(before, after, "maestro_metric_batches_rejected_total", reason="too_large") == 2
    assert _delta(before, after, "maestro_metric_batches_rejected_total", reason="other") == 1
    assert not any("client-supplied" in str(labels) for _, labels in after)  # the client's text is no label


def test_recommendations_served_and_their_latency(tenant_a):
    before = scrape()
    with tenant_a.context(), m.time_recommendation():
        time.sleep(0.02)
    m.record_recommendation_served(0.3, tenant="beta")
    after = scrape()
    assert _delta(before, after, "maestro_recommendations_served_total", tenant="alpha") == 1
    assert _delta(before, after, "maestro_recommendations_served_total", tenant="beta") == 1
    assert _delta(before, after, "maestro_recommendation_latency_seconds_count") == 2
    assert 0.32 <= _delta(before, after, "maestro_recommendation_latency_seconds_sum") < 1.0
    assert _delta(before, after, "maestro_recommendation_latency_seconds_bucket", le="0.01") == 0
    assert _delta(before, after, "maestro_recommendation_latency_seconds_bucket", le="0.5") == 2


def test_failed_recommendation_is_not_counted_as_served(tenant_a):
    before = scrape()
    with pytest.raises(RuntimeError), tenant_a.context(), m.time_recommendation():
        raise RuntimeError("model missing")
    assert _delta(before, scrape(), "maestro_recommendations_served_total", tenant="alpha") == 0


def test_predictions_with_insufficient_data(tenant_b):
    before = scrape()
    with tenant_b.context():
        m.record_prediction_insufficient_data()
    assert _delta(before, scrape(), "maestro_predictions_insufficient_data_total", tenant="beta") == 1


def test_model_training_success_publishes_mae_and_time_failure_only_counts():
    trained_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    before = scrape()
    m.record_model_training(duration_seconds=42.0, succeeded=True, cv_mae=0.125, trained_at=trained_at, tenant="alpha")
    m.record_model_training(duration_seconds=7.0, succeeded=False, cv_mae=9.9, tenant="alpha")
    after = scrape()
    assert _delta(before, after, "maestro_model_trainings_total", tenant="alpha", outcome="success") == 1
    assert _delta(before, after, "maestro_model_trainings_total", tenant="alpha", outcome="failure") == 1
    assert _delta(before, after, "maestro_model_training_duration_seconds_count") == 2
    assert _delta(before, after, "maestro_model_training_duration_seconds_sum") == 49.0
    assert value(after, "maestro_model_cv_mae", tenant="alpha") == 0.125
    assert value(after, "maestro_model_last_trained_timestamp_seconds", tenant="alpha") == trained_at.timestamp()


def test_embedding_backlog_is_a_per_tenant_gauge():
    m.set_embedding_backlog(17, tenant="alpha")
    m.set_embedding_backlog(-3, tenant="beta")
    after = scrape()
    assert value(after, "maestro_embedding_backlog", tenant="alpha") == 17
    assert value(after, "maestro_embedding_backlog", tenant="beta") == 0


def test_celery_signals_count_success_failure_and_skipped_tasks(tenant_a):
    name = "accounts.clear_expired_sessions"
    before = scrape()
    clear_expired_sessions.apply(kwargs={"schema_name": "alpha"})
    clear_expired_sessions.apply(kwargs={})  # TenantTask refuses a call without schema_name: a failure
    clear_expired_sessions.apply(kwargs={"schema_name": "nobody"})  # unknown tenant: skipped
    after = scrape()
    for outcome in ("success", "failure", "skipped"):
        assert _delta(before, after, "maestro_celery_tasks_total", task=name, outcome=outcome) == 1, outcome
    assert _delta(before, after, "maestro_celery_task_duration_seconds_count", task=name) == 3


def test_task_retries_are_counted():
    attempts = []

    @app.task(bind=True, name="tests.ops.flaky", max_retries=1, default_retry_delay=0)
    def flaky(self):
        attempts.append(1)
        if len(attempts) == 1:
            raise self.retry(exc=ValueError("first attempt fails"))
        return "ok"

    before = scrape()
    assert flaky.apply().get() == "ok"
    after = scrape()
    assert _delta(before, after, "maestro_celery_tasks_total", task="tests.ops.flaky", outcome="retry") == 1
    assert _delta(before, after, "maestro_celery_tasks_total", task="tests.ops.flaky", outcome="success") == 1


def test_database_metrics_come_through_the_django_tenants_engine(tenant_a):
    labels = {"alias": "default", "vendor": "postgresql"}
    first, second = scrape(), scrape()  # a scrape alone runs the readiness query: the baseline
    assert tenant_a.client().get("/accounts/login/").status_code == 200  # host lookup in the public schema
    third = scrape()
    baseline = _delta(first, second, "django_db_execute_total", **labels)
    assert baseline >= 1
    assert _delta(second, third, "django_db_execute_total", **labels) > baseline
    assert _delta(second, third, "django_db_query_duration_seconds_count", **labels) > baseline


def test_cache_metrics_count_hits_and_misses(tenant_a):
    key = f"ops-metrics-{uuid.uuid4().hex}"
    before = scrape()
    with tenant_a.context():
        assert cache.get(key) is None
        cache.set(key, "v", 30)
        assert cache.get(key) == "v"
        cache.delete(key)
    after = scrape()
    assert _delta(before, after, "django_cache_get_total", backend="redis") == 2
    assert _delta(before, after, "django_cache_get_hits_total", backend="redis") == 1
    assert _delta(before, after, "django_cache_get_misses_total", backend="redis") == 1


def test_request_metrics_count_views_by_status(tenant_a):
    before = scrape()
    for _ in range(3):
        tenant_a.client().get("/accounts/login/")
    after = scrape()
    labels = {"status": "200", "view": "login", "method": "GET"}
    assert _delta(before, after, "django_http_responses_total_by_status_view_method_total", **labels) == 3


@pytest.fixture
def private_queue():
    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    yield name
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = [f"{prefix}{name}{Channel.sep}{step}" if step else f"{prefix}{name}" for step in PRIORITY_STEPS]
    client.delete(*keys, f"{prefix}_kombu.binding.{name}")
    client.close()


def test_queue_length_is_read_from_the_broker_at_scrape_time(settings, private_queue):
    settings.METRICS_CELERY_QUEUES = [private_queue]
    assert value(scrape(), "maestro_celery_queue_length", queue=private_queue) == 0
    for priority in (0, 0, 9):
        app.send_task("ops.never_consumed", queue=private_queue, priority=priority)
    samples = scrape()
    assert value(samples, "maestro_celery_queue_length", queue=private_queue) == 3
    assert value(samples, "maestro_celery_broker_up") == 1


def test_metrics_still_answer_quickly_when_redis_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    samples = scrape()
    # bounded, not hanging: the broker read gives up after METRICS_COLLECTOR_TIMEOUT (0.5 s); the rest of the margin
    # is for a loaded 2-core machine rendering every metric family
    assert time.monotonic() - started < 10
    assert value(samples, "maestro_celery_broker_up") == 0
    assert not [key for key in samples if key[0] == "maestro_celery_queue_length"]
    assert value(samples, "maestro_dependency_up", dependency="redis") == 0
    assert value(samples, "maestro_dependency_up", dependency="postgresql") == 1


def test_metrics_endpoint_refuses_other_clients_even_with_tenant_tokens(tenant_a, settings):
    from django.test import Client

    from apps.accounts.models import User
    from apps.accounts.services import token_create

    settings.METRICS_TOKEN = "metrics-token-for-tests-0123456789"
    with tenant_a.context():
        token = token_create(user=User.objects.get(username="admin"), name="not-for-metrics").plaintext
    outside = {"REMOTE_ADDR": "203.0.113.9", "HTTP_HOST": "localhost"}
    assert Client().get("/metrics", **outside).status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", **outside).status_code == 403
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests-0123456789", **outside)
    assert response.status_code == 200 and b"maestro_dependency_up" in response.content


def test_multiproc_dir_start_removes_only_files_of_dead_processes(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    live = os.getpid()
    for name in (f"counter_{dead.pid}.db", f"gauge_livesum_{dead.pid}.db", f"counter_{live}.db", "README"):
        (tmp_path / name).write_bytes(b"x")
    removed = prepare_multiproc_dir(tmp_path / ".")
    assert sorted(p.name for p in removed) == sorted([f"counter_{dead.pid}.db", f"gauge_livesum_{dead.pid}.db"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"counter_{live}.db", "README"])
    assert prepare_multiproc_dir(tmp_path / "new" / "dir") == [] and (tmp_path / "new" / "dir").is_dir()


def test_mark_process_dead_drops_live_gauges_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_mostrecent_4242.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"x")
    mark_process_dead(4242)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_mostrecent_4242.db"]
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    mark_process_dead(4242)  # without a directory: nothing to do
