"""Run search latency: POST /api/v1/runs/search over 10,000 runs with 20 params and 10 metric keys each —
filter + order + a page of 100 (and following pages through page tokens).

Target (issue 3): p95 ≤ 200 ms.

    .venv/bin/python bench/runs_search.py [--runs 10000] [--requests 50] [--workers 4]

Seeding writes rows directly with bulk inserts (10,000 runs through the API would only measure ingest); every
measured request goes through HTTP.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta

from _harness import Http, gunicorn, percentile, print_table, progress, setup_django, throwaway_tenant, verdict

METRICS = [
    "accuracy", "loss", "f1", "precision", "recall", "auc", "val_loss", "val_accuracy", "epoch_time", "throughput",
]  # fmt: skip
OPTIMIZERS = ["adam", "sgd", "adamw", "rmsprop", "adagrad"]
TEAMS = ["vision", "vision-edge", "nlp", "recsys", "forecasting", "speech"]
STATUSES = ["finished"] * 6 + ["failed", "killed", "running"]


def seed(slug: str, runs: int, seed_value: int = 7) -> list[int]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.metrics.models import LatestMetric, MetricPoint, Run, RunParam, RunTag
    from apps.projects.models import Project

    rng = random.Random(seed_value)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with schema_context(slug):
        projects = Project.objects.bulk_create([Project(name=f"Project {i}", slug=f"project-{i}") for i in range(20)])
        for start in range(0, runs, 1000):
            count = min(1000, runs - start)
            created = Run.objects.bulk_create(
                [
                    Run(
                        project=rng.choice(projects),
                        name=f"run-{start + i:05d}-{rng.choice(['bert', 'resnet', 'xgb', 'lstm', 'gpt'])}",
                        status=rng.choice(STATUSES),
                        start_time=base + timedelta(minutes=rng.randrange(0, 525_600)),
                    )
                    for i in range(count)
                ]
            )
            params, tags, latest, points = [], [], [], []
            for run in created:
                values = {
                    "optimizer": rng.choice(OPTIMIZERS),
                    "lr": f"{10 ** rng.uniform(-5, -1):.6g}",
                    "batch_size": str(rng.choice([16, 32, 64, 128, 256])),
                    "epochs": str(rng.randrange(1, 200)),
                    **{f"p{k:02d}": f"value-{rng.randrange(0, 50)}" for k in range(16)},
                }
                params += [RunParam(run=run, key=k, value=v) for k, v in values.items()]
                tags += [
                    RunTag(run=run, key="team", value=rng.choice(TEAMS)),
                    RunTag(run=run, key="stage", value=rng.choice(["dev", "staging", "prod"])),
                    RunTag(run=run, key="git_sha", value=f"{rng.getrandbits(40):010x}"),
                ]
                for key in METRICS:
                    value = rng.random() if key != "throughput" else rng.uniform(100, 5000)
                    latest.append(LatestMetric(run=run, key=key, value=value, step=100, timestamp=1_700_000_000_000))
                    points.append(MetricPoint(run=run, key=key, value=value, step=100, timestamp=1_700_000_000_000))
            RunParam.objects.bulk_create(params, batch_size=5000)
            RunTag.objects.bulk_create(tags, batch_size=5000)
            LatestMetric.objects.bulk_create(latest, batch_size=5000)
            MetricPoint.objects.bulk_create(points, batch_size=5000)
            progress(f"seeded {start + count:,} / {runs:,} runs (20 params, 3 tags, 10 metrics each)")
        with connection.cursor() as cursor:
            for table in ["metrics_run", "metrics_runparam", "metrics_runtag", "metrics_latestmetric"]:
                cursor.execute(f"VACUUM ANALYZE {table}")
        return [project.pk for project in projects]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50, help="requests per query")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    setup_django()
    with throwaway_tenant() as tenant:
        project_ids = seed(tenant.slug, args.runs)
        with gunicorn(args.workers) as server:
            http = Http(server.port, tenant.host, tenant.token)
            some_projects = ", ".join(map(str, project_ids[:5]))
            queries = [
                ("metrics.accuracy > 0.9 AND params.optimizer = 'adam'", ["metrics.accuracy DESC"]),
                (
                    "(params.optimizer = 'adam' OR params.optimizer = 'sgd') AND metrics.loss < 0.5 "
                    "AND status = 'finished'",
                    ["metrics.loss ASC", "start_time DESC"],
                ),
                ("tags.team LIKE 'vision%' AND params.lr < 0.001", ["params.lr ASC"]),
                (f"project IN ({some_projects}) AND metrics.f1 >= 0.5 AND name ILIKE '%bert%'", ["metrics.f1 DESC"]),
                ("params.batch_size IN ('32', '64') AND NOT tags.stage = 'dev'", ["start_time DESC"]),
                ("", ["start_time DESC"]),
                ("metrics.auc > 0.2", ["params.epochs DESC", "metrics.auc ASC"]),
            ]
            rows, everything = [], []
            for filter_text, order_by in queries:
                payload = {"filter": filter_text, "order_by": order_by, "max_results": 100}
                first = http.json("POST", "/api/v1/runs/search", payload)
                second = None
                if first["next_page_token"]:
                    second = {**payload, "page_token": first["next_page_token"]}
                for label, body in (("page 1", payload), ("page 2", second)):
                    if body is None:
                        continue
                    encoded = json.dumps(body).encode()
                    for _ in range(3):
                        http.request("POST", "/api/v1/runs/search", encoded)
                    latencies, returned = [], 0
                    before = server.cpu_snapshot()
                    for _ in range(args.requests):
                        status, data, ms = http.request("POST", "/api/v1/runs/search", encoded)
                        if status != 200:
                            raise RuntimeError(f"search answered {status}: {data[:300]!r}")
                        latencies.append(ms)
                        returned = len(json.loads(data)["runs"])
                    cpu_ms = server.cpu_ms_per_request(before, args.requests)
                    everything += latencies
                    shown = (filter_text or "(no filter)")[:70]
                    rows.append(
                        [
                            f"{shown} | {', '.join(order_by)}",
                            label,
                            returned,
                            f"{percentile(latencies, 50):.0f}",
                            f"{percentile(latencies, 95):.0f}",
                            f"{cpu_ms:.0f}",
                        ]
                    )
                    progress(f"measured {label}: {shown}")
            p95 = percentile(everything, 95)
            rows.append(["all queries", "", "", f"{percentile(everything, 50):.0f}", f"{p95:.0f}", ""])
            print_table(
                f"Run search over {args.runs:,} runs (20 params, 10 metrics, 3 tags each), pages of 100",
                ["filter | order_by", "page", "runs returned", "p50 ms", "p95 ms", "server CPU ms/req"],
                rows,
                notes=[
                    f"target p95 ≤ 200 ms: {verdict(p95, 200)} (p95 over all {len(everything)} requests)",
                    "server CPU ms/req = CPU of the gunicorn workers and their PostgreSQL backends per request",
                ],
            )


if __name__ == "__main__":
    main()
