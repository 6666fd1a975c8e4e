"""The four fault-injection tests of issue 9 at full strength, with their figures and a pass/fail per target.

    .venv/bin/python bench/faults.py                       # Redis down 60 s, 3 PostgreSQL restarts, 4 worker kills
    .venv/bin/python bench/faults.py --redis-outage 8 --pg-restarts 2 --worker-kills 3   # the suite's strength

Runs ``tests/reliability/test_fault_*.py`` with pytest (test settings: the test database, private PostgreSQL and
Redis servers for the tests that stop them, real gunicorn and Celery processes) and prints one row per target of
issue 9 with the figures line the test printed. Each test asserts all of its targets, so a target passes when its
test passes; a failing test's assertion is printed under the table. Exits 1 when any test failed or was skipped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from _harness import ROOT, print_table, progress

TESTS = {
    "tests/reliability/test_fault_redis.py": [
        "reads and metric ingest answer 2xx while Redis is down",
        "endpoints that enqueue work answer within 5 s",
        "work requested during the outage completes after it: 0 lost, 0 duplicated",
    ],
    "tests/reliability/test_fault_postgres.py": [
        "errors are 503 (never 500) and confined to the restart window",
        "web and workers recover without being restarted",
    ],
    "tests/reliability/test_fault_worker_kill.py": [
        "no half-written model version is ever active",
        "the training completes on the next worker",
        "exactly one new version results",
    ],
    "tests/reliability/test_fault_storage.py": [
        "disk full / storage failure on upload: a clear 5xx-free error (413 storage_full / 424 storage_failed)",
        "no orphaned database row or file",
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-outage", type=int, default=60, help="seconds Redis stays down")
    parser.add_argument("--pg-restarts", type=int, default=3)
    parser.add_argument("--worker-kills", type=int, default=4, help="at most 4: a run is given up after 5 attempts")
    parser.add_argument("--only", default="", help="run only the tests whose file name contains this")
    args = parser.parse_args()
    selected = {path: targets for path, targets in TESTS.items() if args.only in path}
    junit = Path(tempfile.mkstemp(prefix="faults-", suffix=".xml")[1])
    env = {
        **os.environ,
        "FAULT_REDIS_OUTAGE_SECONDS": str(args.redis_outage),
        "FAULT_PG_RESTARTS": str(args.pg_restarts),
        "FAULT_WORKER_KILLS": str(args.worker_kills),
    }
    command = [
        sys.executable, "-m", "pytest", "--ds=maestro.settings.test", "-q", "-p", "no:cacheprovider", "-o",
        "junit_logging=system-out", f"--junitxml={junit}", *selected,
    ]  # fmt: skip
    progress("running: " + " ".join(command[1:]))
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    results: dict[str, list[tuple[str, str, str]]] = {}  # test file → (verdict, figures, detail) per test
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        out = case.findtext("system-out") or ""
        printed = [line.strip() for line in out.splitlines() if line.strip()]
        printed = [line for line in printed if not line.startswith(("{", "---"))]  # log lines, pytest's separators
        figures = printed[-1][:300] if printed else ""
        if failure is not None:
            result = ("FAIL", figures, f"{case.get('name')}: {(failure.get('message') or '')[:600]}")
        elif skipped is not None:
            result = ("SKIPPED", figures, f"{case.get('name')}: {skipped.get('message') or ''}")
        else:
            result = ("pass", figures, "")
        results.setdefault(path, []).append(result)
    junit.unlink()
    cases = {}
    for path, found in results.items():
        verdicts = {verdict for verdict, _, _ in found}
        verdict = "pass" if verdicts == {"pass"} else "FAIL" if "FAIL" in verdicts else "SKIPPED"
        cases[path] = (verdict, "; ".join(f for _, f, _ in found if f), " | ".join(d for _, _, d in found if d))
    rows, notes = [], []
    for path, targets in selected.items():
        verdict, figures, detail = cases.get(path, ("NOT RUN", "", ""))
        for index, target in enumerate(targets):
            rows.append([Path(path).stem.removeprefix("test_"), target, figures if index == 0 else "〃", verdict])
        if detail:
            notes.append(f"{path}: {verdict}: {detail}")
    ok = all(cases.get(path, ("NOT RUN",))[0] == "pass" for path in selected)
    notes.append(f"Redis outage {args.redis_outage} s, {args.pg_restarts} PostgreSQL restarts, {args.worker_kills} "
                 f"worker kills; verdict: {'PASS' if ok else 'FAIL'}")  # fmt: skip
    print_table("Faults (issue 9)", ["test", "target", "figures", "verdict"], rows, notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
