"""Metric history latency: GET /api/v1/runs/{id}/metrics/{key}/history on a 25,000-point series, full and
downsampled to 1,000 points, plus the multi-run comparison endpoint.

Targets (issue 3): 25,000 points p95 ≤ 50 ms; downsampled to 1,000 points p95 ≤ 30 ms. Reads of an unchanged series
come from its packed copy; the "run still logging" and "first read after logging stops" rows measure reads of a
series with new points, without and with storing the copy.

    .venv/bin/python bench/runs_history.py [--points 25000] [--requests 200] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import math

from _harness import (
    Http,
    create_runs,
    gunicorn,
    percentile,
    print_table,
    progress,
    setup_django,
    throwaway_tenant,
    verdict,
)

OTHER_KEYS = 9  # the run also logs other metrics, so the series is one of several in the table


def series_batches(key: str, points: int, phase: float) -> list[bytes]:
    bodies = []
    for start in range(0, points, 1000):
        metrics = [
            {
                "key": key,
                "value": math.exp(-step / 8000) + 0.05 * math.sin(step / 40 + phase),
                "step": step,
                "timestamp": 1_700_000_000_000 + step * 1000,
            }
            for step in range(start, min(points, start + 1000))
        ]
        bodies.append(json.dumps({"metrics": metrics}).encode())
    return bodies


def measure(http: Http, path: str, requests: int, warmup: int = 10, before_each=None) -> tuple[list[float], dict]:
    for _ in range(warmup):
        if before_each:
            before_each()
        http.request("GET", path)
    latencies, body = [], None
    for _ in range(requests):
        if before_each:
            before_each()  # not timed
        status, data, ms = http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
        latencies.append(ms)
        body = data
    return latencies, json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=25_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--compare-runs", type=int, default=4)
    args = parser.parse_args()

    setup_django()
    from django.db import connection
    from django_tenants.utils import schema_context

    with throwaway_tenant() as tenant, gunicorn(args.workers) as server:
        port = server.port
        http, run_ids = create_runs(tenant, port, "history", args.compare_runs)
        jobs = [(run_ids[0], f"other_{k}") for k in range(OTHER_KEYS)] + [(run_id, "loss") for run_id in run_ids]
        total = len(jobs) * args.points
        done = 0
        for run_id, key in jobs:
            for body in series_batches(key, args.points, phase=run_id):
                status, data, _ = http.request("POST", f"/api/v1/runs/{run_id}/log-batch", body)
                if status != 200:
                    raise RuntimeError(f"seeding failed: {status} {data[:300]!r}")
            done += args.points
            progress(f"seeded {done:,} / {total:,} points ({key} of run {run_id})")
        with schema_context(tenant.slug), connection.cursor() as cursor:
            progress("VACUUM ANALYZE metrics_metricpoint (as autovacuum would after inserts: enables index-only scans)")
            cursor.execute("VACUUM ANALYZE metrics_metricpoint")
            cursor.execute("SELECT count(*) FROM metrics_metricpoint")
            stored = cursor.fetchone()[0]
            cursor.execute(
                "EXPLAIN (ANALYZE) SELECT step, timestamp, value FROM metrics_metricpoint "
                "WHERE run_id = %s AND key = 'loss' ORDER BY step, timestamp, value",
                [run_ids[0]],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            scan = "index-only scan" if "Index Only Scan" in plan else "not an index-only scan"
            heap = next((line.strip() for line in plan.splitlines() if "Heap Fetches" in line), "")

        def no_copy() -> None:
            """A series read for the first time (here: its copy dropped): the read packs every point and stores it."""
            with schema_context(tenant.slug), connection.cursor() as cursor:
                cursor.execute("UPDATE metrics_metricseries SET packed_points = NULL WHERE key = 'loss'")

        next_step = [args.points]

        def still_logging() -> None:
            """A run still logging: a real 10-point batch of 'loss' just before the read."""
            body = json.dumps(
                {
                    "metrics": [
                        {"key": "loss", "value": 0.01 * (step % 7), "step": step, "timestamp": 1_800_000_000_000 + step}
                        for step in range(next_step[0], next_step[0] + 10)
                    ]
                }
            ).encode()
            next_step[0] += 10
            status, data, _ = http.request("POST", f"/api/v1/runs/{run_ids[0]}/log-batch", body)
            if status != 200:
                raise RuntimeError(f"log-batch answered {status}: {data[:300]!r}")

        def logging_stopped() -> None:
            """A run whose last batch is METRIC_HISTORY_PACK_QUIET_SECONDS old (here: a real batch, back-dated): the
            read extends the copy with that batch's points."""
            still_logging()
            with schema_context(tenant.slug), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE metrics_metricseries SET written_at = now() - interval '1 hour' WHERE key = 'loss'"
                )

        base = f"/api/v1/runs/{run_ids[0]}/metrics/loss/history"
        compare = f"/api/v1/metrics/history?runs={','.join(map(str, run_ids))}&key=loss&max_points=1000"
        cases = [
            (f"full history ({args.points:,} points)", base, 50.0, None),
            ("downsampled, max_points=1000", f"{base}?max_points=1000", 30.0, None),
            ("downsampled, max_points=500", f"{base}?max_points=500", None, None),
            (f"{args.compare_runs} runs compared, max_points=1000 each", compare, None, None),
            ("first read of a series (packs every point): full", base, None, no_copy),
            ("first read of a series (packs every point): max_points=1000", f"{base}?max_points=1000", None, no_copy),
            ("run still logging (a batch before each read): full", base, None, still_logging),
            (
                "run still logging (a batch before each read): max_points=1000",
                f"{base}?max_points=1000",
                30.0,
                still_logging,
            ),
            ("first read after logging stops (extends the copy): full", base, None, logging_stopped),
            (
                "first read after logging stops (extends the copy): max_points=1000",
                f"{base}?max_points=1000",
                30.0,
                logging_stopped,
            ),
        ]
        rows = []
        for label, path, target, before_each in cases:
            progress(f"measuring: {label} × {args.requests}")
            before = server.cpu_snapshot()
            latencies, body = measure(http, path, args.requests, before_each=before_each)
            cpu_ms = server.cpu_ms_per_request(before, args.requests + 10)
            series = body.get("series", [body])
            returned = sum(s["returned_points"] for s in series)
            rows.append(
                [
                    label,
                    f"{returned:,}",
                    args.requests,
                    f"{percentile(latencies, 50):.1f}",
                    f"{percentile(latencies, 95):.1f}",
                    f"{percentile(latencies, 99):.1f}",
                    f"{cpu_ms:.1f}",
                    f"≤ {target:.0f} ms: {verdict(percentile(latencies, 95), target)}" if target else "-",
                ]
            )
        print_table(
            "Metric history latency (sequential requests through gunicorn)",
            ["case", "points returned", "requests", "p50 ms", "p95 ms", "p99 ms", "server CPU ms/req", "target (p95)"],
            rows,
            notes=[
                f"metric points in the table: {stored:,}; gunicorn workers: {args.workers}; history query: {scan}"
                f" ({heap or 'no heap fetch count'}; heap fetches stay high when another session's open "
                "transaction keeps VACUUM from marking pages all-visible)",
                "server CPU ms/req = CPU of the gunicorn workers and their PostgreSQL backends per request: the "
                "latency floor on an idle machine; latency above it is waiting for a CPU",
                "the first four rows read an unchanged series: served from its packed copy (one row, "
                "apps.metrics.models.MetricSeries). Before each request of the others (not timed): 'first read of a "
                "series' drops the copy, so every request packs all points and stores the copy; 'run still logging' "
                "logs a real 10-point batch (reads take the copy plus the points after it; the copy is extended "
                "when those reach a quarter of it); 'first read after logging stops' logs a batch and back-dates it "
                "past METRIC_HISTORY_PACK_QUIET_SECONDS, so every request extends the copy with those points. Server "
                "CPU of the last four rows includes the batches'",
            ],
        )


if __name__ == "__main__":
    main()
