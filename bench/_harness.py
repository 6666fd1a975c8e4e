"""Shared pieces of the runs/metrics benchmarks: a throwaway tenant in the dev database, gunicorn started and stopped
by the script, a small keep-nothing HTTP client, percentiles and the result table.

Every benchmark measures through HTTP against gunicorn (production settings, sync workers) with PostgreSQL on this
host. The tenant (schema ``benchruns<hex>``) is created at the start and dropped at the end, also on Ctrl-C or error.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class BenchTenant:
    slug: str
    host: str
    token: str


def lift_rate_limits(slug: str) -> None:
    """Lift the plan's rate limits of tenant ``slug``: a benchmark measures the server, not the plan's budget."""
    from apps.tenants.models import Tenant

    Tenant.objects.filter(schema_name=slug).update(
        rate_limits={scope: {"user": None, "tenant": None} for scope in ("read", "write", "ingest")}
    )


@contextlib.contextmanager
def throwaway_tenant():
    """Create a tenant with an admin token; drop its schema afterwards whatever happens."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.accounts.services import token_create
    from apps.ops.services import tenant_provision
    from apps.tenants.models import Tenant

    slug = f"benchruns{secrets.token_hex(3)}"
    progress(f"creating throwaway tenant {slug} (schema + migrations)")
    result = tenant_provision(slug=slug, name=f"Benchmark {slug}", admin_email=f"bench@{slug}.test")
    lift_rate_limits(slug)
    try:
        with schema_context(slug):
            user = get_user_model().objects.get(username=result.admin_username)
            token = token_create(user=user, name="bench").plaintext
        yield BenchTenant(slug=slug, host=result.domain.domain, token=token)
    finally:
        progress(f"dropping tenant {slug}")
        connection.set_schema_to_public()
        Tenant.objects.get(schema_name=slug).delete(force_drop=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running gunicorn. ``cpu_seconds()`` is the CPU its workers and their PostgreSQL backends have used so far
    (backends are recognised by the application_name gunicorn's connections carry), which measures the cost of
    the work independently of what else runs on the machine."""

    port: int
    pid: int
    app_name: str

    def cpu_ms_per_request(self, before: dict[int, float], requests: int) -> float:
        """Server CPU (workers + backends) per request since ``before`` (a cpu_snapshot())."""
        workers, backends = self.cpu_seconds(before)
        return (workers + backends) * 1000 / requests

    def cpu_snapshot(self) -> dict[int, float]:
        """CPU seconds so far of each gunicorn worker and each PostgreSQL backend serving them, by pid."""
        from django.db import connection

        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                    pids.append(int(entry.name))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.app_name])
            backends = [-pid for (pid,) in cursor.fetchall()]  # negative: backends, positive: workers
        return {key: _cpu_seconds(abs(key)) for key in pids + backends}

    def cpu_seconds(self, before: dict[int, float]) -> tuple[float, float]:
        """(workers, backends) CPU seconds used since ``before``."""
        after = self.cpu_snapshot()
        workers = sum(cpu - before.get(key, 0.0) for key, cpu in after.items() if key > 0)
        backends = sum(cpu - before.get(key, 0.0) for key, cpu in after.items() if key < 0)
        return workers, backends


@contextlib.contextmanager
def gunicorn(workers: int, app: str = "maestro.wsgi", extra_env: dict | None = None):
    """gunicorn with production settings (minus the HTTPS redirect) on a free local port, serving Maestro — or
    ``app`` (a WSGI callable gunicorn can import from ``bench/``, which must answer ``GET /healthz`` with 200)."""
    port = _free_port()
    app_name = f"bench-{port}"
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "maestro.settings.production",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "PGAPPNAME": app_name,
        # Keep each worker's database connection for the whole run, so per-backend CPU accounting stays complete.
        "CONN_MAX_AGE": "3600",
        **(extra_env or {}),
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"), app, "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "sync", "--timeout", "120",
    ]  # fmt: skip
    if app != "maestro.wsgi":
        command += ["--pythonpath", str(ROOT / "bench")]
    progress(f"starting gunicorn {app} with {workers} workers on port {port} (log {log.name})")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120  # each worker loads the embedding model at boot (production settings)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
            try:
                status, _, _ = Http(port, "localhost").request("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within 120 s; see {log.name}")
            time.sleep(0.2)
        yield Server(port=port, pid=proc.pid, app_name=app_name)
    finally:
        terminate(proc, 30)


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL when ``proc`` has not exited within ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def celery_worker(queues: str = "default,ml", concurrency: int = 2, nice: int = 0):
    """A Celery worker with production settings (prefork, as in the Procfile), stopped at the end; ``nice`` > 0 runs
    it at that lower CPU priority (the Procfile's ``mlworker``). It consumes the broker in ``CELERY_BROKER_URL`` —
    the caller points it and gunicorn at a broker database of their own."""
    log = tempfile.NamedTemporaryFile(prefix="bench-celery-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "maestro.settings.production", "LOG_LEVEL": "INFO"}
    command = [
        *(["nice", "-n", str(nice)] if nice else []),
        str(ROOT / ".venv/bin/celery"), "-A", "maestro", "worker", "--queues", queues, "--concurrency",
        str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        "--hostname", f"bench-{queues.replace(',', '-')}-{os.getpid()}@%h",
    ]  # fmt: skip
    progress(f"starting a Celery worker ({queues}, concurrency {concurrency}, nice {nice}, log {log.name})")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while b"ready." not in Path(log.name).read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; see {log.name}")
            time.sleep(0.2)
        yield proc
    finally:
        terminate(proc, 60)


class Http:
    """A minimal HTTP/1.1 client (one connection, reopened when the server closes it — gunicorn's sync workers
    close after every response)."""

    def __init__(self, port: int, host: str, token: str | None = None):
        self.port = port
        self.headers = {"Host": host}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, data, (time.perf_counter() - started) * 1000

    def json(self, method: str, path: str, payload=None, expect: int = 200):
        body = None if payload is None else json.dumps(payload).encode()
        status, data, _ = self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {data[:500]!r}")
        return json.loads(data) if data else None


def create_runs(tenant: BenchTenant, port: int, name: str, count: int) -> tuple[Http, list[int]]:
    """A project (written directly: the projects API is not what is measured) and ``count`` runs created through
    the API; returns the client and the run ids."""
    from django_tenants.utils import schema_context

    from apps.projects.models import Project

    with schema_context(tenant.slug):
        project = Project.objects.create(name=f"{name} bench", slug=f"{name}-bench")
    http = Http(port, tenant.host, tenant.token)
    run_ids = [
        http.json("POST", "/api/v1/runs", {"project": project.pk, "name": f"{name}-{i}"}, expect=201)["id"]
        for i in range(count)
    ]
    return http, run_ids


def stored_points(tenant: BenchTenant, run_id: int | None = None) -> int:
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(tenant.slug), connection.cursor() as cursor:
        if run_id is None:
            cursor.execute("SELECT count(*) FROM metrics_metricpoint")
        else:
            cursor.execute("SELECT count(*) FROM metrics_metricpoint WHERE run_id = %s", [run_id])
        return cursor.fetchone()[0]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def host_speed_ms() -> float:
    """The fastest of five runs of a fixed CPU-bound Python loop, in ms: the VM's speed at the moment. On the 2-core
    development VM it varies from ~190 ms (idle host) to ~300 ms within minutes, and every latency moves with it;
    tables print it so runs can be compared."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(3_000_000):
            total += i * i
        best = min(best, time.process_time() - started)
    return best * 1000


def print_table(title: str, headers: list[str], rows: list[list], notes: list[str] = ()) -> None:
    command = " ".join(shlex.quote(part) for part in [Path(sys.executable).name, *sys.argv])
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]
    print()
    print(f"## {title}")
    print(f"command: {command}")
    print(f"host: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"speed probe {host_speed_ms():.0f} ms (host_speed_ms: lower is faster, ~190 ms at best)")  # fmt: skip
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    for note in notes:
        print(f"- {note}")
    print(flush=True)


def verdict(value: float, target: float, *, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else "NOT met"
