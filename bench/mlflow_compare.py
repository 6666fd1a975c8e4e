"""Side-by-side benchmark: Maestro's MLflow-compatible API against a real ``mlflow server``, same machine, same
PostgreSQL, same number of workers, driven by the same load code through MLflow's REST API with the same data.

    .venv/bin/python bench/mlflow_compare.py [--workers 4] [--clients 4] [--quick] [--only workflow]
        [--artifacts | --artifacts-only] [--artifact-storage filesystem|s3]

What it does, printing progress as it goes:

1. installs the pinned ``mlflow`` (full package, server included, scikit-learn, the psycopg driver;
   ``constraints-mlflow.txt``) into its own virtualenv under ``.local/mlflow/`` (once; reused by later runs, and by
   the tests: ``tests/support/mlflow_venv.py``) — never into the project's virtualenv;
2. creates a throwaway PostgreSQL database for MLflow on the dev database server and a throwaway Maestro tenant
   (rate limits too high to refuse, still counted in Redis: throughput is measured, not the plan's limits);
3. starts Maestro (gunicorn, production settings, N sync workers) and ``mlflow server`` (its default uvicorn, N
   workers, PostgreSQL backend);
4. runs an MLflow user's workflow on both (``tests/mlflow_api/scripts/user_workflow.py``: params, metrics and files,
   ``mlflow.sklearn.log_model``, ``pyfunc.load_model`` + predict, ``register_model``, an alias and a load by alias,
   ``log_input``, ``sklearn.autolog``), compares each step's outcome and times it — the log_model round trip side
   by side (``--only workflow`` stops there);
5. runs each throughput scenario on Maestro, then on MLflow — interleaved per scenario so both see similar load;
6. prints the table (with the command line) and a compatibility check: the same bad requests sent to both, with
   the error codes each answers;
7. stops both servers and drops the tenant and the database — also on Ctrl-C or an error.

Artifacts (issue 19): ``--artifacts`` adds upload and download throughput of 1 MB and 100 MB files through each
server's artifact proxy (MLflow: ``--serve-artifacts``), with the servers' peak worker memory (RSS, sampled every
20 ms) during each size — flat in the file size when uploads and downloads stream. ``--artifact-storage s3`` puts
both servers' artifacts in one local S3 API (moto's server; MLflow needs boto3, installed into its virtualenv) instead
of local directories; ``--artifacts-only`` skips the tracking scenarios.

Scenarios (targets from issue 8): log-batch metrics/s with 1000-metric batches from several clients (Maestro ≥ 5×);
single log-metric requests/s; get-history p95 of a 25,000-point series (≥ 5× faster); runs/search p95 over 10,000
runs with a filter and an order (≥ 10× faster); the latency of retrying a duplicate batch when the run holds 10k vs
200k points (flat). Besides wall-clock figures, the servers' CPU time per request (workers and their PostgreSQL
backends, from /proc) is shown: on a shared machine it is the steadier measure of the work each server does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from _harness import (
    ROOT,
    Http,
    _free_port,
    gunicorn,
    percentile,
    print_table,
    progress,
    setup_django,
    throwaway_tenant,
)

from tests.support.mlflow_venv import MLFLOW_VERSION, ensure_mlflow_venv

API = "/api/2.0/mlflow/"
WORKFLOW_SCRIPT = ROOT / "tests" / "mlflow_api" / "scripts" / "user_workflow.py"
T0 = 1_767_225_600_000


# ---------------------------------------------------------------------------------------------- MLflow server


@contextlib.contextmanager
def throwaway_database():
    """A fresh PostgreSQL database for MLflow on the dev database server; dropped afterwards."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = f"mlflow_bench_{secrets.token_hex(4)}"
    params = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    progress(f"creating throwaway database {name}")
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{params['user']}:{params['password']}@{params['host']}:{params['port']}/{name}"
    finally:
        progress(f"dropping database {name}")
        with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextlib.contextmanager
def mlflow_server(python: Path, backend_uri: str, workers: int, artifact_env: dict | None = None,
                  artifacts_destination: str | None = None):  # fmt: skip
    port = _free_port()
    app_name = f"mlflow-bench-{port}"
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    log = open(workdir / "server.log", "wb")  # noqa: SIM115  (closed with the process)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "VIRTUAL_ENV"))},
        "PGAPPNAME": app_name,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        **(artifact_env or {}),
    }
    # Artifacts through MLflow's own proxy (mlflow-artifacts:/ URIs), as Maestro serves them.
    command = [
        str(python), "-m", "mlflow", "server", "--backend-store-uri", backend_uri, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--serve-artifacts",
        "--artifacts-destination", artifacts_destination or str(workdir / "artifacts"),
        # uvicorn restarts a worker that misses its 5 s health check — on a busy 2-core machine, one still importing
        # on its first request; the request is lost. A longer wait keeps the comparison about throughput.
        "--uvicorn-opts", "--timeout-worker-healthcheck 120",
    ]  # fmt: skip
    progress(f"starting mlflow server {MLFLOW_VERSION} with {workers} workers on port {port} (log {log.name})")
    proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # the first start migrates the empty database
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}; see {log.name}")
            with contextlib.suppress(OSError):
                if Http(port, "localhost").request("GET", "/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer /health within 300 s; see {log.name}")
            time.sleep(0.5)
        yield port, proc.pid, app_name
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


