"""The Prometheus metrics of a process: one registry, the metric objects, one-line recorders.

Every instrumented place calls one function of this module (`webhook_answered`, `correlation_batch`,
`execution_finished`...), so the instrumentation is a single line wherever it goes. Labels have a
small fixed set of values (reasons, statuses, integrations): never a company, an id or a path, so the
number of series stays bounded and the webhook's hot path pays one dictionary lookup and one
increment (the label children are cached here, not looked up through `labels()` per request).

Each process exposes its own registry: the API on `/metrics` (with the background loops' figures
when it runs them in-process), `alertwhisperer worker` on its own port
(`ALERTWHISPERER_WORKER_METRICS_PORT`). What is a fact of the database rather than of a process (the
correlation lag, the reactions' backlogs) is read at scrape time by the API (`refresh_database`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from domain.alerts import Tool

__all__ = ["CONTENT_TYPE_LATEST", "REGISTRY", "exposition"]

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# ---- ingestion (the webhook route) ----

WEBHOOK_REQUESTS = Counter(
    "alertwhisperer_webhook_requests",
    "Webhook requests answered, by outcome (accepted, replayed, ignored, refused), reason and HTTP status.",
    ["outcome", "reason", "status"],
    registry=REGISTRY,
)
ALERTS_INGESTED = Counter(
    "alertwhisperer_alerts_ingested",
    "Alerts accepted (stored, waiting for correlation), by integration: the webhook's tool, or graphql"
    " for the alertIngest mutation.",
    ["integration"],
    registry=REGISTRY,
)
_INTEGRATIONS = frozenset(t.value for t in Tool)
_request_children: dict[tuple[str, str, int], Any] = {}
_alert_children: dict[str, Any] = {}


def webhook_answered(outcome: str, reason: str, status: int, integration: str, alerts: int) -> None:
    """One webhook answer. `reason` comes from a closed set (graph.webhooks.deliveries.classify)."""
    key = (outcome, reason, status)
    child = _request_children.get(key)
    if child is None:
        child = _request_children[key] = WEBHOOK_REQUESTS.labels(outcome, reason, str(status))
    child.inc()
    if alerts:
        alerts_ingested(integration if integration in _INTEGRATIONS else "other", alerts)


GRAPHQL_INTEGRATION = "graphql"  # the integration label of the alerts stored by `alertIngest`


def alerts_ingested(integration: str, alerts: int) -> None:
    """Alerts newly stored (a replayed delivery stores none). `integration`: a Tool value, "other"
    or GRAPHQL_INTEGRATION."""
    if not alerts:
        return
    counter = _alert_children.get(integration)
    if counter is None:
        counter = _alert_children[integration] = ALERTS_INGESTED.labels(integration)
    counter.inc(alerts)


# ---- correlation ----

CORRELATION_BATCH_SECONDS = Histogram(
    "alertwhisperer_correlation_batch_seconds",
    "Time one correlation batch took (batches that found alerts).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
CORRELATED_ALERTS = Counter(
    "alertwhisperer_correlated_alerts", "Alerts the correlation worker handled.", registry=REGISTRY
)
CORRELATION_INCIDENTS = Counter(
    "alertwhisperer_correlation_incidents",
    "Incidents the correlation worker opened or updated.",
    ["change"],
    registry=REGISTRY,
)
_created = CORRELATION_INCIDENTS.labels("created")
_updated = CORRELATION_INCIDENTS.labels("updated")


def correlation_batch(seconds: float, alerts: int, created: int, updated: int) -> None:
    if not alerts:
        return  # an empty poll is no batch: it would drag the time distribution towards zero
    CORRELATION_BATCH_SECONDS.observe(seconds)
    CORRELATED_ALERTS.inc(alerts)
    _created.inc(created)
    _updated.inc(updated)


# Facts of the database, the same whichever process reads them: set by `refresh_database`.
CORRELATION_LAG = Gauge(
    "alertwhisperer_correlation_lag_seconds",
    "Age of the oldest alert waiting for correlation (0: none waiting); read at scrape time.",
    registry=REGISTRY,
)
CORRELATION_QUARANTINED = Gauge(
    "alertwhisperer_correlation_quarantined_companies",
    "Companies whose alerts wait because their correlation failed; read at scrape time.",
    registry=REGISTRY,
)
REACTION_BACKLOG = Gauge(
    "alertwhisperer_reaction_backlog",
    "Incident changes waiting for a reaction (pending) or given up after its retries (dead); read at scrape time.",
    ["reaction", "state"],
    registry=REGISTRY,
)
REACTION_OLDEST = Gauge(
    "alertwhisperer_reaction_oldest_pending_seconds",
    "Age of the oldest change a reaction has still to handle (0: none); read at scrape time.",
    ["reaction"],
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "alertwhisperer_metrics_database_up",
    "1 when the last scrape could read the database-wide figures, 0 when it could not.",
    registry=REGISTRY,
)


def database_figures(lag_seconds: float, quarantined: int, reactions: Iterable[Any]) -> None:
    """The database-wide figures of one scrape (`reactions`: db.reactions.ReactionBacklog rows)."""
    CORRELATION_LAG.set(lag_seconds)
    CORRELATION_QUARANTINED.set(quarantined)
    for r in reactions:
        REACTION_BACKLOG.labels(r.name, "pending").set(r.pending)
        REACTION_BACKLOG.labels(r.name, "dead").set(r.dead)
        REACTION_OLDEST.labels(r.name).set(r.oldest_pending_seconds or 0.0)
    DATABASE_UP.set(1)


def database_unreadable() -> None:
    DATABASE_UP.set(0)


ALERTS_PURGED = Counter(
    "alertwhisperer_alerts_purged",
    "Alerts deleted by the retention loop (older than their company's alertRetentionDays).",
    registry=REGISTRY,
)


def alerts_purged(count: int) -> None:
    if count:
        ALERTS_PURGED.inc(count)


# ---- subscriptions ----

WEBSOCKETS = Gauge(
    "alertwhisperer_websocket_connections", "Open GraphQL websocket connections.", registry=REGISTRY
)
SUBSCRIPTIONS = Gauge(
    "alertwhisperer_graphql_subscriptions",
    "Running GraphQL subscriptions (all websockets).",
    registry=REGISTRY,
)

# ---- remediation, SLA, email ----

EXECUTIONS = Counter(
    "alertwhisperer_remediation_executions",
    "Runbook executions (SSM) that ended, by final status.",
    ["status"],
    registry=REGISTRY,
)


def execution_finished(status: str) -> None:
    EXECUTIONS.labels(status).inc()


SLA_EVENTS = Counter(
    "alertwhisperer_sla_events",
    "SLA warnings and breaches acted on, by clock (response, resolution) and kind (warning, breach).",
    ["clock", "kind"],
    registry=REGISTRY,
)


def sla_event(clock: str, kind: str) -> None:
    SLA_EVENTS.labels(clock, kind).inc()


EMAILS = Counter(
    "alertwhisperer_emails",
    "Notification emails handled, by outcome (sent, skipped, retried, failed, lost).",
    ["outcome"],
    registry=REGISTRY,
)


def email(outcome: str, count: int = 1) -> None:
    if count:
        EMAILS.labels(outcome).inc(count)


# ---- database pools ----


class PoolCollector(Collector):
    """The connection pools of this process, read when scraped (a pool gauge set on each checkout
    would cost every query a lock)."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, Callable[[], tuple[int, int, int]]]] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "alertwhisperer_db_pool_connections",
            "Database connections of this process's pools (asyncpg, sqlalchemy), by state (in_use, idle, max).",
            labels=["pool", "state"],
        )
        totals: dict[tuple[str, str], int] = {}
        for name, read in list(self.sources):
            try:
                in_use, idle, most = read()
            except Exception:
                continue  # a pool being closed
            for state, value in (("in_use", in_use), ("idle", idle), ("max", most)):
                totals[name, state] = totals.get((name, state), 0) + value
        for (name, state), value in sorted(totals.items()):
            family.add_metric([name, state], value)
        yield family


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def watch_asyncpg_pool(pool: Any) -> Callable[[], None]:
    """Report an asyncpg pool until the returned function is called."""

    def read() -> tuple[int, int, int]:
        idle = pool.get_idle_size()
        return pool.get_size() - idle, idle, pool.get_max_size()

    return _watch("asyncpg", read)


