"""A small round-robin HTTP reverse proxy: the load balancer in front of the web hosts of the cluster test.

Why our own (about 150 lines) rather than Debian's haproxy or nginx: the cluster test needs what a load balancer
knows and they do not tell a test without parsing their logs — how many requests each backend answered (to check
the web hosts' request counters against), which requests failed while in flight — and a way to send one request
to a chosen host ("upload through one host, download through the other"); and it must run on a CI machine where
nothing was installed as root. It does what the Ingress controller does for the cluster run here:

* **Round robin** over the backends marked up; a health check (``GET /healthz`` every ``health_interval``) marks
  them up or down.
* **Failover on connection refused**: a backend that refuses the connection has not seen the request, so the
  request goes to the next backend (whatever its method) and the refusing one is marked down.
* **In-flight failures are the client's**: when a backend dies after the request was sent, the proxy cannot know
  whether it was executed and answers 502 with ``X-Proxy-Error: in-flight``; the client decides whether to retry
  (idempotent requests only).
* ``X-Cluster-Pin: <backend name>`` sends a request to that backend only (no failover); every answer names its
  backend in ``X-Served-By``.

Requests must carry ``Content-Length`` (no chunked request bodies); responses are read whole and sent with their
length, one request per connection.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIN_HEADER = "X-Cluster-Pin"
SERVED_BY = "X-Served-By"
PROXY_ERROR = "X-Proxy-Error"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding",
    "upgrade", "content-length", PIN_HEADER.lower(),
}  # fmt: skip


@dataclass
class Backend:
    name: str
    host: str
    port: int
    up: bool = True
    forwarded: int = 0  # requests it answered (any status)
    refused: int = 0  # connections it refused (the request went elsewhere)
    in_flight_failures: list[float] = field(default_factory=list)  # time.monotonic() of each


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _proxy(self):
        self.server.proxy.forward(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

    def log_message(self, format, *args):  # no line per request on stderr
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    proxy: RoundRobinProxy


class RoundRobinProxy:
    """``RoundRobinProxy(backends).start()``; ``url`` is where clients connect; ``stop()`` when done."""

    def __init__(self, backends: list[Backend], bind: str = "127.0.0.10", health_interval: float = 0.25,
                 timeout: float = 120.0):  # fmt: skip
        self.backends = backends
        self.timeout = timeout
        self.health_interval = health_interval
        self._lock = threading.Lock()
        self._next = 0
        self._stopped = threading.Event()
        self._server = _Server((bind, 0), _Handler)
        self._server.proxy = self
        self.no_backend = 0  # requests answered 503: every backend refused
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)

    def start(self) -> RoundRobinProxy:
        for target in (self._server.serve_forever, self._health_loop):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def forwarded(self) -> dict[str, int]:
        with self._lock:
            return {b.name: b.forwarded for b in self.backends}

    # -------------------------------------------------------------------------------------------- routing

    def _order(self, pin: str | None) -> list[Backend]:
        if pin:
            return [b for b in self.backends if b.name == pin]
        with self._lock:
            start = self._next
            self._next += 1
        rotated = self.backends[start % len(self.backends) :] + self.backends[: start % len(self.backends)]
        return [b for b in rotated if b.up] + [b for b in rotated if not b.up]

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if handler.headers.get("Transfer-Encoding"):
            self._reply(handler, 411, b"chunked request bodies are not supported", {PROXY_ERROR: "length-required"})
            return
        body = handler.rfile.read(length) if length else None
        headers = [(k, v) for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP]
        for backend in self._order(handler.headers.get(PIN_HEADER)):
            conn = http.client.HTTPConnection(backend.host, backend.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError:
                with self._lock:
                    backend.up = False
                    backend.refused += 1
                conn.close()
                continue
            try:
                conn.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body or b"")))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                with self._lock:
                    backend.in_flight_failures.append(time.monotonic())
                self._reply(handler, 502, b"the backend failed while handling the request",
                            {PROXY_ERROR: "in-flight", SERVED_BY: backend.name})  # fmt: skip
                return
            finally:
                conn.close()
            with self._lock:
                backend.forwarded += 1
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            self._reply(handler, response.status, data, {**kept, SERVED_BY: backend.name}, response.reason)
            return
        with self._lock:
            self.no_backend += 1
        self._reply(handler, 503, b"no backend answered", {PROXY_ERROR: "no-backend"})

    @staticmethod
    def _reply(handler, status: int, body: bytes, headers: dict[str, str], reason: str | None = None) -> None:
        try:
            handler.send_response_only(status, reason)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        except OSError:
            pass  # the client went away
        handler.close_connection = True

    # -------------------------------------------------------------------------------------------- health

    def _health_loop(self) -> None:
        while not self._stopped.wait(self.health_interval):
            for backend in self.backends:
                up = self._healthy(backend)
                with self._lock:
                    backend.up = up

    def _healthy(self, backend: Backend) -> bool:
        conn = http.client.HTTPConnection(backend.host, backend.port, timeout=1)
        try:
            conn.request("GET", "/healthz", headers={"Host": "localhost"})
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
