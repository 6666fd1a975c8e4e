"""Batch ingest throughput: concurrent clients POST 1000-point batches to /api/v1/runs/{id}/log-batch.

Target (issue 3): ≥ 50,000 metric points/s sustained with 1000-point batches and 4 concurrent clients.

    .venv/bin/python bench/runs_ingest.py [--clients 4] [--batches 150] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time

from _harness import (
    Http,
    create_runs,
    gunicorn,
    percentile,
    print_table,
    progress,
    setup_django,
    stored_points,
    throwaway_tenant,
    verdict,
)

KEYS = 10
STEPS_PER_BATCH = 100  # 10 keys × 100 steps = 1000 points


def batch_body(client: int, number: int) -> bytes:
    metrics = []
    for j in range(STEPS_PER_BATCH):
        step = number * STEPS_PER_BATCH + j
        for k in range(KEYS):
            value = math.exp(-step / 5000) * (1 + 0.05 * math.sin(step * 0.37 + k + client))
            metrics.append(
                {"key": f"train/metric_{k}", "value": value, "step": step, "timestamp": 1_700_000_000_000 + step}
            )
    return json.dumps({"metrics": metrics}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=150, help="batches per client (measured)")
    parser.add_argument("--warmup", type=int, default=5, help="batches per client before measuring")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    args = parser.parse_args()

    setup_django()
    with throwaway_tenant() as tenant, gunicorn(args.workers) as server:
        port = server.port
        _, run_ids = create_runs(tenant, port, "ingest", args.clients)
        progress(f"pre-encoding {args.clients * (args.batches + args.warmup)} batches of 1000 points")
        bodies = {c: [batch_body(c, b) for b in range(args.warmup + args.batches)] for c in range(args.clients)}

        latencies: list[float] = []
        finished_at: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start_gate = threading.Barrier(args.clients + 1)

        def client(c: int, batches: list[bytes], measured: bool) -> None:
            conn = Http(port, tenant.host, tenant.token)
            if measured:
                start_gate.wait()
            for body in batches:
                status, data, ms = conn.request("POST", f"/api/v1/runs/{run_ids[c]}/log-batch", body)
                with lock:
                    if status != 200 or json.loads(data)["metrics_written"] != 1000:
                        failures.append(f"{status} {data[:200]!r}")
                    elif measured:
                        latencies.append(ms)
            if measured:
                finished_at.append(time.perf_counter())

        progress(f"warm-up: {args.warmup} batches per client")
        warm = [threading.Thread(target=client, args=(c, bodies[c][: args.warmup], False)) for c in range(args.clients)]
        for t in warm:
            t.start()
        for t in warm:
            t.join()

        total = args.clients * args.batches * 1000
        progress(f"measuring: {args.clients} clients × {args.batches} batches = {total:,} points")
        threads = [
            threading.Thread(target=client, args=(c, bodies[c][args.warmup :], True)) for c in range(args.clients)
        ]
        for t in threads:
            t.start()
        start_gate.wait()
        cpu_before = server.cpu_snapshot()
        started = time.perf_counter()
        while any(t.is_alive() for t in threads):
            threads[0].join(timeout=2)
            with lock:
                done = len(latencies)
            progress(f"  {done * 1000:,} / {total:,} points")
        for t in threads:
            t.join()
        elapsed = max(finished_at) - started
        workers_cpu, postgres_cpu = server.cpu_seconds(cpu_before)
        per_cpu_second = total / (workers_cpu + postgres_cpu)

        stored = stored_points(tenant)
        expected = args.clients * (args.batches + args.warmup) * 1000
        rate = total / elapsed
        rows = [
            [
                args.clients,
                args.workers,
                f"{args.batches * args.clients}",
                f"{total:,}",
                f"{elapsed:.1f}",
                f"{rate:,.0f}",
                f"{percentile(latencies, 50):.0f}",
                f"{percentile(latencies, 95):.0f}",
                f"{percentile(latencies, 99):.0f}",
                len(failures),
                verdict(rate, 50_000, lower_is_better=False),
            ]
        ]
        print_table(
            "Batch ingest (1000-point batches)",
            ["clients", "gunicorn workers", "batches", "points", "seconds", "points/s", "p50 ms", "p95 ms", "p99 ms",
             "failures", "target ≥ 50,000/s"],
            rows,
            notes=[
                f"rows stored: {stored:,} (expected {expected:,})",
                f"CPU used while measuring: gunicorn workers {workers_cpu:.1f} s, their PostgreSQL backends "
                f"{postgres_cpu:.1f} s → {per_cpu_second:,.0f} points per CPU-second "
                f"(with {os.cpu_count()} cores to itself, this work would sustain about "
                f"{per_cpu_second * os.cpu_count():,.0f} points/s, before WAL writer and kernel time)",
                *failures[:3],
            ],
        )  # fmt: skip


if __name__ == "__main__":
    main()
