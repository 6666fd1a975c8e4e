"""Where the fixed cost of an authenticated request goes (issue 24): server CPU per request, split by stage.

    .venv/bin/python bench/request_budget.py [--requests 400] [--warmup 50] [--also SETTING=VALUE ...]
    .venv/bin/python bench/request_budget.py --profile log-metric   # cProfile of one scenario, by function

Every request of the MLflow client pays the same fixed cost before and after the work it asked for; this prints that
cost for a minimal authenticated ``GET /api/v1/me``, a single MLflow ``runs/log-metric`` and a one-point
``runs/log-batch``, so a change to it can be measured stage by stage.

How: the WSGI application gunicorn serves (production settings minus the HTTPS redirect, the project's whole
middleware stack) is called in this process, request after request, against a throwaway tenant. The stages are timed
with the thread's CPU clock (``time.thread_time_ns``) by wrappers this script puts around the functions that do each
stage — nothing in the served code is timed or changed, so there is nothing to compile out in production. Each
stage's time is exclusive (a stage nested in another, e.g. throttling inside the permission check, is subtracted from
its parent):

* tenant routing — ``TenantRoutingMiddleware.process_request`` (tenant lookup, search_path);
* authentication — ``BearerTokenAuthentication.authenticate`` (token lookup, hash check, last-use stamp);
* throttling — ``maestro.api.throttling.enforce`` (the Redis rate-limit round trips);
* permission — ``AccessPolicy.has_permission`` (the permission matrix, token scope, parent checks);
* audit — ``apps.audit.services.record`` (the audit event and its detail row);
* commit — ``connection.commit`` (the transaction's COMMIT round trip);
* view — the rest of DRF's ``APIView.dispatch`` (parsing, validation, the service and its SQL, rendering);
* middleware + handler — the rest of the WSGI call (Django's handler, the 21 middleware, URL resolving).

The PostgreSQL backend's CPU is read from ``/proc`` for the whole loop and shown per request as its own line: it is
server CPU too, but spent in another process. Figures are medians (p50) per stage and of the total over the timed
requests; the machine's other load changes them less than wall time, but still: repeat a run before trusting a
difference under ~0.2 ms. ``--also SETTING=VALUE`` measures a second variant in the same run, alternating with the
configured one in blocks of 25 requests, so a before/after (e.g. ``--also MAESTRO_AUTH_CACHE_SECONDS=0``: without
the token cache) sees the same machine load.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import percentile, print_table, progress, setup_django, throwaway_tenant

STAGES = ["middleware + handler", "tenant routing", "authentication", "throttling", "permission", "view", "audit",
          "commit"]  # fmt: skip


class StageClock:
    """Exclusive thread-CPU time per stage for the current request (a stack subtracts nested stages)."""

    def __init__(self):
        self.stack: list[list] = []  # [stage, start_ns, child_ns]
        self.current: dict[str, int] = {}

    def wrap(self, stage: str, func):
        @functools.wraps(func)
        def timed(*args, **kwargs):
            self.stack.append([stage, time.thread_time_ns(), 0])
            try:
                return func(*args, **kwargs)
            finally:
                name, started, children = self.stack.pop()
                spent = time.thread_time_ns() - started
                self.current[name] = self.current.get(name, 0) + spent - children
                if self.stack:
                    self.stack[-1][2] += spent

        return timed


def instrument(clock: StageClock) -> None:
    """Put the stage timers around the functions that do each stage (in this process only)."""
    from django.db.backends.base.base import BaseDatabaseWrapper
    from rest_framework.views import APIView

    from apps.access.permissions import AccessPolicy
    from apps.accounts.authentication import BearerTokenAuthentication
    from apps.audit import services as audit_services
    from apps.tenants.middleware import TenantRoutingMiddleware
    from maestro.api import throttling

    TenantRoutingMiddleware.process_request = clock.wrap("tenant routing", TenantRoutingMiddleware.process_request)
    BearerTokenAuthentication.authenticate = clock.wrap("authentication", BearerTokenAuthentication.authenticate)
    throttling.enforce = clock.wrap("throttling", throttling.enforce)
    AccessPolicy.has_permission = clock.wrap("permission", AccessPolicy.has_permission)
    audit_services.record = clock.wrap("audit", audit_services.record)
    BaseDatabaseWrapper.commit = clock.wrap("commit", BaseDatabaseWrapper.commit)
    APIView.dispatch = clock.wrap("view", APIView.dispatch)


def _proc_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


class Client:
    """Calls the WSGI application as gunicorn does: one environ per request, the response body consumed."""

    def __init__(self, app, token: str, clock: StageClock):
        self.app, self.token, self.clock = app, token, clock
        self.app_call = clock.wrap("middleware + handler", app.__call__)

    def call(self, method: str, path: str, payload=None) -> tuple[int, dict, dict[str, int]]:
        body = b"" if payload is None else json.dumps(payload).encode()
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": f"Bearer {self.token}", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.version": (1, 0),
        }  # fmt: skip
        status = []
        self.clock.current = {}
        chunks = self.app_call(environ, lambda s, headers, exc_info=None: status.append(s))
        data = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        code = int(status[0].split()[0])
        return code, (json.loads(data) if data else {}), dict(self.clock.current)


BLOCK = 25  # requests per block when variants alternate


def measure(client: Client, label: str, request, warmup: int, requests: int, variants: dict[str, dict]) -> dict:
    """Per variant (settings overrides), the stage medians/means, total p50/p95 and PostgreSQL CPU per request.
    Variants alternate in blocks of ``BLOCK`` requests, so the machine's changing load falls on each alike."""
    from django.db import connection
    from django.test import override_settings

    for i in range(warmup):
        for number, overrides in enumerate(variants.values()):
            with override_settings(**overrides):
                request(i + number * 1_000_000 + 500_000)
    backend = connection.connection.info.backend_pid
    collected = {name: {"stages": {stage: [] for stage in STAGES}, "totals": [], "pg": 0.0} for name in variants}
    i = warmup
    while i < warmup + requests:
        for number, (name, overrides) in enumerate(variants.items()):
            data = collected[name]
            with override_settings(**overrides):
                pg_before = _proc_cpu_ms(backend)
                for n in range(i, min(i + BLOCK, warmup + requests)):
                    stages = request(n + number * 1_000_000)  # distinct points per variant
                    for stage in STAGES:
                        data["stages"][stage].append(stages.get(stage, 0) / 1e6)
                    data["totals"].append(sum(stages.values()) / 1e6)
                data["pg"] += _proc_cpu_ms(backend) - pg_before
        i += BLOCK
    out = {}
    for name, data in collected.items():
        totals = data["totals"]
        out[name] = {
            "stages": {s: statistics.median(v) for s, v in data["stages"].items()},
            "mean": {s: statistics.fmean(v) for s, v in data["stages"].items()},
            "p50": percentile(totals, 50),
            "p95": percentile(totals, 95),
            "pg": data["pg"] / len(totals),
        }
        progress(f"{label} [{name}]: p50 {out[name]['p50']:.2f} ms Python CPU, PostgreSQL {out[name]['pg']:.2f} ms")
    return out


