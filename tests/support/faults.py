"""Real processes for fault-injection tests: a private PostgreSQL cluster and Redis server that a test may stop and
restart (never the shared ones other engineers' suites use), gunicorn and a Celery worker pointed at them, and a
traffic generator that records every answer.

* ``PrivatePostgres`` — ``initdb`` in a temporary directory, on a free port, owned by the ``postgres`` system user
  when run as root (PostgreSQL refuses to run as root); filled with a copy of the test database (``pg_dump`` of the
  current test database, so the session tenants, their users and tokens exist there too).
* ``PrivateRedis`` — ``redis-server`` on a free port without persistence.
* ``Traffic`` — threads sending a fixed mix of requests in a loop until stopped, recording (time, name, status,
  seconds, body) of each answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.support.live_server import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def postgres_available() -> bool:
    return PG_BIN is not None and (PG_BIN / "initdb").exists() and shutil.which("pg_dump") is not None


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster holding a copy of the test database."""

    def __init__(self):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="maestro-fault-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.password = "fault-test"  # a throwaway cluster on loopback that lives for one test
        self.user = "maestro_fault"
        self.database = "maestro_fault"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _pg(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            _as_postgres([str(PG_BIN / name), *args]), check=check, capture_output=True, text=True, cwd=self.root
        )

    def create(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                 "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()
        env = {**os.environ, "PGPASSWORD": self.password}
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        source = connection.settings_dict
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", source["HOST"] or "127.0.0.1", "-p", str(source["PORT"] or 5432),
             "-U", source["USER"], "--no-owner", "--no-privileges", source["NAME"]],
            check=True, capture_output=True, env={**os.environ, "PGPASSWORD": source["PASSWORD"]},
        )  # fmt: skip
        subprocess.run(
            [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, self.database],
            input=dump.stdout, check=True, env=env, capture_output=True,
        )  # fmt: skip

    @property
    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", self._options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        self._pg(
            "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "-l", str(self.log),
            "-o", self._options, "restart",
        )  # fmt: skip

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), __import__("socket").create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def process_env(*, database_url: str | None = None, redis_url: str | None = None) -> dict[str, str]:
    """Environment for gunicorn / Celery processes of a fault test (test settings, this checkout's media)."""
    from tests.support.celery import worker_env

    env = {**worker_env(), "LOG_LEVEL": "WARNING"}
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env.update(
            REDIS_URL=f"{redis_url}/0", CACHE_URL=f"{redis_url}/1", TEST_CELERY_BROKER_URL=f"{redis_url}/2",
            MAESTRO_RATE_LIMIT_REDIS_URL=f"{redis_url}/3",
        )  # fmt: skip
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"


def start_gunicorn(env: dict[str, str], log: Path, workers: int = 2) -> Server:
    port = free_port()
    handle = open(log, "ab")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "maestro.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--timeout", "60", "--graceful-timeout", "5"],
        env={**env, "MAESTRO_BASE_PORT": str(port)}, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return Server(proc=proc, port=port, log=log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not answer; see {log}")


def start_celery(
    env: dict[str, str],
    log: Path,
    queues: str = "default,ml",
    beat_schedule: Path | None = None,
    pool: str = "solo",
    concurrency: int = 1,
) -> subprocess.Popen:
    """A Celery worker (solo pool unless ``pool``); with ``beat_schedule`` it also runs beat (``-B``), keeping its
    state there. Readiness is read from ``log``: give each worker its own log file."""
    handle = open(log, "ab")  # noqa: SIM115
    beat = ["-B", "--schedule", str(beat_schedule)] if beat_schedule else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "maestro", "worker", "--pool", pool, "--concurrency", str(concurrency),
         "-Q", queues,
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"fault-{os.getpid()}-%i@%h",
         *beat],
        env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {proc.returncode}; see {log}")
        if b"ready." in log.read_bytes():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"Celery worker did not become ready; see {log}")


def start_beat(env: dict[str, str], log: Path, schedule: Path) -> subprocess.Popen:
    """Celery beat on its own (as in the Procfile), so it outlives the workers a test kills."""
    handle = open(log, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "maestro", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
        env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Answer:
    at: float  # time.monotonic() when the request was sent
    name: str
    status: int  # 0: no HTTP answer (connection refused / reset / timeout)
    seconds: float
    body: bytes = b""


def request(method: str, url: str, token: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # local test server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@dataclass
class Traffic:
    """Threads that each run ``steps`` (name → callable returning (status, body)) in turn until ``stop``."""

    steps: list[tuple[str, Callable[[], tuple[int, bytes]]]]
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _loop(self, offset: int) -> None:
        index = offset
        while not self._stop.is_set():
            name, call = self.steps[index % len(self.steps)]
            index += 1
            started = time.monotonic()
            status, body = call()
            self.answers.append(Answer(started, name, status, time.monotonic() - started, body[:300]))
            time.sleep(0.02)

    def start(self) -> Traffic:
        for offset in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(offset,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=60)
        return list(self.answers)
