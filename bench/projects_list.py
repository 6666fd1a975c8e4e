"""Benchmark: project list pages of 50 out of 100,000 projects, through HTTP against gunicorn.

    .venv/bin/python bench/projects_list.py [--projects 100000] [--requests 200] [--workers 2] [--keep]

Seeds a throwaway tenant (schema ``benchprojects``) in the dev database with bulk inserts (progress printed),
starts gunicorn with production settings (``SECURE_SSL_REDIRECT=false``), then times sequential requests for each
scenario — first page and a deep page, unfiltered and with a filter plus an ordering — and prints p50/p95/p99 in a
table with the command line. Target (issue 3): p95 ≤ 30 ms. The tenant is dropped at the end unless ``--keep`` (a
kept tenant is reused by the next run, which then only tops up the projects).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SLUG = "benchprojects"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def ensure_tenant() -> str:
    """The benchmark tenant's host; created (schema + migrations) unless a kept one exists."""
    from _harness import lift_rate_limits

    from apps.ops.services import tenant_provision
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.filter(schema_name=SLUG).first()
    if tenant is not None:
        lift_rate_limits(SLUG)
        progress(f"reusing kept tenant {SLUG}")
        return tenant.get_primary_domain().domain
    progress(f"creating throwaway tenant {SLUG} (schema + migrations)")
    result = tenant_provision(slug=SLUG, name="Projects list benchmark", admin_email=f"bench@{SLUG}.test")
    lift_rate_limits(SLUG)
    return result.domain.domain


