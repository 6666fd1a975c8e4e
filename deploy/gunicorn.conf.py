"""gunicorn settings for Maestro: ``gunicorn -c deploy/gunicorn.conf.py maestro.wsgi`` (Procfile, Dockerfile, compose).

* Prometheus multiprocess mode: every worker writes its metric values to ``PROMETHEUS_MULTIPROC_DIR`` (default
  ``.local/prometheus-multiproc``); ``/metrics`` served by any worker adds them all up. At start the directory is
  created and the files of processes that no longer run are removed (a clean start that keeps the files of a Celery
  worker already running on this host); ``child_exit`` drops an exited worker's live gauges.
* Logs: gunicorn's own messages as JSON lines like the application's; no access log — the application writes one
  JSON line per request with request id, tenant, actor, route, status and duration.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The same default as maestro/wsgi.py, set before the hooks import the maestro package (whose Celery module would
# otherwise default to the development settings).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maestro.settings.production")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / ".local" / "prometheus-multiproc"))

pythonpath = str(ROOT)
bind = f"{os.environ.get('WEB_BIND', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 10
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "maestro.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger", "process": "pid"},
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


def on_starting(server):
    from maestro.observability.multiproc import multiproc_dir, prepare_multiproc_dir

    removed = prepare_multiproc_dir()
    server.log.info("metrics directory %s ready (%d stale files removed)", multiproc_dir(), len(removed))


def post_worker_init(worker):
    worker.log.info("worker %s ready", worker.pid)


def child_exit(server, worker):
    from maestro.observability.multiproc import mark_process_dead

    mark_process_dead(worker.pid)
