"""Throughput of tenant export/import and the cost of one /metrics scrape.

    .venv/bin/python bench/tenant_archive.py --points 200000

Creates a scratch database (``<DATABASE_URL name>_bench_ops``), migrates it, provisions one tenant with a project,
runs and ``--points`` metric points, then times ``export_tenant`` (archive write), ``import_tenant`` (verify + new
schema + load) and ``/metrics`` rendering; drops the scratch database at the end. Prints a table.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _scratch_url() -> tuple[str, str, str]:
    import environ

    env = environ.Env()
    environ.Env.read_env(ROOT / ".env")
    url = env("DATABASE_URL")
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench_ops"
    return url, urlunsplit(parts._replace(path="/" + name)), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()

    import psycopg

    admin_url, scratch_url, scratch_name = _scratch_url()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}"')
        conn.execute(f'CREATE DATABASE "{scratch_name}"')
    media = tempfile.mkdtemp(prefix="bench-ops-media-")
    os.environ.update(
        DATABASE_URL=scratch_url,
        DJANGO_SETTINGS_MODULE="maestro.settings.local",
        MEDIA_ROOT=media,
        TENANT_EXPORT_DIR=media,
        LOG_LEVEL="WARNING",
    )
    try:
        results = _run(args, Path(media))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}"')
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{'step':<34}{'seconds':>10}{'rows/s':>14}")
    for step, seconds, rows in results:
        rate = f"{rows / seconds:,.0f}" if rows else "-"
        print(f"{step:<34}{seconds:>10.3f}{rate:>14}")


def _run(args, media: Path):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from apps.metrics.models import Run
    from apps.ops.services import tenant_provision
    from apps.projects.models import Project

    call_command("migrate_schemas", interactive=False, verbosity=0)
    tenant_provision(slug="bench", name="Bench", admin_email="b@bench.test")
    with schema_context("bench"):
        project = Project.objects.create(name="Bench", slug="bench")
        runs = Run.objects.bulk_create(Run(project=project, start_time=timezone.now()) for _ in range(args.runs))
        per_run = max(1, args.points // len(runs))
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                'COPY "bench"."metrics_metricpoint" (run_id, key, value, step, timestamp) FROM STDIN'
            ) as copy,
        ):
            for run in runs:
                for step in range(per_run):
                    copy.write_row((run.pk, "loss", 1.0 / (step + 1), step, 1_700_000_000_000 + step))
    rows = per_run * len(runs)
    archive = media / "bench.tar.gz"
    results = []
    started = time.perf_counter()
    call_command("export_tenant", "bench", "--out", str(archive), stdout=io.StringIO())
    results.append((f"export_tenant ({archive.stat().st_size / 1e6:.1f} MB)", time.perf_counter() - started, rows))
    started = time.perf_counter()
    call_command("import_tenant", str(archive), "--slug", "bench-copy", stdout=io.StringIO())
    results.append(("import_tenant (verify+schema+load)", time.perf_counter() - started, rows))
    client = Client()
    client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_HOST="localhost")
    started = time.perf_counter()
    for _ in range(args.scrapes):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_HOST="localhost").status_code == 200
    results.append(("/metrics render (mean of scrapes)", (time.perf_counter() - started) / args.scrapes, 0))
    return results


if __name__ == "__main__":
    main()