def watch_sqlalchemy_pool(engine: Any) -> Callable[[], None]:
    """Report a SQLAlchemy engine's (queue) pool until the returned function is called."""

    def read() -> tuple[int, int, int]:
        p = engine.pool
        return p.checkedout(), p.checkedin(), p.size() + max(0, getattr(p, "_max_overflow", 0))

    return _watch("sqlalchemy", read)


def _watch(name: str, read: Callable[[], tuple[int, int, int]]) -> Callable[[], None]:
    entry = (name, read)
    POOLS.sources.append(entry)

    def stop() -> None:
        if entry in POOLS.sources:
            POOLS.sources.remove(entry)

    return stop


def exposition() -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(REGISTRY)


def serve_worker_metrics(host: str, port: int, token: str | None = None) -> Callable[[], None]:
    """The worker process's scrape target (a small threaded WSGI server, prometheus-client's own
    exposition); returns the function that stops it. With `token` (ALERTWHISPERER_METRICS_TOKEN, the
    API's) a scrape needs `Authorization: Bearer <token>`, as the API's `/metrics` does: a worker's
    port is no way around the API's guard."""
    import socket
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    exposed = make_wsgi_app(REGISTRY)
    expected = None if token is None else b"Bearer " + token.encode()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if expected is not None:
            given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")],
                )
                return [b'{"error":"metrics need Authorization: Bearer <ALERTWHISPERER_METRICS_TOKEN>"}']
        result: Iterable[bytes] = exposed(environ, start_response)
        return result

    class Server(ThreadingWSGIServer):
        # An IPv6 host (`::`) needs its own family; the class attribute is per server here.
        address_family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds would flood the log."""

    server = make_server(host, port, app, Server, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
