# Maestro image: web, Celery workers, beat and the migration job share it (docker-compose.yml, deploy/kubernetes/).
# The local two-command setup does not need it. No container engine runs on the development machines: the tests read
# this file (tests/ops/test_dockerfile.py, tests/ops/test_deployments_agree.py) instead of building it.
#
# Two stages: "build" installs the Python packages into /opt/venv (pip, wheels' build caches and the torch index stay
# there); the runtime stage copies the venv and the application, adds only the system libraries the wheels load, and
# runs as an unprivileged numeric user (Kubernetes' runAsNonRoot can check a numeric USER). Nothing under /app or
# /opt is writable at run time, so the root filesystem can be mounted read-only; the only paths written are /tmp,
# PROMETHEUS_MULTIPROC_DIR, MEDIA_ROOT and beat's schedule (volumes or emptyDirs in compose and Kubernetes). The
# embedding model ships in a package (site-packages), so HF_HUB_OFFLINE=1 and no Hugging Face cache is needed.
FROM python:3.11-slim-bookworm AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY maestro maestro
COPY apps apps
RUN pip install --no-cache-dir -c constraints.txt .
COPY . .
# Static files are collected at build time (whitenoise serves them from the read-only image); the application's
# bytecode is compiled now, since nothing can write it at run time.
RUN DJANGO_SETTINGS_MODULE=maestro.settings.local SECRET_KEY=collectstatic-only DATABASE_URL=postgres://x:x@localhost/x \
    python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q maestro apps deploy manage.py

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PATH=/opt/venv/bin:$PATH HOME=/tmp \
    DJANGO_SETTINGS_MODULE=maestro.settings.production \
    PROMETHEUS_MULTIPROC_DIR=/app/.local/prometheus-multiproc MEDIA_ROOT=/app/media TENANT_EXPORT_DIR=/tmp/exports
# libgomp1: LightGBM's wheel loads the system's OpenMP runtime; libpq5: psycopg (tests/ops/test_dockerfile.py checks
# every wheel). postgresql-client: pg_dump/psql for the operator backups in docs/operations.md.
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libgomp1 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 maestro && useradd --system --uid 10001 --gid 10001 --home-dir /tmp maestro
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
RUN mkdir -p /app/media /app/.local/prometheus-multiproc /app/.local/beat \
    && chown 10001:10001 /app/media /app/.local/prometheus-multiproc /app/.local/beat
WORKDIR /app
USER 10001:10001
# 8000: gunicorn (web). 8001: a Celery worker's own /metrics (METRICS_WORKER_PORT).
EXPOSE 8000 8001
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "maestro.wsgi", "--bind", "0.0.0.0:8000"]
