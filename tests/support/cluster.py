"""Hosts on one machine that share nothing but PostgreSQL, Redis and S3: the cluster test's (tests/ops/test_cluster.py)
web and worker hosts.

A host is a process group with a directory of its own, the way a pod is a set of containers with their own
filesystem: its working directory, ``HOME``, ``TMPDIR``, caches, the prometheus_client
multiprocess directory and ``MEDIA_ROOT`` (which must stay empty: files go to S3) are all under ``<root>/<host>/``.
The code is imported from the checkout through ``PYTHONPATH`` — that is "the image", read only; nothing a host
writes lands there. Web hosts run gunicorn with ``deploy/gunicorn.conf.py`` on a loopback address of their own
(127.0.0.11, 127.0.0.12, …), worker hosts run Celery as the Procfile and the Kubernetes manifests do, each serving
its ``/metrics`` on ``METRICS_WORKER_PORT``. Every process connects to PostgreSQL as ``application_name`` =
``cluster-<tag>-<host>``, so the test can tell which host holds a lock. ``kill()`` SIGKILLs the whole group (a host
lost); ``start()`` again is the host coming back with the same disk (a container restart).

The one file every host writes to is the suite's log file (``MAESTRO_TEST_LOG_FILE``, the suite-wide secret check):
that is the log collector of a real cluster, not state any host reads.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from tests.ops.scrape import Samples, parse

ROOT = Path(settings.BASE_DIR)


@dataclass
class Host:
    """One simulated host: ``commands`` run as one process group in ``root``'s directories."""

    name: str
    root: Path
    env: dict[str, str]
    commands: list[list[str]]
    address: str = "127.0.0.1"
    port: int = 0  # web: gunicorn's port; worker: its metrics port
    procs: list[subprocess.Popen] = field(default_factory=list)
    starts: int = 0

    @property
    def dirs(self) -> dict[str, Path]:
        names = ("work", "home", "tmp", "cache", "metrics", "media")
        return {name: self.root / name for name in names}

    @property
    def application_name(self) -> str:
        return self.env["PGAPPNAME"]

    def start(self) -> None:
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.procs = []
        for index, command in enumerate(self.commands):
            log = open(self.root / f"{index}-{self.starts}.log", "ab")  # noqa: SIM115  (closed with the process)
            group = self.procs[0].pid if self.procs else 0  # a process group of its own, joined by the rest
            options = {"env": self.env, "cwd": self.dirs["work"], "stdout": log, "stderr": subprocess.STDOUT}
            self.procs.append(subprocess.Popen(command, process_group=group, **options))

    @property
    def pgid(self) -> int:
        return self.procs[0].pid

    def alive(self) -> bool:
        return bool(self.procs) and all(proc.poll() is None for proc in self.procs)

    def answers(self) -> bool:
        try:
            return get(self.address, self.port, "/healthz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"host {self.name} exited; see {self.root}/*.log:\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(0.25)
        raise RuntimeError(f"host {self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        logs = sorted(self.root.glob("*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def kill(self) -> None:
        """Lose the host: SIGKILL every process of its group at once."""
        if self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
            for proc in self.procs:
                proc.wait(timeout=30)

    def running(self) -> bool:
        return any(proc.poll() is None for proc in self.procs)

    def terminate(self) -> None:
        """Ask every process of the group to shut down (SIGTERM: gunicorn and Celery finish what they run)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGTERM)

    def scrape(self, token: str) -> Samples:
        status, body = get(self.address, self.port, "/metrics", token=token)
        if status != 200:
            raise RuntimeError(f"{self.name} /metrics answered {status}: {body[:200]!r}")
        return parse(body.decode())

    def files(self, name: str) -> list[Path]:
        """Every file under one of the host's directories (e.g. ``media``)."""
        return [path for path in self.dirs[name].rglob("*") if path.is_file()]


def stop_hosts(hosts, grace: float = 30) -> None:
    """Shut hosts down together (their graceful shutdowns overlap); SIGKILL what still runs after ``grace`` s."""
    hosts = list(hosts)
    for host in hosts:
        host.terminate()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(host.running() for host in hosts):
        time.sleep(0.2)
    for host in hosts:
        host.kill()


def get(address: str, port: int, path: str, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        headers = {"Host": "localhost", **({"Authorization": f"Bearer {token}"} if token else {})}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def host_env(base: dict[str, str], root: Path, name: str, tag: str) -> dict[str, str]:
    """``base`` (settings shared by every host: database, Redis, S3, secrets) plus the host's own directories."""
    dirs = {d: root / d for d in ("work", "home", "tmp", "cache", "metrics", "media")}
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "HOME": str(dirs["home"]),
        "TMPDIR": str(dirs["tmp"]),
        "XDG_CACHE_HOME": str(dirs["cache"]),
        "HF_HOME": str(dirs["cache"] / "huggingface"),
        # Byte code comes with the image (the checkout's and the virtualenv's __pycache__), read only.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(dirs["metrics"]),
        "MEDIA_ROOT": str(dirs["media"]),
        "TENANT_EXPORT_DIR": str(dirs["tmp"] / "exports"),
        "PGAPPNAME": f"cluster-{tag}-{name}",
    }


def web_host(base: dict[str, str], root: Path, name: str, tag: str, address: str, port: int,
             workers: int = 2) -> Host:  # fmt: skip
    """gunicorn as the Procfile, the Dockerfile and the Kubernetes web Deployment run it, on ``address:port``."""
    env = {**host_env(base, root / name, name, tag), "WEB_BIND": address, "WEB_PORT": str(port),
           "WEB_CONCURRENCY": str(workers), "WEB_TIMEOUT": "60"}  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "maestro.wsgi"]
    return Host(name=name, root=root / name, env=env, commands=[command], address=address, port=port)


def worker_host(base: dict[str, str], root: Path, name: str, tag: str, queue: str, metrics_port: int,
                beat: bool = False) -> Host:  # fmt: skip
    """A Celery worker for ``queue`` as the Procfile runs it (prefork, concurrency 1), serving its own ``/metrics``;
    with ``beat`` the host also runs Celery beat, its schedule in the host's working directory. The ``ml`` worker
    runs without the Procfile's ``nice 10``: on a host of its own that only ranks it below that host's other
    processes, here it would rank it below every other host's and below whatever else shares this machine."""
    env = {**host_env(base, root / name, name, tag), "METRICS_WORKER_PORT": str(metrics_port)}
    worker = [
        sys.executable, "-m", "celery", "-A", "maestro", "worker", "--loglevel", "INFO", "--queues", queue,
        "--concurrency", "1", "--hostname", f"{queue}@{name}",
    ]  # fmt: skip
    commands = [worker]
    if beat:
        commands.append([sys.executable, "-m", "celery", "-A", "maestro", "beat", "--loglevel", "INFO",
                         "--schedule", str(root / name / "work" / "celerybeat-schedule")])  # fmt: skip
    return Host(name=name, root=root / name, env=env, commands=commands, port=metrics_port)
