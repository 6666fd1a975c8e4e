"""Maestro's MLflow runs/search alone, on the data of bench/mlflow_compare.py's search scenario, without starting
`mlflow server`: a quick way to measure changes to the search before re-running the side-by-side comparison.

    .venv/bin/python bench/mlflow_search.py [--runs 10000] [--requests 40] [--workers 4]

The runs are written directly with bulk inserts, in the shape mlflow_compare.py's seeding produces through the API
(one experiment; per run the tags ``team`` and ``mlflow.runName``, the params ``optimizer`` and ``lr``, the latest
metrics ``accuracy`` and ``loss``, all with the same start time). Every measured request goes through HTTP to
gunicorn (production settings) with an API token on the platform host, as the MLflow client sends it. The first row
is the comparison's query; the others cover the other plans (page 2 through a page token, ordering by a metric the
filter does not mention, no filter, ordering by an attribute with a string equality on a tag).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from _harness import Http, gunicorn, percentile, print_table, progress, setup_django, throwaway_tenant
from mlflow_compare import API, SEARCH_FILTER, SEARCH_ORDER, T0


def seed(slug: str, runs: int) -> int:
    """``runs`` runs in one new project (the experiment); returns its id."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.metrics.models import LatestMetric, MetricPoint, Run, RunParam, RunTag
    from apps.projects.models import Project

    start = datetime.fromtimestamp(T0 / 1000, tz=UTC)
    with schema_context(slug):
        user = get_user_model().objects.order_by("pk").first()
        project = Project.objects.create(name="search", slug="search")
        for first in range(0, runs, 2000):
            created = Run.objects.bulk_create(
                [
                    Run(project=project, name=f"search-{i}", start_time=start, created_by=user)
                    for i in range(first, min(runs, first + 2000))
                ]
            )
            params, tags, latest, points = [], [], [], []
            for i, run in enumerate(created, start=first):
                tags += [RunTag(run=run, key="team", value=f"team-{i % 7}"),
                         RunTag(run=run, key="mlflow.runName", value=run.name)]  # fmt: skip
                params += [RunParam(run=run, key="optimizer", value=["adam", "sgd", "adamw"][i % 3]),
                           RunParam(run=run, key="lr", value=str(10 ** -(1 + i % 4)))]  # fmt: skip
                for key, value in (("accuracy", (i * 7919 % 10000) / 10000), ("loss", (i * 104729 % 10000) / 5000)):
                    latest.append(LatestMetric(run=run, key=key, value=value, step=0, timestamp=T0))
                    points.append(MetricPoint(run=run, key=key, value=value, step=0, timestamp=T0))
            for model, rows in ((RunTag, tags), (RunParam, params), (LatestMetric, latest), (MetricPoint, points)):
                model.objects.bulk_create(rows, batch_size=5000)
            progress(f"seeded {first + len(created):,} / {runs:,} runs")
        with connection.cursor() as cursor:
            for table in ["metrics_run", "metrics_runparam", "metrics_runtag", "metrics_latestmetric"]:
                cursor.execute(f"VACUUM ANALYZE {table}")
    return project.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40, help="requests per query")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    setup_django()
    with throwaway_tenant() as tenant:
        experiment_id = str(seed(tenant.slug, args.runs))
        with gunicorn(args.workers) as server:
            http = Http(server.port, "localhost", tenant.token)  # the platform host: the token selects the tenant
            queries = [
                (SEARCH_FILTER, SEARCH_ORDER, False),
                (SEARCH_FILTER, SEARCH_ORDER, True),
                ("params.optimizer = 'adam'", ["metrics.loss ASC"], False),
                ("", ["metrics.accuracy DESC"], False),
                ("tags.team = 'team-3' and metrics.loss < 1", ["start_time DESC"], False),
            ]
            warm_up = json.dumps({"experiment_ids": [experiment_id], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER})
            for _ in range(4 * args.workers):  # every worker's first requests load code and warm its caches
                http.request("POST", API + "runs/search", warm_up.encode())
            rows = []
            for filter_text, order_by, second_page in queries:
                body = {"experiment_ids": [experiment_id], "filter": filter_text, "order_by": order_by,
                        "max_results": 100}  # fmt: skip
                if second_page:
                    body["page_token"] = http.json("POST", API + "runs/search", body)["next_page_token"]
                encoded = json.dumps(body).encode()
                for _ in range(3):
                    http.request("POST", API + "runs/search", encoded)
                latencies, returned = [], 0
                before = server.cpu_snapshot()
                for _ in range(args.requests):
                    status, data, ms = http.request("POST", API + "runs/search", encoded)
                    if status != 200:
                        raise RuntimeError(f"runs/search answered {status}: {data[:300]!r}")
                    latencies.append(ms)
                    returned = len(json.loads(data)["runs"])
                workers, backends = server.cpu_seconds(before)
                label = f"{filter_text or '(no filter)'} | {', '.join(order_by)}{' | page 2' if second_page else ''}"
                rows.append(
                    [
                        label,
                        returned,
                        f"{percentile(latencies, 50):.1f}",
                        f"{percentile(latencies, 95):.1f}",
                        f"{workers * 1000 / args.requests:.1f}",
                        f"{backends * 1000 / args.requests:.1f}",
                    ]
                )
                progress(f"measured {label}")
            print_table(
                f"MLflow runs/search on Maestro over {args.runs:,} runs of one experiment, pages of 100",
                ["filter | order_by", "runs", "p50 ms", "p95 ms", "CPU ms/req gunicorn", "CPU ms/req PostgreSQL"],
                rows,
                notes=[
                    "the first row is bench/mlflow_compare.py's search scenario (target there: >= 10x faster than "
                    "mlflow server)",
                    "CPU = the gunicorn workers' and their PostgreSQL backends' CPU time per request",
                ],
            )


if __name__ == "__main__":
    main()
