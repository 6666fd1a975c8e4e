"""Rate limits against the real Redis: sequential, concurrent (threads and processes), per tenant, per scope,
client-IP spoofing, and a Redis of our own that we stop."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import redis
from django.db import connections
from django.test import override_settings
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.services import token_create, user_create
from apps.tenants.models import Tenant
from maestro.api import throttling
from tests.support.access import make_principal


@pytest.fixture(autouse=True)
def fresh_counters():
    """Each test counts under its own key prefix, on a fresh limiter (no memory of earlier Redis failures)."""
    with override_settings(MAESTRO_RATE_LIMIT_KEY_PREFIX=f"test-rl-{uuid.uuid4().hex}"):
        throttling.limiter.reset()
        yield
    throttling.limiter.reset()


def set_limits(ctx, **scopes):
    """Give ``ctx``'s tenant these limits, e.g. read={"user": "5/hour", "tenant": None}."""
    Tenant.objects.filter(pk=ctx.tenant.pk).update(rate_limits=scopes)


def statuses(api, n, path="/api/v1/me", method="get", **kwargs):
    return [getattr(api, method)(path, **kwargs).status_code for _ in range(n)]


@pytest.mark.django_db
def test_sequential_requests_past_the_user_limit_get_429_with_retry_after(tenant_a):
    set_limits(tenant_a, read={"user": "5/hour", "tenant": None})
    api = tenant_a.api(make_principal(tenant_a, "member").token)
    assert statuses(api, 5) == [200] * 5
    response = api.get("/api/v1/me")
    assert response.status_code == 429
    body = response.json()
    assert body["status"] == 429 and body["code"] == "throttled" and body["errors"] == []
    assert body["detail"].startswith("Request limit for 'read' reached (per user).")
    retry = int(response["Retry-After"])
    assert 1 <= retry <= 3600
    # Another user of the same tenant has their own allowance.
    assert tenant_a.api(make_principal(tenant_a, "viewer").token).get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_tenant_limit_is_shared_by_its_users_and_independent_of_other_tenants(tenant_a, tenant_b):
    set_limits(tenant_a, read={"user": "100/hour", "tenant": "6/hour"})
    set_limits(tenant_b, read={"user": "100/hour", "tenant": "6/hour"})
    alice = tenant_a.api(make_principal(tenant_a, "member").token)
    bob = tenant_a.api(make_principal(tenant_a, "member").token)
    results = []
    for _ in range(4):
        results += [alice.get("/api/v1/me").status_code, bob.get("/api/v1/me").status_code]
    assert results.count(200) == 6 and results[6:] == [429, 429]
    assert "(per organisation)" in alice.get("/api/v1/me").json()["detail"]
    beta = tenant_b.api(make_principal(tenant_b, "member").token)
    assert statuses(beta, 6) == [200] * 6
    assert beta.get("/api/v1/me").status_code == 429


@pytest.mark.django_db
def test_a_request_refused_by_one_limit_counts_against_none(tenant_a):
    """Both limits are counted in one step, all or none: the requests the organisation's limit refused did not use
    up the user's allowance (counted one limit after the other, each of them had)."""
    set_limits(tenant_a, read={"user": "5/hour", "tenant": "3/hour"})
    api = tenant_a.api(make_principal(tenant_a, "member").token)
    assert statuses(api, 5) == [200, 200, 200, 429, 429]
    assert "(per organisation)" in api.get("/api/v1/me").json()["detail"]
    set_limits(tenant_a, read={"user": "5/hour", "tenant": None})
    assert statuses(api, 3) == [200, 200, 429]  # 3 of 5 used, whatever was refused before
    assert "(per user)" in api.get("/api/v1/me").json()["detail"]


def test_one_step_counting_agrees_with_the_library_on_its_own_keys(settings):
    """The one-round-trip script decides as the ``limits`` library's sliding window does, on the counters the
    library reads: its window statistics (Retry-After) see the script's hits, and its hits count against them."""
    from limits import parse

    item = parse("4/hour")
    ours, theirs = ("t", "read", "u:ours"), ("t", "read", "u:theirs")
    library = throttling.limiter.get()
    decisions = [throttling.limiter.hit_all([(item, ours, "read", "per user")]) is None for _ in range(6)]
    assert decisions == [library.hit(item, *theirs) for _ in range(6)] == [True] * 4 + [False] * 2
    assert library.get_window_stats(item, *ours).remaining == library.get_window_stats(item, *theirs).remaining == 0
    library.clear(item, *ours)  # the library resets the script's counter
    assert throttling.limiter.hit_all([(item, ours, "read", "per user")]) is None
    assert library.hit(item, *ours) and library.get_window_stats(item, *ours).remaining == 2


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.access.urls_extra")
def test_read_write_and_ingest_scopes_are_counted_separately(tenant_a):
    set_limits(
        tenant_a,
        read={"user": "2/hour", "tenant": None},
        write={"user": "2/hour", "tenant": None},
        ingest={"user": "3/hour", "tenant": None},
    )
    api = tenant_a.api(make_principal(tenant_a, "member").token)
    assert statuses(api, 3, "/api/v1/test/ingest", "post") == [201, 201, 201]
    assert api.post("/api/v1/test/ingest").status_code == 429
    assert statuses(api, 3) == [200, 200, 429]
    tokens = [api.post("/api/v1/tokens", {"name": f"t{i}"}, format="json").status_code for i in range(3)]
    assert tokens == [201, 201, 429]


