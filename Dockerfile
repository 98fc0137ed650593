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
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["alertwhisperer", "serve", "--host", "0.0.0.0", "--port", "8000"]