def _variants(specs: list[str]) -> dict[str, dict]:
    """``NAME=VALUE`` settings overrides (VALUE parsed as JSON when it is JSON) as one extra variant each."""
    variants: dict[str, dict] = {"as configured": {}}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        variants[spec] = {name: parsed}
    return variants


def _profile(scenarios: dict, args) -> int:
    """cProfile of ``args.requests`` calls of one scenario after its warm-up: where a stage's time goes, by
    function (profiling slows every call, so its times are relative, not the budget)."""
    import cProfile
    import pstats

    names = {"me": "GET /api/v1/me", "log-metric": "runs/log-metric", "log-batch": "runs/log-batch (1 point)"}
    call = scenarios[names[args.profile]]
    for i in range(args.warmup):
        call(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(args.warmup, args.warmup + args.requests):
        call(i)
    profiler.disable()
    print(f"command: python bench/request_budget.py --profile {args.profile} --requests {args.requests}")
    pstats.Stats(profiler).sort_stats(args.profile_sort).print_stats(args.profile_filter, 40)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests per endpoint first")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="also measure with this setting overridden, alternating with the configured one in blocks of 25 "
        "requests (before/after in one run), e.g. --also MAESTRO_AUTH_CACHE_SECONDS=0",
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="instead of the table, profile this many timed requests of one scenario (me, log-metric, log-batch) "
        "with cProfile and print 40 functions (by --profile-sort, matching --profile-filter)",
    )
    parser.add_argument("--profile-sort", default="tottime", help="pstats order: tottime (own time), cumtime, ...")
    parser.add_argument("--profile-filter", default="", help="regular expression the listed functions match")
    args = parser.parse_args()
    os.environ.update({"DJANGO_SETTINGS_MODULE": "maestro.settings.production", "SECURE_SSL_REDIRECT": "false",
                       "RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL": "false", "CONN_MAX_AGE": "3600"})  # fmt: skip
    setup_django()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    clock = StageClock()
    with throwaway_tenant() as tenant:
        from apps.tenants.models import Tenant

        # Limits high enough never to refuse, but set: every request is counted in Redis as in production.
        high = {"user": "1000000/minute", "tenant": "1000000/minute"}
        Tenant.objects.filter(schema_name=tenant.slug).update(
            rate_limits={s: high for s in ("read", "write", "ingest")}
        )
        connection.set_schema_to_public()
        instrument(clock)
        client = Client(get_wsgi_application(), tenant.token, clock)

        def ok(method: str, path: str, payload=None) -> dict[str, int]:
            code, data, stages = client.call(method, path, payload)
            if code != 200:
                raise RuntimeError(f"{method} {path} answered {code}: {data}")
            return stages

        api = "/api/2.0/mlflow/"
        experiment = client.call("POST", api + "experiments/create", {"name": "budget"})[1]["experiment_id"]
        run_id = client.call("POST", api + "runs/create", {"experiment_id": experiment, "start_time": 0})[1]["run"][
            "info"
        ]["run_id"]

        def point(i: int) -> dict:
            return {"key": "loss", "value": 1 / (i + 1), "timestamp": 1_767_225_600_000 + i, "step": i}

        scenarios = {
            "GET /api/v1/me": lambda i: ok("GET", "/api/v1/me"),
            "runs/log-metric": lambda i: ok("POST", api + "runs/log-metric", {"run_id": run_id, **point(i)}),
            "runs/log-batch (1 point)": lambda i: ok(
                "POST", api + "runs/log-batch", {"run_id": run_id, "metrics": [{**point(i), "key": "acc"}]}
            ),
        }
        if args.profile:
            return _profile(scenarios, args)
        variants = _variants(args.also)
        results = {label: measure(client, label, call, args.warmup, args.requests, variants)
                   for label, call in scenarios.items()}  # fmt: skip

    labels = list(results)
    for variant in variants:
        table = {label: results[label][variant] for label in labels}
        rows = [[stage, *(f"{table[label]['stages'][stage]:.2f} / {table[label]['mean'][stage]:.2f}"
                          for label in labels)] for stage in STAGES]  # fmt: skip
        rows.append(["total Python CPU, p50 (p95)", *(f"{table[label]['p50']:.2f} ({table[label]['p95']:.2f})"
                                                       for label in labels)])  # fmt: skip
        rows.append(["PostgreSQL backend CPU, mean", *(f"{table[label]['pg']:.2f}" for label in labels)])
        print_table(
            f"Server CPU per request by stage, ms, {variant} (median / mean of {args.requests} requests)",
            ["stage", *labels],
            rows,
            notes=[
                "in-process WSGI calls, production settings, the whole middleware stack, a throwaway tenant with "
                "rate limits too high to refuse but counted in Redis; thread CPU time, exclusive per stage (the "
                "docstring of bench/request_budget.py lists what each stage covers); PostgreSQL backend CPU "
                "from /proc, per request",
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
