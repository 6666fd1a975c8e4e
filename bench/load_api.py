"""Load test: locust (headless, bounded) against gunicorn with production settings, two tenants, admin/member/viewer
tokens, 80 % reads / 20 % writes (bench/locustfile.py). Prints a table per step and a verdict.

    .venv/bin/python bench/load_api.py                      # ladder 4, 8, 16, 24 users × 40 s, then noisy neighbour
    .venv/bin/python bench/load_api.py --users 8 --duration 60 --neighbour-users 4

1. Two throwaway tenants (A, B) in the development database, each with an admin, a member (on every project's team)
   and a viewer, ``--projects`` projects, ``--runs`` runs with params and a ``--points``-point loss history. Rate
   limits are lifted for both (``Tenant.rate_limits``), so the figures measure the server, not the plan; 429s are
   counted apart all the same.
2. The ladder: tenant A alone at each user count. A step passes with 0 5xx, non-429 failures ≤ 0.1 % and
   p95 ≤ 300 ms; the highest passing step is the highest sustained rate.
3. Noisy neighbour, at that step: A alone again (baseline), then A while tenant B runs heavy ingest (1000-point
   batches) and searches. Pass: A's p95 grows by at most 20 %.

The tenants are dropped at the end. Locust, gunicorn and PostgreSQL share this machine's cores: figures are
indicative; compare runs on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, Http, gunicorn, percentile, print_table, progress, setup_django, throwaway_tenant

P95_TARGET_MS = 300
FAILURE_BUDGET = 0.001
NEIGHBOUR_BUDGET = 0.20


def seed_tenant(tenant, port: int, projects: int, runs: int, points: int) -> dict:
    """Users, tokens, projects, runs and histories of one tenant; returns its part of the locust config."""
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from apps.accounts.services import token_create, user_create
    from apps.metrics.models import Run, RunParam
    from apps.projects.models import Project, TeamMember
    from apps.tenants.models import Tenant

    Tenant.objects.filter(schema_name=tenant.slug).update(
        rate_limits={scope: {"user": None, "tenant": None} for scope in ("read", "write", "ingest")}
    )
    with schema_context(tenant.slug):
        tokens = {}
        users = {}
        for role in ("admin", "member", "viewer"):
            users[role] = user_create(username=f"load-{role}", role=role)
            tokens[role] = token_create(user=users[role], name="load", scope="write" if role != "admin" else "admin")
        project_ids = []
        for index in range(projects):
            project = Project.objects.create(
                name=f"Load project {index}", slug=f"load-{index}", owner=users["admin"], visibility="tenant",
                spec="A project of the load test", tags=["load", f"group{index % 5}"],
            )  # fmt: skip
            TeamMember.objects.create(
                project=project, user=users["member"], display_name="Member", role="ml_engineer",
                experience_level="mid",
            )  # fmt: skip
            project_ids.append(project.pk)
        run_ids = []
        for index in range(runs):
            run = Run.objects.create(
                project_id=project_ids[index % len(project_ids)], name=f"load-run-{index}", start_time=timezone.now()
            )
            RunParam.objects.create(run=run, key="lr", value=f"{0.001 * (1 + index % 50):.3f}")
            run_ids.append(run.pk)
        tokens = {role: created.plaintext for role, created in tokens.items()}
    http = Http(port, "localhost", tokens["admin"])
    now = int(time.time() * 1000)
    for run_id in run_ids:
        metrics = [
            {"key": "loss", "value": 1.0 / (1 + step) + (run_id % 7) * 0.01, "step": step, "timestamp": now + step}
            for step in range(points)
        ]
        http.json("POST", f"/api/v1/runs/{run_id}/log-batch", {"metrics": metrics})
    return {"tokens": tokens, "projects": project_ids, "runs": run_ids}


def run_locust(config_path: Path, tenants: str, profile: str, users: int, seconds: int) -> subprocess.Popen:
    result = Path(tempfile.mkstemp(prefix=f"load-{tenants}-", suffix=".json")[1])
    env = {
        **os.environ,
        "LOAD_CONFIG": str(config_path),
        "LOAD_TENANTS": tenants,
        "LOAD_PROFILE": profile,
        "LOAD_RESULT": str(result),
    }
    command = [
        str(ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/locustfile.py"), "--headless", "-u", str(users),
        "-r", str(users), "--run-time", f"{seconds}s", "--stop-timeout", "5", "--only-summary",
        "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc.result_path = result
    return proc


def figures(proc: subprocess.Popen, tenant: str, seconds: int) -> dict:
    _, stderr = proc.communicate(timeout=seconds + 120)
    records = [r for r in json.loads(proc.result_path.read_text()) if r[0] == tenant]
    proc.result_path.unlink()
    if not records:
        raise RuntimeError(f"locust recorded nothing: {stderr.decode()[-2000:]}")
    times = [ms for _, _, ms in records]
    statuses = [status for _, status, _ in records]
    throttled = sum(1 for s in statuses if s == 429)
    server_errors = sum(1 for s in statuses if s >= 500 or s == 0)
    failures = sum(1 for s in statuses if s >= 400 or s == 0) - throttled
    return {
        "requests": len(records), "rps": len(records) / seconds, "p50": percentile(times, 50),
        "p95": percentile(times, 95), "p99": percentile(times, 99), "failures": failures, "throttled": throttled,
        "server_errors": server_errors, "failure_rate": failures / len(records),
    }  # fmt: skip


def passes(f: dict) -> bool:
    return f["server_errors"] == 0 and f["failure_rate"] <= FAILURE_BUDGET and f["p95"] <= P95_TARGET_MS


def row(label: str, users: int, f: dict, verdict: str) -> list:
    return [
        label, users, f["requests"], f"{f['rps']:.1f}", f"{f['p50']:.0f}", f"{f['p95']:.0f}", f"{f['p99']:.0f}",
        f"{100 * f['failure_rate']:.3f} %", f["server_errors"], f["throttled"], verdict,
    ]  # fmt: skip


HEADERS = ["run", "users", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "non-429 failures", "5xx", "429",
           "verdict"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="4,8,16,24", help="ladder of concurrent locust users for tenant A")
    parser.add_argument("--duration", type=int, default=40, help="seconds per step")
    parser.add_argument("--neighbour-users", type=int, default=4, help="tenant B's heavy users")
    parser.add_argument("--server-workers", type=int, default=4)
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()
    setup_django()
    ladder = [int(u) for u in args.users.split(",")]
    rows, notes = [], []
    with contextlib.ExitStack() as stack:
        tenant_a = stack.enter_context(throwaway_tenant())
        tenant_b = stack.enter_context(throwaway_tenant())
        server = stack.enter_context(gunicorn(args.server_workers))
        progress("seeding both tenants (users, projects, runs, histories)")
        config = {
            "base_url": f"http://localhost:{server.port}",
            "tenants": {
                name: seed_tenant(tenant, server.port, args.projects, args.runs, args.points)
                for name, tenant in (("A", tenant_a), ("B", tenant_b))
            },
        }
        config_path = Path(tempfile.mkstemp(prefix="load-config-", suffix=".json")[1])
        config_path.write_text(json.dumps(config))
        stack.callback(config_path.unlink)
        progress("warm-up 10 s")
        figures(run_locust(config_path, "A", "mixed", 4, 10), "A", 10)
        best = None
        for users in ladder:
            progress(f"tenant A alone, {users} users, {args.duration} s")
            f = figures(run_locust(config_path, "A", "mixed", users, args.duration), "A", args.duration)
            ok = passes(f)
            rows.append(row("A alone", users, f, "pass" if ok else "FAIL"))
            progress(f"  {f['rps']:.1f} rps, p95 {f['p95']:.0f} ms, {f['failures']} failures, {f['server_errors']} 5xx")
            if ok:
                best = (users, f)
        sustained = best is not None
        if best is None:
            notes.append(f"no step met the targets; the noisy-neighbour run uses the lowest step ({ladder[0]} users)")
            best = (ladder[0], None)
        users, _ = best
        progress(f"noisy neighbour at {users} users: baseline")
        baseline = figures(run_locust(config_path, "A", "mixed", users, args.duration), "A", args.duration)
        progress(f"noisy neighbour: A with B ({args.neighbour_users} heavy users)")
        a_proc = run_locust(config_path, "A", "mixed", users, args.duration)
        b_proc = run_locust(config_path, "B", "heavy", args.neighbour_users, args.duration)
        loaded = figures(a_proc, "A", args.duration)
        neighbour = figures(b_proc, "B", args.duration)
        growth = loaded["p95"] / baseline["p95"] - 1
        rows.append(row("A baseline", users, baseline, "pass" if passes(baseline) else "FAIL"))
        rows.append(row("A + noisy B", users, loaded, "pass" if growth <= NEIGHBOUR_BUDGET else "FAIL"))
        rows.append(row("B (heavy)", args.neighbour_users, neighbour, "-"))
        if sustained:
            notes.append(
                f"highest sustained step: {best[0]} users, {best[1]['rps']:.1f} requests/s (p95 ≤ {P95_TARGET_MS} ms, "
                f"non-429 failures ≤ {FAILURE_BUDGET:.1%}, 0 5xx)"
            )
        notes += [
            f"noisy neighbour: A's p95 {baseline['p95']:.0f} → {loaded['p95']:.0f} ms ({growth:+.0%}; budget "
            f"+{NEIGHBOUR_BUDGET:.0%}) while B sent {neighbour['rps']:.1f} requests/s of 1000-point batches "
            "and searches",
            f"gunicorn: {args.server_workers} sync workers, production settings; data per tenant: {args.projects} "
            f"projects, {args.runs} runs × {args.points} points",
        ]
        verdict_ok = sustained and growth <= NEIGHBOUR_BUDGET
    print_table("Load (locust, 80 % reads / 20 % writes)", HEADERS, rows, notes)
    return 0 if verdict_ok else 1


if __name__ == "__main__":
    sys.exit(main())
