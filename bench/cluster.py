"""The multi-host run of issue 23 at full size: hosts that share nothing but PostgreSQL, Redis and S3.

    .venv/bin/python bench/cluster.py                    # make cluster-test: full size, prints the table of checks
    .venv/bin/python bench/cluster.py --scale reduced    # the size `make test` runs

Runs ``tests/ops/test_cluster.py`` with pytest (test settings: the checkout's test database, a private Redis, moto's
S3 server) with ``CLUSTER_SCALE`` set; the test starts two web hosts behind a round-robin proxy, a ``default``
worker host with beat and two ``ml`` worker hosts, runs every check through the proxy and prints one table row per
check (see the test's docstring for what each proves). Exits with pytest's status: 0 when every check passed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _harness import ROOT, progress


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["full", "reduced"], default="full")
    args = parser.parse_args()
    command = [
        sys.executable, "-m", "pytest", "--ds=maestro.settings.test", "-q", "-s", "-p", "no:cacheprovider",
        "-p", "no:logging", "--no-cov", "tests/ops/test_cluster.py",
    ]  # fmt: skip
    progress(f"CLUSTER_SCALE={args.scale} " + " ".join(command[1:]))
    env = {**os.environ, "CLUSTER_SCALE": args.scale, "LOG_LEVEL": "WARNING"}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
