"""``/metrics`` served by a Celery worker itself, for hosts that share nothing with the web.

On one host (``make run``) gunicorn and the Celery workers write to one prometheus_client multiprocess directory and
web's ``/metrics`` adds them all up. A Kubernetes pod or a compose container has a directory of its own, so a worker's
task metrics would reach no scrape: with ``METRICS_WORKER_PORT`` set, the worker's main process serves its own
processes' values (and the scrape-time gauges, like web) on that port, and Prometheus scrapes every worker pod. The
access rule is web's (``maestro.metrics.metrics_allowed``): the metrics token or an allow-listed address.

``wsgiref`` in a daemon thread is enough: one scrape every few seconds, each answered from files on local disk.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST

from maestro.metrics import REFUSAL, metrics_allowed
from maestro.observability.exposition import render_metrics
from maestro.observability.multiproc import prepare_multiproc_dir

logger = logging.getLogger("maestro.metrics")


class _QuietHandler(WSGIRequestHandler):
    """No access line per scrape on stderr (web writes none for /metrics either)."""

    def log_message(self, format, *args):
        pass


def metrics_app(environ, start_response):
    """WSGI: ``GET /metrics`` (token or allow-listed address), ``GET /healthz``; 404 otherwise."""
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']
    if path != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if not metrics_allowed(environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [REFUSAL.encode()]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [render_metrics()]


def start_worker_metrics_server(port: int | None = None) -> WSGIServer | None:
    """Serve ``metrics_app`` on ``port`` (default ``METRICS_WORKER_PORT``; 0 or unset: nothing) on every interface.

    Removes the files of dead processes from the multiprocess directory first, as gunicorn does at start: a restarted
    container or pod reuses its directory, and a worker that serves its own directory is the one to clean it.
    """
    port = settings.METRICS_WORKER_PORT if port is None else port
    if not port:
        return None
    removed = prepare_multiproc_dir()
    server = make_server("0.0.0.0", port, metrics_app, handler_class=_QuietHandler)  # noqa: S104 (pods/containers)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    logger.info("worker_metrics_serving", extra={"port": port, "stale_files_removed": len(removed)})
    return server
