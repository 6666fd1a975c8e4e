"""Server CPU per request as gunicorn serves it: the figure `bench/request_budget.py` splits by stage, plus what
the served process adds (issue 24).

    .venv/bin/python bench/request_cost_served.py [--requests 400] [--repeats 3] [--no-preload]

One sync worker (production settings, the embedding model preloaded as in production unless ``--no-preload``) and
one client sending sequential requests: ``GET /api/v1/me`` and a single MLflow ``runs/log-metric``, after the
worker's very first request, which is shown on its own (wall time too): what a user pays right after a start. The
worker's CPU and its PostgreSQL backend's are read from ``/proc`` around each block of requests
(``Server.cpu_seconds``), so the figures count all the worker does per request — gunicorn's HTTP handling and a new
connection per request (sync workers close it) included — and not the client. To compare two commits, run it in a
checkout of each, alternately.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from _harness import Http, gunicorn, print_table, progress, setup_django, throwaway_tenant


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per endpoint")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests per endpoint first")
    parser.add_argument("--no-preload", action="store_true", help="web worker without the preloaded embedding model")
    args = parser.parse_args()
    os.environ.update({"DJANGO_SETTINGS_MODULE": "maestro.settings.production", "SECURE_SSL_REDIRECT": "false"})
    os.environ["RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL"] = "false" if args.no_preload else "true"
    setup_django()
    rows = []
    with throwaway_tenant() as tenant, gunicorn(1) as server:
        http = Http(server.port, tenant.host, tenant.token)
        # The worker's very first request (the harness's /healthz polls are answered before URL routing): what a
        # user pays right after a start or a deploy, when whatever the worker did not do at boot is done now.
        before = server.cpu_snapshot()
        status, _, first_ms = http.request("GET", "/api/v1/me")
        first_worker, first_backend = server.cpu_seconds(before)
        if status != 200:
            raise RuntimeError(f"the first GET /api/v1/me answered {status}")
        progress(f"first request of the worker: {first_ms:.1f} ms wall, worker CPU {first_worker * 1000:.1f} ms")
        api = "/api/2.0/mlflow/"
        experiment = http.json("POST", api + "experiments/create", {"name": "served"})["experiment_id"]
        run_id = http.json("POST", api + "runs/create", {"experiment_id": experiment, "start_time": 0})["run"]["info"][
            "run_id"
        ]

        def log_metric(i: int):
            point = {"run_id": run_id, "key": "loss", "value": 1 / (i + 1), "timestamp": 1_767_225_600_000 + i}
            return http.request("POST", api + "runs/log-metric", json.dumps({**point, "step": i}).encode())

        scenarios = {"GET /api/v1/me": lambda i: http.request("GET", "/api/v1/me"), "runs/log-metric": log_metric}
        for label, call in scenarios.items():
            for i in range(args.warmup):
                call(i)
            workers, backends = [], []
            for block in range(args.repeats):
                before = server.cpu_snapshot()
                for i in range(args.requests):
                    status = call(args.warmup + block * args.requests + i)[0]
                    if status != 200:
                        raise RuntimeError(f"{label} answered {status}")
                worker, backend = server.cpu_seconds(before)
                workers.append(worker * 1000 / args.requests)
                backends.append(backend * 1000 / args.requests)
            worker, backend = statistics.median(workers), statistics.median(backends)
            progress(f"{label}: worker {worker:.2f} ms, PostgreSQL {backend:.2f} ms per request (medians)")
            rows.append([label, " / ".join(f"{w:.2f}" for w in workers), " / ".join(f"{b:.2f}" for b in backends)])
    rows.append(["the worker's first request (GET /api/v1/me)", f"{first_worker * 1000:.2f} (wall {first_ms:.1f})",
                 f"{first_backend * 1000:.2f}"])  # fmt: skip
    print_table(
        f"Server CPU per request served by gunicorn, ms ({args.repeats} blocks of {args.requests} requests)",
        ["request", "worker CPU per block", "PostgreSQL CPU per block"],
        rows,
        notes=[
            "one gunicorn sync worker, production settings, embedding model "
            + ("not preloaded" if args.no_preload else "preloaded")
            + "; one client, sequential requests; CPU from /proc of the worker and its PostgreSQL backend",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