# ---------------------------------------------------------------------------------------------- CPU accounting


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


@dataclass
class Target:
    """One server under test, addressed through MLflow's REST API."""

    name: str
    port: int
    host: str
    token: str | None
    root_pid: int
    app_name: str
    client: Http = field(init=False)

    def __post_init__(self):
        self.client = Http(self.port, self.host, self.token)

    def call(self, method: str, path: str, payload=None, *, expect: int | None = 200):
        body = None if payload is None else json.dumps(payload).encode()
        if method == "GET" and payload:
            from urllib.parse import urlencode

            path, body = f"{path}?{urlencode(payload, doseq=True)}", None
        status, data, ms = self.client.request(method, API + path, body)
        if expect is not None and status != expect:
            raise RuntimeError(f"{self.name}: {method} {path} answered {status}: {data[:300]!r}")
        return status, data, ms

    def json(self, method: str, path: str, payload=None):
        return json.loads(self.call(method, path, payload)[1] or b"{}")

    def cpu_snapshot(self) -> dict[int, float]:
        from django.db import connection

        snapshot = {pid: _proc_cpu(pid) for pid in _descendants(self.root_pid)}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.app_name])
            snapshot.update({-pid: _proc_cpu(pid) for (pid,) in cursor.fetchall()})
        return snapshot

    def cpu_since(self, before: dict[int, float]) -> float:
        after = self.cpu_snapshot()
        return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


# ---------------------------------------------------------------------------------------------- generated data


def batch_metrics(seed: int, number: int, keys: int = 10) -> list[dict]:
    """1000 metrics: ``keys`` keys × (1000 / keys) steps, deterministic values."""
    steps = 1000 // keys
    out = []
    for j in range(steps):
        step = number * steps + j
        for k in range(keys):
            value = math.exp(-step / 5000) * (1 + 0.05 * math.sin(step * 0.37 + k + seed))
            out.append({"key": f"train/metric_{k}", "value": value, "timestamp": T0 + step, "step": step})
    return out


def new_run(target: Target, experiment_id: str, name: str, tags: list | None = None) -> str:
    body = {"experiment_id": experiment_id, "start_time": T0, "run_name": name, "tags": tags or []}
    return target.json("POST", "runs/create", body)["run"]["info"]["run_id"]


def log_batch(target: Target, run_id: str, body_bytes: bytes) -> float:
    status, data, ms = target.client.request("POST", API + "runs/log-batch", body_bytes)
    if status != 200:
        raise RuntimeError(f"{target.name}: log-batch answered {status}: {data[:300]!r}")
    return ms


def encoded_batch(run_id: str, metrics: list[dict], **extra) -> bytes:
    return json.dumps({"run_id": run_id, "metrics": metrics, **extra}).encode()


# ---------------------------------------------------------------------------------------------- scenarios


@dataclass
class Result:
    value: float
    unit: str
    cpu_ms: float | None = None
    detail: str = ""


