"""Duplicate-batch retry latency: re-sending a 1000-point batch that is already stored, with 10,000 and with
200,000 points of history in the run. A retry must write nothing and must not get slower as history grows.

    .venv/bin/python bench/runs_retry.py [--small 10000] [--large 200000] [--requests 100] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import math

from _harness import (
    create_runs,
    gunicorn,
    percentile,
    print_table,
    progress,
    setup_django,
    stored_points,
    throwaway_tenant,
)

KEYS = 10


def batch(number: int) -> bytes:
    metrics = [
        {
            "key": f"train/metric_{k}",
            "value": math.exp(-(number * 100 + j) / 5000) + k,
            "step": number * 100 + j,
            "timestamp": 1_700_000_000_000 + number * 100 + j,
        }
        for j in range(100)
        for k in range(KEYS)
    ]
    return json.dumps({"metrics": metrics}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="history size of the first measurement")
    parser.add_argument("--large", type=int, default=200_000, help="history size of the second measurement")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    setup_django()
    with throwaway_tenant() as tenant, gunicorn(args.workers) as server:
        port = server.port
        http, (run_id,) = create_runs(tenant, port, "retry", 1)
        path = f"/api/v1/runs/{run_id}/log-batch"
        logged = 0
        rows = []
        for target in (args.small, args.large):
            while logged < target:
                status, data, _ = http.request("POST", path, batch(logged // 1000))
                if status != 200 or json.loads(data)["metrics_written"] != 1000:
                    raise RuntimeError(f"seeding failed: {status} {data[:300]!r}")
                logged += 1000
                if logged % 20_000 == 0 or logged == target:
                    progress(f"history: {logged:,} points")
            stored = stored_points(tenant, run_id)
            # The first batch ever sent (oldest history) and the latest one: both already stored.
            cases = [("first batch again", batch(0)), ("latest batch again", batch(logged // 1000 - 1))]
            for label, body in cases:
                for _ in range(5):
                    http.request("POST", path, body)
                latencies, written = [], 0
                for _ in range(args.requests):
                    status, data, ms = http.request("POST", path, body)
                    if status != 200:
                        raise RuntimeError(f"retry failed: {status} {data[:300]!r}")
                    written += json.loads(data)["metrics_written"] + json.loads(data)["latest_updated"]
                    latencies.append(ms)
                rows.append(
                    [
                        f"{stored:,}",
                        label,
                        args.requests,
                        f"{percentile(latencies, 50):.1f}",
                        f"{percentile(latencies, 95):.1f}",
                        written,
                    ]
                )
                progress(f"measured {label} at {stored:,} points")
        print_table(
            "Duplicate-batch retry latency (1000-point batch already stored)",
            ["history points", "case", "requests", "p50 ms", "p95 ms", "rows written"],
            rows,
            notes=["rows written counts new points plus latest-value updates; it must be 0 for a retry"],
        )


if __name__ == "__main__":
    main()