def seed(total: int, batch: int = 5000) -> None:
    """Top the tenant up to ``total`` projects with bulk inserts; values cycle deterministically."""
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from apps.projects.choices import ProblemClass, ProjectStatus
    from apps.projects.models import Project

    statuses, classes = list(ProjectStatus.values), list(ProblemClass.values)
    tag_pool = ["tabular", "nlp", "vision", "eu", "us", "prod", "poc", "llm", "batch", "realtime"]
    with schema_context(SLUG):
        owners = list(get_user_model().objects.values_list("pk", flat=True))
        existing = Project.objects.count()
        if existing >= total:
            progress(f"{existing} projects already present")
            _vacuum()
            return
        progress(f"seeding {total - existing} projects in batches of {batch}")
        started = time.monotonic()
        for start in range(existing, total, batch):
            rows = []
            for i in range(start, min(start + batch, total)):
                status = statuses[i % len(statuses)]
                rows.append(
                    Project(
                        name=f"Project {i:06d}",
                        slug=f"project-{i:06d}",
                        spec=f"Benchmark project number {i}.",
                        problem_class=classes[(i // 4) % len(classes)],
                        complexity_score=(i * 37) % 100 + 1,
                        status=status,
                        start_date=date(2024, 1, 1) + timedelta(days=i % 700),
                        tags=[tag_pool[i % 10], tag_pool[(i // 10) % 10]],
                        owner_id=owners[i % len(owners)],
                        success_score=float((i * 13) % 100) if status == ProjectStatus.COMPLETED else None,
                        success_score_source="explicit" if status == ProjectStatus.COMPLETED else "",
                    )
                )
            Project.objects.bulk_create(rows)
            done = min(start + batch, total)
            progress(f"  {done}/{total} projects ({done / max(time.monotonic() - started, 1e-9):.0f}/s)")
        _vacuum()


def _vacuum() -> None:
    """What autovacuum does to a table after a bulk load, done now instead of at an unknown moment mid-run: fresh
    statistics, and a visibility map so that deep pages are index-only scans (not 20,000 heap fetches)."""
    from django.db import connection
    from django_tenants.utils import schema_context

    progress("VACUUM (ANALYZE) projects_project")
    with schema_context(SLUG), connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) projects_project")


def token() -> str:
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from apps.accounts.services import token_create

    with schema_context(SLUG):
        return token_create(user=get_user_model().objects.get(username="admin"), name="bench").plaintext


def drop_tenant() -> None:
    from django.db import connection

    from apps.tenants.models import Tenant

    progress(f"dropping tenant {SLUG}")
    connection.set_schema_to_public()
    Tenant.objects.get(schema_name=SLUG).delete(force_drop=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, host: str, path: str, auth: str) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Host": host, "Authorization": f"Bearer {auth}"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, body, (time.perf_counter() - started) * 1000


@contextlib.contextmanager
def gunicorn(workers: int):
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-projects-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "maestro.settings.production", "SECURE_SSL_REDIRECT": "false"}
    command = [str(ROOT / ".venv/bin/gunicorn"), "maestro.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "sync"]  # fmt: skip
    progress(f"starting gunicorn ({workers} sync workers, production settings) on port {port}; log {log.name}")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz", headers={"Host": "localhost"})
                if conn.getresponse().status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within 60 s; see {log.name}")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time of gunicorn's worker processes (children of the master), from /proc."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for pid in children:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the tenant (and its projects) for the next run")
    args = parser.parse_args()
    setup_django()
    load_before = f"{os.getloadavg()[0]:.2f}"

    host = ensure_tenant()
    try:
        seed(args.projects)
        auth = token()
        deep_all = max(1, args.projects // 50 // 2)
        scenarios = [
            ("first page", "/api/v1/projects?page_size=50"),
            (f"deep page {deep_all}", f"/api/v1/projects?page_size=50&page={deep_all}"),
            ("filter+order, first page", "/api/v1/projects?page_size=50&status=active&ordering=-complexity_score"),
            (
                "filter+order, deep page 200",
                "/api/v1/projects?page_size=50&status=active&ordering=-complexity_score&page=200",
            ),
            ("tags filter, first page", "/api/v1/projects?page_size=50&tags=llm,poc&ordering=name"),
        ]
        rows = []
        with gunicorn(args.workers) as (port, master_pid):
            for label, path in scenarios:
                progress(f"{label}: {args.warmup} warm-up + {args.requests} timed requests  GET {path}")
                for _ in range(args.warmup):
                    status, body, _ = get(port, host, path, auth)
                    if status != 200:
                        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
                timings = []
                cpu_before = worker_cpu_seconds(master_pid)
                for _ in range(args.requests):
                    status, body, elapsed = get(port, host, path, auth)
                    if status != 200:
                        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
                    timings.append(elapsed)
                cpu_ms = (worker_cpu_seconds(master_pid) - cpu_before) * 1000 / args.requests
                payload = json.loads(body)
                assert len(payload["results"]) == 50, f"{label}: expected a full page"
                rows.append((label, payload["count"], timings, cpu_ms))
    finally:
        if args.keep:
            progress(f"keeping tenant {SLUG} (--keep)")
        else:
            drop_tenant()

    print()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"{args.projects} projects, page_size=50, {args.requests} sequential requests per scenario, "
          f"gunicorn {args.workers} sync workers, target p95 <= 30 ms")  # fmt: skip
    print(f"load average before the run: {load_before}; after: {os.getloadavg()[0]:.2f} (2 cores; others share them)")
    from _harness import host_speed_ms

    print(f"host speed probe after the run: {host_speed_ms():.0f} ms (lower is faster; ~190 ms on an idle host)")
    header = (
        f"| {'scenario':<30} | {'count':>7} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | {'max ms':>7} "
        f"| {'app CPU ms/req':>14} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    worst = 0.0
    for label, count, timings, cpu_ms in rows:
        p95 = percentile(timings, 95)
        worst = max(worst, p95)
        print(f"| {label:<30} | {count:>7} | {percentile(timings, 50):>7.1f} | {p95:>7.1f} | "
              f"{percentile(timings, 99):>7.1f} | {max(timings):>7.1f} | {cpu_ms:>14.1f} |")  # fmt: skip
    print("app CPU = user+system time of the gunicorn workers per request (excludes PostgreSQL's own CPU time)")
    print(f"\nworst p95: {worst:.1f} ms — target {'met' if worst <= 30 else 'MISSED'} (≤ 30 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