@pytest.mark.django_db
def test_refused_requests_count_too(tenant_a):
    """The limit is checked before the permission decision, so hammering a forbidden route is limited as well."""
    set_limits(tenant_a, read={"user": "3/hour", "tenant": None})
    api = tenant_a.api(make_principal(tenant_a, "viewer").token)
    assert statuses(api, 4, "/api/v1/audit-events") == [403, 403, 403, 429]


def _parallel_requests(host: str, token: str, count: int, workers: int) -> list[int]:
    def one(_):
        try:
            client = APIClient(HTTP_HOST=host)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return client.get("/api/v1/me").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_requests_cannot_overshoot_the_limit(committed):
    alpha, _ = committed
    limit = 25

    def scenario() -> list[int]:
        # Runs in a fresh thread: once the session's Playwright browser runs, the main thread has an event loop
        # and Django refuses synchronous ORM calls there.
        user = None
        try:
            with alpha.context():
                user = user_create(username=f"burst-{uuid.uuid4().hex[:8]}", role="member")
                token = token_create(user=user, name="burst").plaintext
            Tenant.objects.filter(pk=alpha.tenant.pk).update(
                rate_limits={"read": {"user": f"{limit}/hour", "tenant": None}}
            )
            return _parallel_requests(alpha.host, token, count=120, workers=12)
        finally:
            Tenant.objects.filter(pk=alpha.tenant.pk).update(rate_limits={})
            if user is not None:
                with alpha.context():
                    User.objects.filter(pk=user.pk).delete()
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(scenario).result()
    assert set(results) <= {200, 429}
    # The sliding-window counter is one Lua script: Redis runs it atomically, so the margin is zero.
    assert results.count(200) == limit, results


def _hit_many(args) -> int:
    url, prefix, key, n = args
    from limits import parse
    from limits.storage import RedisStorage
    from limits.strategies import SlidingWindowCounterRateLimiter

    limiter = SlidingWindowCounterRateLimiter(RedisStorage(url, key_prefix=prefix))
    item = parse("40/hour")
    return sum(1 for _ in range(n) if limiter.hit(item, key))


def test_processes_hitting_the_same_counter_share_it_exactly(settings):
    """Gunicorn runs several worker processes: four processes × 50 hits on a 40/hour counter allow exactly 40."""
    args = (settings.MAESTRO_RATE_LIMIT_REDIS_URL, settings.MAESTRO_RATE_LIMIT_KEY_PREFIX, uuid.uuid4().hex, 50)
    with ProcessPoolExecutor(max_workers=4) as pool:
        allowed = list(pool.map(_hit_many, [args] * 4))
    assert sum(allowed) == 40, allowed


