# Maestro image for docker-compose (web, worker, beat share it). The local two-command setup does not need Docker.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1
# libgomp1: LightGBM's wheel loads the system's OpenMP runtime (tests/ops/test_dockerfile.py checks every wheel).
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libgomp1 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY maestro maestro
COPY apps apps
RUN pip install --no-cache-dir -c constraints.txt .
COPY . .
RUN DJANGO_SETTINGS_MODULE=maestro.settings.local SECRET_KEY=collectstatic-only DATABASE_URL=postgres://x:x@localhost/x \
    python manage.py collectstatic --noinput -v 0
RUN useradd --system --home /app maestro && mkdir -p /app/media /app/.local/prometheus-multiproc \
    && chown -R maestro /app/media /app/.local
USER maestro
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "maestro.wsgi", "--bind", "0.0.0.0:8000"]
