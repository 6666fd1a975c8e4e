"""What one ``runs/log-metric`` call costs at the least on this machine, next to Maestro and ``mlflow server``.

    .venv/bin/python bench/request_floor.py [--workers 4] [--clients 4] [--requests 300] [--rounds 3]

Issue 24 asks single log-metric calls to run at ≥ 3× the requests/s of ``mlflow server``. This script puts that
target next to three floors, measured exactly as ``bench/mlflow_compare.py`` measures the servers (gunicorn sync
workers, ``--clients`` client threads, a new connection per request, the same request body):

* **bare WSGI**: gunicorn serving a WSGI function that reads the body and answers ``{}`` — no Django, no database:
  what a request through gunicorn and the client costs on this machine;
* **one durable insert**: the same function parses the JSON body and inserts the point into a table keyed like
  Maestro's points (run, key, step, timestamp, value; ``ON CONFLICT DO NOTHING``) with one autocommit ``INSERT``,
  committed before it answers — no tenant, no authentication, no rate limit, no permission check, no latest value,
  no audit event;
* **the insert + 4 round trips**: the same insert inside a transaction after two one-row ``SELECT`` statements:
  five round trips to PostgreSQL instead of one (Maestro's log-metric makes seven, and one to Redis), which shows
  what round trips themselves cost here;
* **Maestro** (production settings) and **MLflow** ``runs/log-metric``, as in ``mlflow_compare.py``.

The six targets run one after the other in each round, ``--rounds`` times, so each sees the machine's changing load
alike; the table shows the median requests/s and the mean server CPU per request (workers plus their PostgreSQL
backends, from /proc). The floors show how much of 3× is left once HTTP and one durable write are paid for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

# ---------------------------------------------------------------------------------------------- the floor servers
# gunicorn loads these by name (``request_floor:bare_app``) in its workers: nothing above may import Django.

_connection = None


def _body(environ) -> bytes:
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


def _answer(start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def bare_app(environ, start_response):
    _body(environ)
    return _answer(start_response)


def _point_connection():
    global _connection
    import psycopg

    if _connection is None:  # one connection per worker, opened after the fork
        _connection = psycopg.connect(
            os.environ["FLOOR_DSN"], autocommit=True, application_name=os.environ["PGAPPNAME"]
        )
    return _connection


_INSERT = (
    "INSERT INTO floor_point (run, key, step, timestamp, value) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def _point_values(environ) -> list:
    point = json.loads(_body(environ))
    return [point["run_id"], point["key"], point["step"], point["timestamp"], point["value"]]


def insert_app(environ, start_response):
    """One point per request, one autocommit INSERT (durable before the answer: synchronous_commit as configured);
    a GET (the harness's readiness check) writes nothing."""
    if environ["REQUEST_METHOD"] == "POST":
        _point_connection().execute(_INSERT, _point_values(environ))
    return _answer(start_response)


def transaction_app(environ, start_response):
    """The same insert with four more round trips around it: BEGIN, two one-row SELECTs, the INSERT, COMMIT."""
    if environ["REQUEST_METHOD"] == "POST":
        connection = _point_connection()
        values = _point_values(environ)
        with connection.transaction():
            connection.execute("SELECT 1").fetchone()
            connection.execute("SELECT 1").fetchone()
            connection.execute(_INSERT, values)
    return _answer(start_response)


_replay = None


def _replay_state():
    """Per worker, after the fork: the captured statements (``FLOOR_REPLAY``, a JSON file the benchmark writes), an
    autocommit PostgreSQL connection on the tenant's search_path, and a Redis client."""
    global _replay
    import hashlib

    import psycopg
    import redis

    if _replay is None:
        with open(os.environ["FLOOR_REPLAY"]) as captured:
            plan = json.load(captured)
        connection = psycopg.connect(
            os.environ["FLOOR_TENANT_DSN"],
            autocommit=True,
            application_name=os.environ["PGAPPNAME"],
        )
        connection.execute(plan["search_path"])
        plan["token_digest"] = hashlib.sha256(plan.pop("token").encode()).hexdigest()
        _replay = plan, connection, redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    return _replay


def replay_app(environ, start_response):
    """What Maestro's log-metric sends to PostgreSQL and Redis, with the least Python around it: the token checked
    against a digest held in memory (as the token cache does on a hit), then the tenant lookup, the token cache's
    generation read, the rate-limit script, the run lookup, and in one transaction the metric statement (the point
    from the request body) and the audit event — the statements captured from a real request, replayed, prepared
    as Maestro prepares them (all of them)."""
    import hashlib

    if environ["REQUEST_METHOD"] != "POST":
        return _answer(start_response)
    plan, connection, redis_client = _replay_state()
    token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
    if hashlib.sha256(token.encode()).hexdigest() != plan["token_digest"]:
        start_response("401 Unauthorized", [("Content-Length", "0")])
        return [b""]
    point = json.loads(_body(environ))
    cursor = connection.cursor()
    for statement in plan["before"]:
        cursor.execute(statement, prepare=True).fetchone()
    redis_client.evalsha(plan["throttle_sha"], len(plan["throttle_keys"]), *plan["throttle_keys"],
                         *plan["throttle_args"])  # fmt: skip
    lookup = plan["run_lookup"].replace(plan["run_uuid"], point["run_id"])
    (run_id,) = cursor.execute(lookup, prepare=True).fetchone()[:1]
    values = [str(point["value"]), str(point["step"]), str(point["timestamp"])]
    with connection.transaction():
        written = cursor.execute(plan["metrics"], {
            "run": run_id, "keys": point["key"], "values": values[0], "steps": values[1], "timestamps": values[2],
            "latest_keys": point["key"], "latest_values": values[0], "latest_steps": values[1],
            "latest_timestamps": values[2],
        }, prepare=True).fetchone()  # fmt: skip
        if written[:2] != (1, 1):  # (active run, points written)
            raise RuntimeError(f"replay: the metric statement wrote {written}")
        cursor.execute(plan["audit"], prepare=True).fetchone()
    return _answer(start_response)


def capture_log_metric(tenant, run_uuid: str, path: str) -> dict:
    """One real ``runs/log-metric`` request in this process, and what it sent: the statements through Django's
    cursors (values bound into the text), the metric statement Maestro runs on a raw cursor, the rate-limit script
    call. Returns what ``replay_app`` replays."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from redis.commands.core import Script

    from apps.metrics import services as metric_services

    calls = []
    original = Script.__call__

    def recording(self, keys=(), args=(), client=None):
        calls.append((self.sha, list(keys), list(args)))
        return original(self, keys=keys, args=args, client=client)

    Script.__call__ = recording
    try:
        for step in range(2):  # the second request finds the token in the process's cache, as a busy worker does
            calls.clear()
            body = {"run_id": run_uuid, "key": "capture", "value": 1.0, "timestamp": 1, "step": step}
            headers = {"HTTP_AUTHORIZATION": f"Bearer {tenant.token}", "HTTP_HOST": "127.0.0.1"}
            with CaptureQueriesContext(connection) as captured:
                response = Client().post(path, json.dumps(body), content_type="application/json", **headers)
    finally:
        Script.__call__ = original
    if response.status_code != 200 or len(calls) != 1:
        raise RuntimeError(f"capture: log-metric answered {response.status_code}, {len(calls)} rate-limit calls")
    statements = [query["sql"] for query in captured.captured_queries if not query["sql"].startswith("SET ")]
    run_lookup = [s for s in statements if "metrics_run" in s and s.lstrip().startswith("SELECT")]
    audit = [s for s in statements if "audit_auditevent" in s]
    before = statements[: statements.index(run_lookup[0])]
    if len(run_lookup) != 1 or len(audit) != 1 or run_uuid not in run_lookup[0]:
        raise RuntimeError(f"capture: unexpected statements {[s[:60] for s in statements]}")
    sha, keys, args = calls[0]
    return {
        "search_path": f'SET search_path = "{tenant.slug}", public',
        "token": tenant.token,
        "before": before,
        "throttle_sha": sha,
        "throttle_keys": keys,
        "throttle_args": args,
        "run_lookup": run_lookup[0],
        "run_uuid": run_uuid,
        "metrics": metric_services._METRICS_SQL,
        "audit": audit[0],
    }


def _on_cpu_ns(pid: int) -> int:
    """A process's time on a CPU so far, in ns (``/proc/PID/schedstat``: the scheduler's own account, exact to the
    ns, where ``/proc/PID/stat`` counts 10 ms ticks)."""
    return int(open(f"/proc/{pid}/schedstat").read().split()[0])


def statement_costs(plan: dict, dsn: str, redis_url: str, repeats: int) -> list[tuple[str, float, float, float]]:
    """Server CPU of each step of the replay, one step at a time: ``repeats`` times each, on one connection in this
    process, without HTTP. Returns (step, client µs, server µs, round trips) per call: client = this thread's CPU
    (psycopg or redis-py building the message and reading the answer), server = the PostgreSQL backend's (or the
    Redis server's) time on a CPU, from ``/proc/PID/schedstat``. What the floor's 2 ms go to, step by step."""
    import psycopg
    import redis

    connection = psycopg.connect(dsn, autocommit=True)
    connection.execute(plan["search_path"])
    backend = connection.info.backend_pid
    redis_client = redis.Redis.from_url(redis_url)
    redis_pid = int(redis_client.info("server")["process_id"])
    cursor = connection.cursor()
    (run_id,) = cursor.execute(plan["run_lookup"], prepare=True).fetchone()[:1]
    steps: list[tuple[str, object, int, int]] = []  # (label, call, server pid, round trips)
    for index, statement in enumerate(plan["before"]):
        table = statement.split(" FROM ", 1)[1].split()[0].strip('"') if " FROM " in statement else "?"
        steps.append((f"PostgreSQL: statement {index + 1} before the run lookup ({table})",
                      lambda s=statement: cursor.execute(s, prepare=True).fetchone(), backend, 1))  # fmt: skip
    steps.append(("Redis: the rate-limit script (both limits)", lambda: redis_client.evalsha(
        plan["throttle_sha"], len(plan["throttle_keys"]), *plan["throttle_keys"], *plan["throttle_args"]
    ), redis_pid, 1))  # fmt: skip
    steps.append(("PostgreSQL: the run lookup", lambda: cursor.execute(plan["run_lookup"], prepare=True).fetchone(),
                  backend, 1))  # fmt: skip
    counter = iter(range(10_000_000, 20_000_000))

    def metric(audit: bool = False) -> None:
        step = str(next(counter))
        with connection.transaction():
            cursor.execute(plan["metrics"], {
                "run": run_id, "keys": "costs", "values": "0.5", "steps": step, "timestamps": step,
                "latest_keys": "costs", "latest_values": "0.5", "latest_steps": step, "latest_timestamps": step,
            }, prepare=True).fetchone()  # fmt: skip
            if audit:
                cursor.execute(plan["audit"], prepare=True).fetchone()

    def empty_transaction() -> None:
        with connection.transaction():
            pass

    steps.append(("PostgreSQL: BEGIN + COMMIT of an empty transaction", empty_transaction, backend, 2))
    steps.append(("PostgreSQL: BEGIN, the metric statement (one point), COMMIT", metric, backend, 3))
    steps.append(("PostgreSQL: BEGIN, the metric statement, the audit event, COMMIT", lambda: metric(audit=True),
                  backend, 4))  # fmt: skip
    results = []
    for label, call, pid, round_trips in steps:
        for _ in range(min(200, repeats)):  # warm: plans prepared, caches filled
            call()
        client, server = time.thread_time_ns(), _on_cpu_ns(pid)
        for _ in range(repeats):
            call()
        client, server = time.thread_time_ns() - client, _on_cpu_ns(pid) - server
        results.append((label, client / repeats / 1000, server / repeats / 1000, round_trips))
    connection.close()
    return results


# ---------------------------------------------------------------------------------------------- the benchmark


def hammer(target, path: str, runs: list[str], requests: int, first_step: int) -> tuple[float, float]:
    """``len(runs)`` clients, ``requests`` log-metric calls each: (requests/s, server CPU ms per request)."""
    from mlflow_compare import T0, parallel

    def work(c: int) -> None:
        for i in range(first_step, first_step + requests):
            body = {"run_id": runs[c], "key": "loss", "value": 1 / (i + 1), "timestamp": T0 + i, "step": i}
            status, data, _ = target.client.request("POST", path, json.dumps(body).encode())
            if status != 200:
                raise RuntimeError(f"{target.name}: log-metric answered {status}: {data[:300]!r}")

    before = target.cpu_snapshot()
    seconds = parallel(len(runs), work)
    cpu = target.cpu_since(before)
    total = len(runs) * requests
    return total / seconds, cpu * 1000 / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="workers of each server")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=300, help="log-metric requests per client per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs all six targets in turn (0: none)")
    parser.add_argument(
        "--step-repeats", type=int, default=3000, help="calls per step in the replay's step-by-step table (0: none)"
    )
    args = parser.parse_args()

    from _harness import print_table, progress, setup_django, throwaway_tenant
    from mlflow_compare import (
        API,
        Target,
        ensure_mlflow_venv,
        mlflow_server,
        new_run,
        throwaway_database,
        unlimited_rate_limits,
    )

    from tests.support.mlflow_venv import MLFLOW_VERSION

    python = ensure_mlflow_venv()
    setup_django()
    from _harness import gunicorn
    from django.conf import settings
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    from apps.tenants.models import Tenant

    with contextlib.ExitStack() as stack:
        backend_uri = stack.enter_context(throwaway_database())
        dsn = backend_uri.replace("postgresql+psycopg://", "postgresql://")
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE floor_point (run text, key text, step bigint, timestamp bigint, value float8, "
                "PRIMARY KEY (run, key, step, timestamp, value))"
            )
        tenant = stack.enter_context(throwaway_tenant())
        unlimited_rate_limits(tenant.slug)
        connection.set_schema_to_public()
        maestro_server = stack.enter_context(gunicorn(args.workers))
        mlflow_port, mlflow_pid, mlflow_app = stack.enter_context(mlflow_server(python, backend_uri, args.workers))
        floor_env = {"FLOOR_DSN": dsn}
        bare = stack.enter_context(gunicorn(args.workers, "request_floor:bare_app"))
        insert = stack.enter_context(gunicorn(args.workers, "request_floor:insert_app", floor_env))
        in_transaction = stack.enter_context(gunicorn(args.workers, "request_floor:transaction_app", floor_env))
        maestro = Target(
            "Maestro", maestro_server.port, "127.0.0.1", tenant.token, maestro_server.pid, maestro_server.app_name
        )
        experiment = maestro.json("POST", "experiments/create", {"name": "floor"})["experiment_id"]
        replay_runs = [new_run(maestro, experiment, f"replay-{c}") for c in range(args.clients + 1)]
        with connection.cursor():  # the tenant's search_path, as a request sets it
            connection.set_tenant(Tenant.objects.get(schema_name=tenant.slug))
        plan = capture_log_metric(tenant, replay_runs.pop(), API + "runs/log-metric")
        connection.set_schema_to_public()
        replay_file = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".json", prefix="floor-replay-"))
        json.dump(plan, replay_file)
        replay_file.flush()
        db = connection.settings_dict
        replay_env = {
            "FLOOR_REPLAY": replay_file.name,
            "FLOOR_TENANT_DSN": make_conninfo(
                dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
            ),
            "FLOOR_REDIS_URL": settings.MAESTRO_RATE_LIMIT_REDIS_URL,
        }
        replay = stack.enter_context(gunicorn(args.workers, "request_floor:replay_app", replay_env))
        costs = []
        if args.step_repeats:
            progress(f"the replay step by step: {args.step_repeats} calls per step, in this process")
            costs = statement_costs(plan, replay_env["FLOOR_TENANT_DSN"], replay_env["FLOOR_REDIS_URL"],
                                    args.step_repeats)  # fmt: skip

        targets = {
            "bare WSGI (gunicorn, no Django, no database)": (
                Target("bare", bare.port, "localhost", None, bare.pid, bare.app_name),
                "/",
            ),
            "one durable insert (no Django)": (
                Target("insert", insert.port, "localhost", None, insert.pid, insert.app_name),
                "/",
            ),
            "the insert + 4 round trips (BEGIN, 2 SELECTs, COMMIT)": (
                Target(
                    "transaction", in_transaction.port, "localhost", None, in_transaction.pid, in_transaction.app_name
                ),
                "/",
            ),
            "Maestro's statements and Redis call replayed (no Django)": (
                Target("replay", replay.port, "localhost", tenant.token, replay.pid, replay.app_name),
                "/",
            ),
            "Maestro runs/log-metric": (maestro, API + "runs/log-metric"),
            f"MLflow {MLFLOW_VERSION} runs/log-metric": (
                Target("MLflow", mlflow_port, "localhost", None, mlflow_pid, mlflow_app),
                API + "runs/log-metric",
            ),
        }
        runs: dict[str, list[str]] = {}
        for label, (target, _) in targets.items():
            if target.name == "replay":
                runs[label] = replay_runs
            elif target.name == "Maestro":
                runs[label] = [new_run(target, experiment, f"floor-{c}") for c in range(args.clients)]
            elif target.name == "MLflow":
                mlflow_experiment = target.json("POST", "experiments/create", {"name": "floor"})["experiment_id"]
                runs[label] = [new_run(target, mlflow_experiment, f"floor-{c}") for c in range(args.clients)]
            else:
                runs[label] = [f"floor-{c}" for c in range(args.clients)]
        progress("warm-up: 50 requests per client on each target")
        for label, (target, path) in targets.items():
            hammer(target, path, runs[label], 50, 0)
        measured: dict[str, list[tuple[float, float]]] = {label: [] for label in targets}
        for round_number in range(args.rounds):
            for label, (target, path) in targets.items():
                first = 1_000 + round_number * args.requests
                measured[label].append(hammer(target, path, runs[label], args.requests, first))
                rate, cpu = measured[label][-1]
                progress(f"round {round_number + 1}: {label}: {rate:,.1f} requests/s, {cpu:.2f} ms server CPU")

    if costs:
        print_table(
            f"Maestro's log-metric statements replayed one step at a time ({args.step_repeats} calls each, no HTTP)",
            ["step", "client CPU µs/call", "server CPU µs/call", "round trips"],
            [[label, f"{client:.0f}", f"{server:.0f}", trips] for label, client, server, trips in costs],
            notes=[
                "client: this process's thread CPU (psycopg, redis-py); server: the PostgreSQL backend's, or the "
                "Redis server's, time on a CPU (/proc/PID/schedstat)",
                "the audit event's own cost is the last row minus the one above it; a call through HTTP adds "
                "gunicorn and the request body (the floor table's first rows)",
            ],
        )
    if not args.rounds:
        return 0
    mlflow_rate = statistics.median(rate for rate, _ in measured[f"MLflow {MLFLOW_VERSION} runs/log-metric"])
    rows = []
    for label, values in measured.items():
        rate = statistics.median(r for r, _ in values)
        rows.append([
            label,
            f"{rate:,.1f}",
            " / ".join(f"{r:,.0f}" for r, _ in values),
            f"{statistics.mean(c for _, c in values):.2f}",
            f"{rate / mlflow_rate:.1f}×",
        ])  # fmt: skip
    print_table(
        f"The floor under one log-metric call: {args.clients} clients × {args.requests} requests, "
        f"{args.workers} gunicorn sync workers (uvicorn for MLflow), {args.rounds} rounds",
        ["target", "requests/s (median)", "per round", "server CPU ms/request", "vs MLflow"],
        rows,
        notes=[
            f"3× MLflow is {3 * mlflow_rate:,.0f} requests/s in this run",
            "server CPU: the server's processes plus their PostgreSQL backends, per request (from /proc); the "
            "client threads run in this process on the same cores",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
