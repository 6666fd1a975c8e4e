"""Bulk import speed: ``POST /api/v1/projects/import`` with 1,000 historical demo projects (teams and artifact
usages by name and version) in one request, over HTTP against gunicorn (production settings), in a throwaway tenant.

    .venv/bin/python bench/projects_import.py [--projects 1000] [--rounds 3]

Target: 1,000 projects in one request in under 30 s. Each round imports a new file (the demo generator with another
seed): a dry run (validation only) and then the import itself.
"""

from __future__ import annotations

import argparse
import json
import time

from _harness import Http, gunicorn, print_table, progress, setup_django, throwaway_tenant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from django_tenants.utils import schema_context

    from apps.recommendations.demo.generate import import_rows
    from apps.recommendations.demo.write import ensure_artifacts

    with throwaway_tenant() as tenant, gunicorn(workers=1) as server:
        with schema_context(tenant.slug):
            ensure_artifacts(None)
        http = Http(server.port, tenant.host, tenant.token)
        rows = []
        for r in range(args.rounds):
            data = import_rows(args.projects, seed=100 + r)
            body = "\n".join(json.dumps(row) for row in data).encode()
            members = sum(len(row["team_members"]) for row in data)
            usages = sum(len(row["artifact_usages"]) for row in data)
            for dry in (True, False):
                started = time.perf_counter()
                status, payload, _ = http.request(
                    "POST", f"/api/v1/projects/import?file_format=jsonl&dry_run={str(dry).lower()}", body
                )
                seconds = time.perf_counter() - started
                if status not in (200, 201):
                    raise RuntimeError(f"import answered {status}: {payload[:500]!r}")
                progress(f"round {r + 1} {'dry run' if dry else 'import'}: {seconds:.1f} s")
                rows.append([r + 1, "dry run" if dry else "import", args.projects, members, usages,
                             f"{len(body) / 1e6:.2f}", f"{seconds:.1f}", "≤ 30 s" if not dry else "",
                             ("met" if seconds <= 30 else "missed") if not dry else ""])  # fmt: skip
        print_table(
            "Bulk import: POST /api/v1/projects/import (JSON lines), HTTP, gunicorn 1 worker",
            ["round", "request", "projects", "team members", "usages", "MB", "seconds", "target", "result"],
            rows,
        )


if __name__ == "__main__":
    main()
