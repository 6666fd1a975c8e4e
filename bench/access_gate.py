"""Benchmark: the permission gate and the rate limiter on real PostgreSQL and Redis.

    .venv/bin/python bench/access_gate.py [--projects 10000] [--rows 100000] [--repeat 50] [--hits 2000]

Creates a throwaway database (``bench_access_<pid>``, migrated like the test database), a tenant, users, projects
and guardian permission rows (bulk inserts, progress printed), then times:

* ``scope(Project.objects.all(), user=member)`` — first page of 50 (ordered) and ``count()``;
* ``level_for(member, project)`` — one object's access level;
* one rate-limit hit (sliding-window Lua script in Redis).

Prints p50/p95/max in a table with the command line, then drops the database. Numbers on a busy 2-core machine are
indicative only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"| {name} | {len(samples)} | {statistics.median(ordered):.2f} | {p95:.2f} | {ordered[-1]:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000, help="guardian permission rows")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--hits", type=int, default=2000)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import connection

    connection.settings_dict["TEST"]["NAME"] = f"bench_access_{os.getpid()}"
    progress("creating and migrating a throwaway database")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        results = run(args)
    finally:
        progress("dropping the throwaway database")
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print()
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"data: {args.projects} projects, {args.rows} permission rows, 10% tenant-visible")
    print("| measurement | runs | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, samples in results:
        print(row(name, samples))


def _level_annotations(user):
    from django.db.models import BooleanField, Case, Value, When

    from apps.access.selectors import level_q

    return {lv: Case(When(level_q("project", "", user, lv), then=Value(True)), default=Value(False),
                     output_field=BooleanField()) for lv in ("view", "change", "manage")}  # fmt: skip


def run(args) -> list[tuple[str, list[float]]]:
    from django.conf import settings
    from django_tenants.utils import schema_context
    from guardian.models import UserObjectPermission
    from limits import parse

    from apps.access.selectors import level_for, scope
    from apps.access.services import _content_type, _permissions
    from apps.accounts.models import User
    from apps.ops.services import tenant_provision
    from apps.projects.models import Project
    from maestro.api import throttling

    progress("provisioning tenant 'benchaccess'")
    tenant_provision(slug="benchaccess", name="Bench", admin_email="bench@bench.test", domain="benchaccess.localhost")
    with schema_context("benchaccess"):
        users = User.objects.bulk_create(User(username=f"u{i}", role="member") for i in range(50))
        member = users[0]
        progress(f"inserting {args.projects} projects")
        projects = Project.objects.bulk_create(
            (Project(name=f"P{i}", slug=f"p{i}", visibility="tenant" if i % 10 == 0 else "private")
             for i in range(args.projects)),
            batch_size=5000,
        )  # fmt: skip
        ct = _content_type(projects[0])
        view = _permissions(projects[0], ct)["view"]
        progress(f"inserting {args.rows} permission rows")
        batch = []
        for n in range(args.rows):
            user = users[n % len(users)]
            project = projects[(n // len(users) * 7919 + n) % len(projects)]
            batch.append(UserObjectPermission(user=user, permission=view, content_type=ct, object_pk=str(project.pk)))
            if len(batch) == 10_000:
                UserObjectPermission.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
                progress(f"  {n + 1} rows")
        UserObjectPermission.objects.bulk_create(batch, ignore_conflicts=True)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        visible = scope(Project.objects.all(), user=member).count()
        progress(f"member sees {visible} of {len(projects)} projects; timing")
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(20):
                level_for(member, projects[len(projects) // 2])
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        if os.environ.get("BENCH_EXPLAIN"):
            print(scope(Project.objects.all(), user=member).order_by("-created_at", "-id")[:50].explain(analyze=True))
            from django.db.models import Count

            print(scope(Project.objects.all(), user=member).aggregate(n=Count("id")))
            print(scope(Project.objects.all(), user=member).values("id").explain(analyze=True))
            print(
                Project.objects.filter(pk=projects[5].pk).annotate(**_level_annotations(member)).explain(analyze=True)
            )
        results = [
            ("scope(): first page of 50", timed(lambda: list(scope(Project.objects.all(), user=member)
                                                              .order_by("-created_at", "-id")[:50]), args.repeat)),
            ("scope(): count()", timed(lambda: scope(Project.objects.all(), user=member).count(), args.repeat)),
            ("level_for(): one project", timed(lambda: level_for(member, projects[len(projects) // 2]), args.repeat)),
        ]  # fmt: skip
    settings.MAESTRO_RATE_LIMIT_KEY_PREFIX = f"bench-{uuid.uuid4().hex}"
    throttling.limiter.reset()
    limiter = throttling.limiter.get()
    item = parse("1000000/minute")
    results.append(("rate limit: one hit (Redis Lua)", timed(lambda: limiter.hit(item, "bench"), args.hits)))
    return results


if __name__ == "__main__":
    main()
