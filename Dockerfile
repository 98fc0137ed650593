# syntax=docker/dockerfile:1
# Multi-stage build: wheels are built in the first stage; the runtime image runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md alembic.ini ./
COPY domain ./domain
COPY db ./db
COPY adapters ./adapters
COPY graph ./graph
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ALERTWHISPERER_HOME=/var/lib/alertwhisperer
RUN useradd --create-home --uid 10001 alertwhisperer \
    && mkdir -p /var/lib/alertwhisperer && chown alertwhisperer /var/lib/alertwhisperer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
USER alertwhisperer
# 8000: the API and webhooks; 9464: `alertwhisperer worker`'s metrics when ALERTWHISPERER_WORKER_METRICS_PORT=9464.
EXPOSE 8000 9464
# Liveness only (/healthz reads nothing): a slow database must not get the container restarted.
# Orchestrators route traffic on /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# Migrate first (fails fast on a wrong DATABASE_URL; concurrent replicas wait on an advisory lock), then
# serve; `exec` replaces the shell, so serve is PID 1 and gets the SIGTERM of `docker stop`.
# Worker containers run the same image with the command `alertwhisperer worker` and --no-healthcheck
# (they serve no /healthz; README, Deployment).
CMD ["sh", "-c", "alertwhisperer migrate && exec alertwhisperer serve --host 0.0.0.0 --port 8000"]