@pytest.mark.django_db
def test_client_ip_from_x_forwarded_for_only_behind_trusted_proxies(tenant_a, settings):
    settings.MAESTRO_RATE_LIMIT_AUTH_FAILURES = "3/hour"
    valid = make_principal(tenant_a, "member").token
    bad = f"mae_alpha_0123abcd_{'0' * 40}"
    api = tenant_a.api(bad)
    # No trusted proxy: X-Forwarded-For is ignored, every failure counts against 127.0.0.1.
    codes = [api.get("/api/v1/me", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    # Valid credentials from the same address still work: only failures are counted.
    assert tenant_a.api(valid).get("/api/v1/me").status_code == 200
    # One trusted proxy: the address it appended is the client, and each client has its own count.
    settings.MAESTRO_TRUSTED_PROXY_COUNT = 1
    spoof_first = [
        api.get("/api/v1/me", HTTP_X_FORWARDED_FOR=f"6.6.6.6, 203.0.113.{i}").status_code for i in range(1, 5)
    ]
    assert spoof_first == [401, 401, 401, 401]
    same_client = [api.get("/api/v1/me", HTTP_X_FORWARDED_FOR=f"{i}.1.1.1, 203.0.113.9").status_code for i in range(5)]
    assert same_client == [401, 401, 401, 429, 429]


@pytest.mark.django_db
def test_anonymous_requests_are_limited_per_address(tenant_a, settings):
    settings.MAESTRO_RATE_LIMIT_ANON = "2/hour"
    client = tenant_a.client()
    codes = [client.get("/api/docs/", HTTP_X_FORWARDED_FOR=f"10.1.1.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    settings.MAESTRO_RATE_LIMIT_KEY_PREFIX += "-api"
    assert [tenant_a.api().get("/api/v1/me").status_code for _ in range(3)] == [401, 401, 429]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, on a free port, that the test may stop."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (apt-get install redis-server)"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)

    def stop():
        proc.terminate()
        proc.wait(timeout=10)

    yield url, client, stop
    if proc.poll() is None:
        stop()


@pytest.mark.django_db
@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_down_is_never_a_500(tenant_a, settings, own_redis, fail_open):
    url, client, stop = own_redis
    settings.MAESTRO_RATE_LIMIT_REDIS_URL = url
    settings.MAESTRO_RATE_LIMIT_FAIL_OPEN = fail_open
    set_limits(tenant_a, read={"user": "100/hour", "tenant": "100/hour"})
    api = tenant_a.api(make_principal(tenant_a, "member").token)
    assert api.get("/api/v1/me").status_code == 200
    assert client.keys(f"{settings.MAESTRO_RATE_LIMIT_KEY_PREFIX}*"), "the request was counted in our Redis"
    stop()
    started = time.monotonic()
    responses = [api.get("/api/v1/me") for _ in range(5)]
    elapsed = time.monotonic() - started
    if fail_open:
        assert [r.status_code for r in responses] == [200] * 5
    else:
        assert [r.status_code for r in responses] == [503] * 5
        body = responses[0].json()
        assert body["status"] == 503 and body["code"] == "rate_limit_unavailable"
        assert int(responses[0]["Retry-After"]) == settings.MAESTRO_RATE_LIMIT_RETRY_SECONDS
    # Only the first request waited for Redis; the circuit breaker spared the others.
    assert elapsed < 3, elapsed


@pytest.mark.django_db
def test_plans_and_overrides_decide_the_limits(tenant_a, settings):
    settings.MAESTRO_RATE_LIMIT_PLANS = {
        "free": {"read": {"user": "10/minute", "tenant": "50/minute"}},
        "team": {"read": {"user": "20/minute", "tenant": "100/minute"}},
    }
    tenant = Tenant.objects.get(pk=tenant_a.tenant.pk)
    tenant.plan, tenant.rate_limits = "free", {"read": {"tenant": "70/minute"}}
    assert throttling.plan_limits(tenant)["read"] == {"user": "10/minute", "tenant": "70/minute"}
    tenant.save()
    shown = tenant_a.api(make_principal(tenant_a, "viewer").token).get("/api/v1/tenant").json()
    assert shown["plan"] == "free"
    assert shown["effective_rate_limits"]["read"] == {"user": "10/minute", "tenant": "70/minute"}


def test_rate_limit_overrides_are_validated_naming_the_key():
    from django.core.exceptions import ValidationError

    tenant = Tenant(schema_name="x", name="x", rate_limits={"reads": {}, "write": {"user": "lots"}})
    with pytest.raises(ValidationError) as excinfo:
        tenant.clean()
    messages = excinfo.value.message_dict["rate_limits"]
    assert any(m.startswith("rate_limits.reads:") for m in messages)
    assert any(m.startswith("rate_limits.write.user:") for m in messages)
    assert throttling.validate_rate_limits({"ingest": {"user": "600/minute", "tenant": None}}) == []


@pytest.mark.django_db
def test_platform_admin_refuses_invalid_rate_limit_overrides(tenant_a, client):
    operator = user_create(username="ops", password="operator-pass-123", is_staff=True, is_superuser=True)
    client.force_login(operator)
    tenant = Tenant.objects.get(pk=tenant_a.tenant.pk)
    form = {
        "name": tenant.name, "is_active": "on", "suspended_reason": "", "max_users": 50, "max_projects": 100,
        "max_artifacts": 100, "max_storage_mb": 100, "plan": "free", "rate_limits": '{"read": {"user": "often"}}',
        "domains-TOTAL_FORMS": "0", "domains-INITIAL_FORMS": "0", "domains-MIN_NUM_FORMS": "0",
        "domains-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    response = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form, HTTP_HOST="localhost")
    assert response.status_code == 200
    assert "rate_limits.read.user: &#x27;often&#x27; is not a rate" in response.content.decode()
    form["rate_limits"] = '{"read": {"user": "100/minute"}}'
    assert client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form, HTTP_HOST="localhost").status_code == 302
    tenant.refresh_from_db()
    assert (tenant.plan, tenant.rate_limits) == ("free", {"read": {"user": "100/minute"}})


def test_lockout_key_for_requests_without_a_usable_address_is_one_shared_bucket(settings):
    from django.test import RequestFactory

    from maestro.net import UNKNOWN_CLIENT_IP, axes_client_ip

    factory = RequestFactory()
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="203.0.113.7")) == "203.0.113.7"
    # no peer address, or one that is not an address: the same key, so leaving it out does not dodge the lockout
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="")) == UNKNOWN_CLIENT_IP
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="not-an-ip")) == UNKNOWN_CLIENT_IP
    settings.MAESTRO_TRUSTED_PROXY_COUNT = 1
    # behind a trusted proxy, garbage in its X-Forwarded-For entry falls back to the proxy's own address
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="garbage")
    assert axes_client_ip(request) == "10.0.0.2"