def parallel(clients: int, work: Callable[[int], None]) -> float:
    """Run ``work(client)`` on ``clients`` threads; wall seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(work, c) for c in range(clients)]:
            future.result()
    return time.perf_counter() - started


def timed(target: Target, requests: int, call: Callable[[], float], detail: str) -> Result:
    """p95 of ``requests`` sequential calls (each returns its milliseconds), with the server CPU per call."""
    before = target.cpu_snapshot()
    timings = [call() for _ in range(requests)]
    cpu = target.cpu_since(before)
    return Result(percentile(timings, 95), "ms p95", cpu * 1000 / requests,
                  f"p50 {percentile(timings, 50):.1f} ms, {detail}")  # fmt: skip


def scenario_log_batch(target: Target, experiment_id: str, clients: int, batches: int) -> Result:
    runs = [new_run(target, experiment_id, f"ingest-{c}") for c in range(clients)]
    bodies = {c: [encoded_batch(runs[c], batch_metrics(c, b)) for b in range(batches + 2)] for c in range(clients)}
    parallel(clients, lambda c: [log_batch(target, runs[c], bodies[c][b]) for b in range(2)])  # warm-up
    before = target.cpu_snapshot()
    seconds = parallel(clients, lambda c: [log_batch(target, runs[c], bodies[c][b]) for b in range(2, batches + 2)])
    cpu = target.cpu_since(before)
    points = clients * batches * 1000
    return Result(points / seconds, "metrics/s", cpu * 1000 / (clients * batches),
                  f"{clients} clients × {batches} batches in {seconds:.1f} s")  # fmt: skip


def scenario_log_metric(target: Target, experiment_id: str, clients: int, requests: int) -> Result:
    runs = [new_run(target, experiment_id, f"single-{c}") for c in range(clients)]

    def work(c: int) -> None:
        for i in range(requests):
            body = {"run_id": runs[c], "key": "loss", "value": 1 / (i + 1), "timestamp": T0 + i, "step": i}
            target.call("POST", "runs/log-metric", body)

    before = target.cpu_snapshot()
    seconds = parallel(clients, work)
    cpu = target.cpu_since(before)
    total = clients * requests
    return Result(total / seconds, "requests/s", cpu * 1000 / total, f"{clients} clients × {requests} requests")


def scenario_history(target: Target, experiment_id: str, points: int, requests: int) -> Result:
    run_id = new_run(target, experiment_id, "history")
    for number in range(points // 1000):
        metrics = [{"key": "loss", "value": math.exp(-(number * 1000 + j) / 9000), "timestamp": T0 + number * 1000 + j,
                    "step": number * 1000 + j} for j in range(1000)]  # fmt: skip
        log_batch(target, run_id, encoded_batch(run_id, metrics))
    query = {"run_id": run_id, "metric_key": "loss"}
    got = target.json("GET", "metrics/get-history", query).get("metrics", [])
    if len(got) != points:
        raise RuntimeError(f"{target.name}: get-history returned {len(got)} of {points} points")
    return timed(target, requests, lambda: target.call("GET", "metrics/get-history", query)[2], f"{requests} requests")


SEARCH_FILTER = "metrics.accuracy > 0.5 and params.optimizer = 'adam'"
SEARCH_ORDER = ["metrics.accuracy DESC"]


def seed_search_runs(target: Target, experiment_id: str, runs: int, clients: int) -> None:
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()

    def work(c: int) -> None:
        for i in range(c, runs, clients):
            run_id = new_run(target, experiment_id, f"search-{i}", tags=[{"key": "team", "value": f"team-{i % 7}"}])
            body = {
                "run_id": run_id,
                "metrics": [
                    {"key": "accuracy", "value": (i * 7919 % 10000) / 10000, "timestamp": T0, "step": 0},
                    {"key": "loss", "value": (i * 104729 % 10000) / 5000, "timestamp": T0, "step": 0},
                ],
                "params": [{"key": "optimizer", "value": ["adam", "sgd", "adamw"][i % 3]},
                           {"key": "lr", "value": str(10 ** -(1 + i % 4))}],
            }  # fmt: skip
            target.call("POST", "runs/log-batch", body)
            with lock:
                done[0] += 1
                if done[0] % 1000 == 0:
                    rate = done[0] / (time.monotonic() - started)
                    progress(f"  {target.name}: {done[0]}/{runs} runs seeded ({rate:.0f} runs/s)")

    parallel(clients, work)


def scenario_search(target: Target, experiment_id: str, runs: int, requests: int, clients: int) -> Result:
    progress(f"{target.name}: seeding {runs} runs (create-run + log-batch each) for search")
    seed_search_runs(target, experiment_id, runs, clients)
    body = {"experiment_ids": [experiment_id], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}
    first = target.json("POST", "runs/search", body)["runs"]
    accuracies = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "accuracy") for r in first]
    if not first or accuracies != sorted(accuracies, reverse=True):
        raise RuntimeError(f"{target.name}: unexpected search result")
    return timed(target, requests, lambda: target.call("POST", "runs/search", body)[2], "page of 100")


def scenario_retry(target: Target, experiment_id: str, small: int, large: int, retries: int) -> tuple[Result, Result]:
    """Latency of re-sending a batch the server already stored, with ``small`` and then ``large`` points stored."""
    run_id = new_run(target, experiment_id, "retry")
    bodies = [encoded_batch(run_id, batch_metrics(0, number)) for number in range(large // 1000)]
    results = []
    stored = 0
    for size in (small, large):
        while stored < size // 1000:
            log_batch(target, run_id, bodies[stored])
            stored += 1
            if stored % 25 == 0:
                progress(f"  {target.name}: {stored * 1000} points stored")
        retry = bodies[stored - 1]  # the last batch again: every point is already there
        timings = []
        before = target.cpu_snapshot()
        for _ in range(retries):
            timings.append(log_batch(target, run_id, retry))
        cpu = target.cpu_since(before)
        results.append(Result(percentile(timings, 50), "ms p50", cpu * 1000 / retries,
                              f"p95 {percentile(timings, 95):.1f} ms"))  # fmt: skip
    return results[0], results[1]


# ---------------------------------------------------------------------------------------------- artifacts

MB = 1_000_000


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the resident memory of every worker process of a server every 20 ms; ``peak`` is the largest single
    worker's RSS seen (MiB) — one request is served by one worker, so that is where a buffered file would show."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            workers = [pid for pid in _descendants(self.root_pid) if pid != self.root_pid] or [self.root_pid]
            self.peak = max(self.peak, max(_rss_kib(pid) for pid in workers) / 1024)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _artifact_url(target: Target, path: str) -> str:
    return f"http://127.0.0.1:{target.port}/api/2.0/mlflow-artifacts/artifacts/{path}"


def scenario_artifacts(
    targets: list[Target], experiments: dict[str, str], size: int, repeats: int, source: Path, warmup: int = 0
) -> dict[str, dict[str, Result]]:
    """Upload ``source`` (``size`` bytes) ``repeats`` times through each server's artifact proxy, then download each
    copy back (checked byte for byte by SHA-256): per server, MB/s each way (bytes over the summed time of its own
    requests), its CPU per file and its peak worker RSS. The servers take turns request by request, so a change in
    the shared machine's load falls on both alike (one after the other, a busy minute made either look 5× slower).
    ``warmup`` untimed uploads and downloads of the same file come first, so that neither server's figures include
    the lazy imports and connections of its workers' first artifact requests."""
    import hashlib

    import requests

    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    headers, roots = {}, {}
    for target in targets:
        headers[target.name] = {"Host": target.host,
                                **({"Authorization": f"Bearer {target.token}"} if target.token else {})}  # fmt: skip
        run_id = new_run(target, experiments[target.name], f"artifacts-{size}")
        run = target.json("GET", "runs/get", {"run_id": run_id})["run"]["info"]
        roots[target.name] = run["artifact_uri"].removeprefix("mlflow-artifacts:").lstrip("/")

    def upload(target: Target, name: str) -> None:
        with open(source, "rb") as body:
            answer = requests.put(_artifact_url(target, f"{roots[target.name]}/{name}"), data=body,
                                  headers={**headers[target.name], "Content-Type": "application/octet-stream"},
                                  timeout=600)  # fmt: skip
        if answer.status_code != 200:
            raise RuntimeError(f"{target.name}: upload answered {answer.status_code}: {answer.text[:300]}")

    def download(target: Target, name: str) -> None:
        digest = hashlib.sha256()
        with requests.get(_artifact_url(target, f"{roots[target.name]}/{name}"), headers=headers[target.name],
                          stream=True, timeout=600) as answer:  # fmt: skip
            if answer.status_code != 200:
                raise RuntimeError(f"{target.name}: download answered {answer.status_code}")
            for chunk in answer.iter_content(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise RuntimeError(f"{target.name}: downloaded bytes differ from the uploaded ones")

    for number in range(warmup):  # untimed: each worker's first artifact requests import and connect lazily
        for target in targets:
            upload(target, f"warmup-{number}.bin")
            download(target, f"warmup-{number}.bin")
    out: dict[str, dict[str, Result]] = {target.name: {} for target in targets}
    for way, call in (("upload", upload), ("download", download)):
        seconds = dict.fromkeys(out, 0.0)
        cpu_before = {target.name: target.cpu_snapshot() for target in targets}
        with contextlib.ExitStack() as stack:
            rss = {target.name: stack.enter_context(PeakRss(target.root_pid)) for target in targets}
            for number in range(repeats):
                for target in targets:
                    started = time.perf_counter()
                    call(target, f"file-{number}.bin")
                    seconds[target.name] += time.perf_counter() - started
        for target in targets:
            cpu = target.cpu_since(cpu_before[target.name]) * 1000 / repeats
            peak = rss[target.name].peak
            out[target.name][way] = Result(size * repeats / MB / seconds[target.name], "MB/s", cpu,
                                           detail=f"{repeats} × {size / MB:g} MB, server CPU {cpu:.0f} ms/file, "
                                                  f"peak worker RSS {peak:.0f} MiB")  # fmt: skip
            out[target.name][f"{way}_rss"] = Result(peak, "MiB")
    return out


@contextlib.contextmanager
def s3_for_artifacts():
    """A local S3 API (moto's server, from the project's virtualenv) with one bucket both servers store into."""
    import boto3

    port = _free_port()
    creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    log = open(Path(tempfile.mkdtemp(prefix="bench-s3-")) / "moto.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **creds})  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                      aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
                client.create_bucket(Bucket="bench-artifacts")
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"moto server did not start; see {log.name}") from None
                time.sleep(0.3)
        progress(f"S3 API (moto) on {endpoint}, bucket bench-artifacts")
        yield endpoint, creds
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


# ---------------------------------------------------------------------------------------------- compatibility


def _params(count: int, *, same: bool = False) -> list[dict]:
    return [{"key": "a" if same else f"k{i}", "value": "1"} for i in range(count)]


def _too_many_metrics(run: str) -> dict:
    return {"run_id": run, "metrics": batch_metrics(0, 0) + batch_metrics(0, 1)[:1]}


COMPAT_CASES = [
    ("param changed", lambda run: ("POST", "runs/log-parameter", {"run_id": run, "key": "p", "value": "2"})),
    ("1001 metrics", lambda run: ("POST", "runs/log-batch", _too_many_metrics(run))),
    ("101 params", lambda run: ("POST", "runs/log-batch", {"run_id": run, "params": _params(101)})),
    ("duplicate param keys", lambda run: ("POST", "runs/log-batch", {"run_id": run, "params": _params(2, same=True)})),
    (
        "bad metric key",
        lambda run: ("POST", "runs/log-metric", {"run_id": run, "key": "a//b", "value": 1.0, "timestamp": T0}),
    ),
    ("missing run_id", lambda run: ("GET", "runs/get", {})),
    ("unknown run", lambda run: ("GET", "runs/get", {"run_id": "0" * 32})),
    ("unknown experiment name", lambda run: ("GET", "experiments/get-by-name", {"experiment_name": "nope-x"})),
    ("delete missing tag", lambda run: ("POST", "runs/delete-tag", {"run_id": run, "key": "never"})),
    ("bad filter", lambda run: ("POST", "runs/search", {"experiment_ids": ["1"], "filter": "metrics.a >"})),
]


def compatibility(targets: list[Target], experiments: dict[str, str]) -> list[list[str]]:
    runs = {}
    for target in targets:
        runs[target.name] = new_run(target, experiments[target.name], "compat")
        target.call("POST", "runs/log-parameter", {"run_id": runs[target.name], "key": "p", "value": "1"})
    rows = []
    for label, make in COMPAT_CASES:
        row = [label]
        answers = []
        for target in targets:
            method, path, payload = make(runs[target.name])
            status, data, _ = target.call(method, path, payload, expect=None)
            try:
                code = json.loads(data).get("error_code", "-")
            except ValueError:
                code = "(not JSON)"
            answers.append((status, code))
            row.append(f"{status} {code}")
        row.append("same" if len(set(answers)) == 1 else "DIFFERENT")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- the user workflow

# What each step's outcome must agree on between the two servers (ids, URIs and timings differ by nature).
COMPARED = {
    "log_params_metrics": ("params", "metrics"),
    "log_artifact": (),
    "log_dict": (),
    "list_artifacts": ("top", "docs"),
    "download_artifacts": ("byte_equal", "features"),
    "sklearn_log_model": ("status",),
    "pyfunc_load_predict": ("same_predictions", "files"),
    "register_model": ("version", "status"),
    "alias_and_load": ("alias_version", "aliases", "same_predictions", "same_by_version"),
    "log_input": ("datasets",),
    "autolog_fit": ("params", "metrics", "model_files", "model_metrics"),
}


def _comparable(step: str, result: dict) -> dict:
    out = {}
    for key in COMPARED[step]:
        value = result.get(key)
        if key == "files" and isinstance(value, dict):
            value = sorted(value)  # the names: MLmodel holds ids and times that differ by nature
        if key == "metrics" and isinstance(value, dict):
            value = {name: round(number, 9) for name, number in value.items()}
        out[key] = value
    return out


def run_workflow(python: Path, target: Target, index: int) -> dict:
    """``tests/mlflow_api/scripts/user_workflow.py`` (log params and files, log an sklearn model, load it, register
    it, alias it, load it by alias, log a dataset, autolog) against ``target``, as an MLflow user runs it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "VIRTUAL_ENV"))},
        "MLFLOW_TRACKING_URI": f"http://{target.host}:{target.port}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    if target.token:
        env["MLFLOW_TRACKING_TOKEN"] = target.token
    done = subprocess.run(
        [str(python), str(WORKFLOW_SCRIPT), f"workflow-{index}", f"workflow-model-{index}"],
        env=env, capture_output=True, text=True, timeout=1800, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{target.name}: the workflow script failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["steps"]


CLIENT_LOOP_SCRIPT = ROOT / "bench" / "mlflow_client_loop.py"


def scenario_client_loop(python: Path, target: Target, experiment_id: str, clients: int, points: int,
                         asynchronous: bool) -> Result:  # fmt: skip
    """``clients`` training loops at once, each ``points`` × ``mlflow.log_metric`` through the real MLflow client
    (``bench/mlflow_client_loop.py``), synchronous or with ``MLFLOW_ENABLE_ASYNC_LOGGING=true``: points/s as the
    loops see them (from each loop's first call until its last point is on the server), with the server CPU per
    point."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "VIRTUAL_ENV", "MLFLOW_"))},
        "MLFLOW_TRACKING_URI": f"http://{target.host}:{target.port}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ASYNC_LOGGING": "true" if asynchronous else "false",
    }
    if target.token:
        env["MLFLOW_TRACKING_TOKEN"] = target.token
    before = target.cpu_snapshot()
    procs = [subprocess.Popen([str(python), str(CLIENT_LOOP_SCRIPT), experiment_id, str(points)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
             for _ in range(clients)]  # fmt: skip
    seconds, lost = [], 0
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"{target.name}: the MLflow client loop failed:\n{err[-2000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        seconds.append(report["seconds"])
        lost += report["points"] - report["stored"]
        if report["stored"] != report["points"]:
            progress(f"  {target.name}: the server kept {report['stored']} of {report['points']} points; "
                     f"client log: {err.strip().splitlines()[-1][:300] if err.strip() else ''}")  # fmt: skip
    cpu = target.cpu_since(before)  # includes the runs' creation and the count read back, a small share
    total = clients * points
    mode = "async" if asynchronous else "sync"
    return Result(total / max(seconds), "points/s", cpu * 1000 / total,
                  f"{clients} loops × {points} log_metric, {mode}, slowest loop {max(seconds):.1f} s, "
                  f"{lost} points lost")  # fmt: skip


def scenario_workflow(python: Path, targets: list[Target], runs: int) -> list[list[str]]:
    """The user workflow ``runs`` times on each server (interleaved): per step, how often it succeeded, its median
    wall time as the client sees it, and whether both servers gave the same outcome."""
    reports: dict[str, list[dict]] = {t.name: [] for t in targets}
    for index in range(runs):
        for target in targets:
            progress(f"user workflow {index + 1}/{runs}: {target.name}")
            reports[target.name].append(run_workflow(python, target, index))
    rows = []
    for step in COMPARED:
        row = [step]
        outcomes = []
        for target in targets:
            results = [report[step] for report in reports[target.name]]
            ok = sum(1 for result in results if result["ok"])
            seconds = sorted(result["seconds"] for result in results)[len(results) // 2]
            row.append(f"{ok}/{len(results)} ok, {seconds * 1000:,.0f} ms")
            outcomes.append([_comparable(step, r) if r["ok"] else r.get("error") for r in results])
        row.append("same" if all(o == outcomes[0] for o in outcomes) else "DIFFERENT")
        rows.append(row)
    totals = [sorted(sum(s["seconds"] for s in report.values()) for report in reports[t.name]) for t in targets]
    rows.append(["all eleven steps", *[f"{times[len(times) // 2]:,.1f} s" for times in totals], ""])
    return rows


# ---------------------------------------------------------------------------------------------- main


def unlimited_rate_limits(slug: str) -> None:
    """Limits too high to refuse, but set: every request is still counted in Redis, as in production."""
    from apps.tenants.models import Tenant

    high = {"user": "100000000/minute", "tenant": "100000000/minute"}
    Tenant.objects.filter(schema_name=slug).update(rate_limits={s: high for s in ("read", "write", "ingest")})


def print_artifact_table(m: dict, f: dict, args, repeats: dict[int, int]) -> None:
    rows = []
    for way in ("upload", "download"):
        for size in repeats:
            key = f"artifacts {way} {size}"
            factor = m[key].value / f[key].value
            rows.append([f"{way} {size / MB:g} MB × {repeats[size]}", f"{m[key].value:,.1f} MB/s",
                         f"{f[key].value:,.1f} MB/s", f"{factor:.2f}×", "≥ 1×",
                         "met" if factor >= 1 else "NOT met",
                         f"{m[key].cpu_ms:.0f} / {f[key].cpu_ms:.0f}"])  # fmt: skip
    for way in ("upload", "download"):
        small, large = (f"artifacts {way}_rss {size}" for size in repeats)
        flat_m = m[large].value - m[small].value
        rows.append([f"peak worker RSS, {way} 1 MB → 100 MB", f"{m[small].value:.0f} → {m[large].value:.0f} MiB",
                     f"{f[small].value:.0f} → {f[large].value:.0f} MiB", "—", "flat (growth ≪ 100 MB)",
                     "met" if flat_m < 32 else "NOT met", ""])  # fmt: skip
    print_table(
        f"Artifacts: Maestro vs mlflow server {MLFLOW_VERSION}, through each artifact proxy "
        f"({args.artifact_storage}, {args.workers} workers each)",
        ["scenario", "Maestro", "MLflow", "Maestro ÷ MLflow", "target", "verdict", "server CPU ms/file M / F"],
        rows,
        notes=[
            "one client, sequential requests, the two servers taking turns request by request; every download checked "
            "against the upload's SHA-256; server CPU = "
            "worker processes plus their PostgreSQL backends (steadier than wall time on a shared machine)",
            "RSS: the largest single worker process of each server, sampled every 20 ms during the transfers "
            "(MLflow's S3 proxy downloads a file to a temporary file before sending it)",
            "storage: local directories on this machine, or one local S3 API (moto) serving both servers",
        ],
    )


def ratio(maestro: float, mlflow: float, higher_is_better: bool) -> float:
    return maestro / mlflow if higher_is_better else mlflow / maestro


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="workers of each server")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput scenarios")
    parser.add_argument("--batches", type=int, default=40, help="1000-metric batches per client")
    parser.add_argument("--single", type=int, default=300, help="log-metric requests per client")
    parser.add_argument("--history-points", type=int, default=25_000)
    parser.add_argument("--history-requests", type=int, default=30)
    parser.add_argument("--search-runs", type=int, default=10_000)
    parser.add_argument("--search-requests", type=int, default=40)
    parser.add_argument("--retry-small", type=int, default=10_000)
    parser.add_argument("--retry-large", type=int, default=200_000)
    parser.add_argument("--retries", type=int, default=20)
    parser.add_argument("--workflow-runs", type=int, default=3, help="runs of the user workflow on each server")
    parser.add_argument(
        "--client-points", type=int, default=500, help="log_metric calls per client loop, sync and async"
    )
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out: workflow, log-batch, "
                        "log-metric, client-loop, get-history, search, retry")  # fmt: skip
    parser.add_argument(
        "--only", choices=["all", "workflow"], default="all", help="workflow: only the user workflow, no throughput"
    )
    parser.add_argument("--quick", action="store_true", help="a small run to check the set-up (not the targets)")
    parser.add_argument("--artifacts", action="store_true", help="also the artifact upload/download scenarios")
    parser.add_argument("--artifacts-only", action="store_true", help="only the artifact scenarios")
    parser.add_argument(
        "--artifact-storage",
        choices=["filesystem", "s3"],
        default="filesystem",
        help="where both servers store artifacts: local directories, or one local S3 API (moto)",
    )
    parser.add_argument("--artifact-repeats", default="20,3", help="uploads (and downloads) of 1 MB, of 100 MB")
    parser.add_argument(
        "--artifact-warmup", type=int, default=4, help="untimed uploads and downloads of 1 MB first, per server"
    )
    args = parser.parse_args()
    if args.quick:
        args.batches, args.single, args.history_points, args.history_requests = 5, 30, 5000, 5
        args.search_runs, args.search_requests, args.retry_small, args.retry_large, args.retries = 300, 5, 2000, 6000, 5
        args.workflow_runs, args.client_points = 1, 50

    artifacts = args.artifacts or args.artifacts_only
    repeats = dict(zip((MB, 100 * MB), (int(n) for n in args.artifact_repeats.split(",")), strict=True))
    if args.quick:
        repeats = {MB: 5, 100 * MB: 1}
    python = ensure_mlflow_venv()
    setup_django()
    from django.db import connection

    with contextlib.ExitStack() as stack:
        backend_uri = stack.enter_context(throwaway_database())
        tenant = stack.enter_context(throwaway_tenant())
        unlimited_rate_limits(tenant.slug)
        connection.set_schema_to_public()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-artifacts-")))
        # Maestro's files go to a throwaway place too: a temporary MEDIA_ROOT, or the S3 API's bucket.
        os.environ.update({"MEDIA_ROOT": str(workdir / "maestro-media"), "MAESTRO_STORAGE_URL": "",
                           "MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES": str(10 * 1024**3)})  # fmt: skip
        mlflow_artifact_env, destination = {}, str(workdir / "mlflow-artifacts")
        if artifacts and args.artifact_storage == "s3":
            endpoint, creds = stack.enter_context(s3_for_artifacts())
            os.environ.update({**creds, "MAESTRO_STORAGE_URL": "s3://bench-artifacts/maestro",
                               "MAESTRO_STORAGE_ENDPOINT_URL": endpoint,
                               "MAESTRO_STORAGE_REGION": "us-east-1"})  # fmt: skip
            mlflow_artifact_env, destination = (
                {**creds, "MLFLOW_S3_ENDPOINT_URL": endpoint},
                "s3://bench-artifacts/mlflow",
            )
        server = stack.enter_context(gunicorn(args.workers))
        mlflow_port, mlflow_pid, mlflow_app = stack.enter_context(
            mlflow_server(python, backend_uri, args.workers, mlflow_artifact_env, destination)
        )
        # Maestro is addressed as an MLflow user would: the platform host plus a Maestro token naming the tenant.
        maestro = Target("Maestro", server.port, "127.0.0.1", tenant.token, server.pid, server.app_name)
        mlflow = Target("MLflow", mlflow_port, "localhost", None, mlflow_pid, mlflow_app)
        targets = [maestro, mlflow]
        experiments = {
            t.name: t.json("POST", "experiments/create", {"name": "bench"})["experiment_id"] for t in targets
        }

        results: dict[str, dict[str, Result]] = {t.name: {} for t in targets}

        def run(label: str, scenario: Callable[[Target], Result | tuple[Result, Result]]) -> None:
            for target in targets:
                progress(f"{label}: {target.name}")
                outcome = scenario(target)
                if isinstance(outcome, tuple):
                    results[target.name][f"{label} (10k)"], results[target.name][f"{label} (large)"] = outcome
                    progress(f"  {target.name}: {outcome[0].value:.1f} → {outcome[1].value:.1f} {outcome[1].unit}")
                else:
                    results[target.name][label] = outcome
                    progress(f"  {target.name}: {outcome.value:,.1f} {outcome.unit} ({outcome.detail})")

        skip = {name.strip() for name in args.skip.split(",") if name.strip()}
        workflow_rows = [] if "workflow" in skip else scenario_workflow(python, targets, args.workflow_runs)
        if workflow_rows:
            print_table(
                f"The MLflow user workflow on Maestro and mlflow server {MLFLOW_VERSION} "
                f"({args.workflow_runs} runs each)",
                ["step", "Maestro", "MLflow", "outcome"],
                workflow_rows,
                notes=[
                    "tests/mlflow_api/scripts/user_workflow.py with the full mlflow package and scikit-learn; median "
                    "wall time per step as the client sees it; outcome: params, metrics, file lists, byte-equality "
                    "and predictions compared between the servers (ids, URIs and times differ by nature)",
                ],
            )
        if args.only == "workflow":
            return 0
        e = experiments
        if artifacts:
            for size, count in repeats.items():
                source = workdir / f"source-{size}.bin"
                source.write_bytes(os.urandom(size))
                progress(f"artifacts {size / MB:g} MB: both servers, request by request")
                warmup = args.artifact_warmup if size == MB else 0
                for name, outcome in scenario_artifacts(targets, e, size, count, source, warmup).items():
                    for key, value in outcome.items():
                        results[name][f"artifacts {key} {size}"] = value
                        if value.detail:
                            progress(f"  {name} {key}: {value.value:,.1f} {value.unit} ({value.detail})")
                source.unlink()
        if not args.artifacts_only:
            scenarios = {
                "log-batch": lambda t: scenario_log_batch(t, e[t.name], args.clients, args.batches),
                "log-metric": lambda t: scenario_log_metric(t, e[t.name], args.clients, args.single),
                "client-loop sync": lambda t: scenario_client_loop(python, t, e[t.name], args.clients,
                                                                   args.client_points, False),
                "client-loop async": lambda t: scenario_client_loop(python, t, e[t.name], args.clients,
                                                                    args.client_points, True),
                "get-history": lambda t: scenario_history(t, e[t.name], args.history_points, args.history_requests),
                "search": lambda t: scenario_search(t, e[t.name], args.search_runs, args.search_requests, args.clients),
                "retry": lambda t: scenario_retry(t, e[t.name], args.retry_small, args.retry_large, args.retries),
            }  # fmt: skip
            for label, scenario in scenarios.items():
                if label.split(" ")[0] not in skip:
                    run(label, scenario)
            compat_rows = compatibility(targets, experiments)

    m, f = results["Maestro"], results["MLflow"]
    if artifacts:
        print_artifact_table(m, f, args, repeats)
    if args.artifacts_only:
        return 0

    rows = []
    specs = [
        ("log-batch", f"log-batch, 1000-metric batches, {args.clients} clients", True, 10.0),
        ("log-metric", f"single log-metric, {args.clients} clients", True, 3.0),
        ("client-loop sync", f"mlflow.log_metric loop, synchronous, {args.clients} clients", True, None),
        ("client-loop async", f"mlflow.log_metric loop, MLFLOW_ENABLE_ASYNC_LOGGING=true, {args.clients} clients",
         True, None),
        ("get-history", f"get-history, {args.history_points:,} points", False, 5.0),
        ("search", f"runs/search over {args.search_runs:,} runs, filter + order", False, 10.0),
    ]  # fmt: skip
    for key, label, higher, target in specs:
        if key not in m:
            continue
        if key.startswith("client-loop"):
            label += (
                f" (points lost: Maestro {m[key].detail.rsplit(', ', 1)[1].split()[0]}, "
                f"MLflow {f[key].detail.rsplit(', ', 1)[1].split()[0]})"
            )
        factor = ratio(m[key].value, f[key].value, higher)
        verdict = "" if target is None else ("met" if factor >= target else "NOT met")
        rows.append([label, f"{m[key].value:,.1f} {m[key].unit}", f"{f[key].value:,.1f} {f[key].unit}",
                     f"{factor:.1f}×", f"≥ {target:g}×" if target else "—", verdict,
                     f"{m[key].cpu_ms:.1f} / {f[key].cpu_ms:.1f}"])  # fmt: skip
    if "get-history" in m:
        p95 = m["get-history"].value
        rows.append([f"get-history, {args.history_points:,} points, Maestro p95", f"{p95:.1f} ms", "", "", "≤ 25 ms",
                     "met" if p95 <= 25 else "NOT met", ""])  # fmt: skip
    for size in ("10k", "large") if "retry (10k)" in m else ():
        key = f"retry ({size})"
        points = args.retry_small if size == "10k" else args.retry_large
        rows.append([f"duplicate-batch retry at {points:,} points", f"{m[key].value:.1f} {m[key].unit}",
                     f"{f[key].value:.1f} {f[key].unit}", f"{ratio(m[key].value, f[key].value, False):.1f}×", "—", "",
                     f"{m[key].cpu_ms:.1f} / {f[key].cpu_ms:.1f}"])  # fmt: skip
    if "retry (10k)" in m:
        retry_flat_m = m["retry (large)"].value / m["retry (10k)"].value
        retry_flat_f = f["retry (large)"].value / f["retry (10k)"].value
        rows.append(["retry latency growth, large ÷ 10k", f"{retry_flat_m:.2f}", f"{retry_flat_f:.2f}", "—",
                     "flat (≈1)", "met" if retry_flat_m <= 1.5 else "NOT met", ""])  # fmt: skip
    print_table(
        f"Maestro vs mlflow server {MLFLOW_VERSION} (MLflow REST API, {args.workers} workers each)",
        ["scenario", "Maestro", "MLflow", "Maestro advantage", "target", "verdict", "server CPU ms/request M / F"],
        rows,
        notes=[
            "server CPU = the server's processes (workers) plus their PostgreSQL backends, per request (per batch "
            "for log-batch); wall-clock figures depend on what else runs on the machine, CPU much less",
            "Maestro: gunicorn sync workers, production settings, rate limits too high to refuse (still counted); "
            "MLflow: `mlflow server` (uvicorn) with a PostgreSQL backend store on the same server",
        ],
    )
    print_table("Compatibility: the same bad requests to both servers", ["request", "Maestro", "MLflow", ""],
                compat_rows)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
