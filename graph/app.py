"""`create_app(settings)`: the Starlette application and its lifespan (the composition root)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from db.health import correlation_health
from db.migrate import current_revision, head_revision, upgrade_to_head
from graph.graphql_view import GraphQLView
from graph.health import readiness
from graph.logs import request_id_for, request_id_var
from graph.metrics_route import metrics_endpoint
from graph.oncall.feed import calendar_feed
from graph.schema import build_schema
from graph.security import CORSMiddleware, cors_middleware_options, secure_send
from graph.services import Services, build_services, resolve_database_url
from graph.settings import Settings
from graph.webhooks.routes import PREFIX as WEBHOOK_PREFIX
from graph.webhooks.routes import WebhookEndpoint

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Takes a sane `X-Request-ID` or makes one; every log line of the request carries it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id_for(next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), None))
        token = request_id_var.set(rid)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def create_app(settings: Settings, *, database_url: str | None = None, migrate: bool = True) -> Starlette:
    """Build the app. The database, pools, event bus and workers start in the lifespan."""
    holder: dict[str, Services] = {}
    expected_head = head_revision()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if database_url:
            url = database_url
        else:
            url = await anyio.to_thread.run_sync(resolve_database_url, settings)
        if migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, url)
        async with build_services(settings, url) as services:
            holder["services"] = services
            app.state.services = services
            graphql.services = services
            from graph.runtime import quiet_garbage_collector, start_background

            async with start_background(services, app):
                quiet_garbage_collector()
                log.info("alertwhisperer ready")
                yield
        log.info("alertwhisperer stopped")

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        try:
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await current_revision(services.engine)
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        head = expected_head
        if current != head:
            return JSONResponse(
                {"status": "unavailable", "schema": current, "expected": head}, status_code=503
            )
        try:
            async with services.pool.acquire() as conn:
                health = await correlation_health(conn)
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return readiness(current, health, services.settings.ready_max_lag_seconds)

    graphql = GraphQLView(
        build_schema(),
        services=None,
        allowed_origins=settings.allowed_origins,
        keep_alive=True,
        keep_alive_interval=15,
        max_subscriptions_per_connection=50,
    )
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"], max_body_size=settings.graphql_max_body_bytes),
        Route("/api/schedules/{token}.ics", calendar_feed, methods=["GET"]),
    ]
    from starlette.routing import Mount, WebSocketRoute

    from graph import dashboard
    from graph.graphiql import ASSET_PREFIX, graphiql_assets

    routes.append(WebSocketRoute("/graphql", graphql))
    routes.append(Mount(ASSET_PREFIX, graphiql_assets(), name="graphiql"))
    routes.append(Route("/", dashboard.dashboard_page, methods=["GET"]))
    routes.append(Route("/incidents/{id}", dashboard.dashboard_page, methods=["GET"]))
    routes.append(Mount(dashboard.ASSET_PREFIX, dashboard.dashboard_assets(), name="dashboard"))
    app = AlertWhispererApp(routes=routes, lifespan=lifespan)
    app.webhooks = WebhookEndpoint(settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, **cors_middleware_options(settings.cors_origins))
    app.add_middleware(RequestIdMiddleware)
    return app


class AlertWhispererApp(Starlette):
    """Starlette, with the webhook hot path served in front of its routing and middleware layers.

    Webhooks are most of the traffic; `WebhookEndpoint` does its own request id, security headers,
    error masking and 405/404 answers, so it gains nothing from the generic layers and is spared their
    cost.
    """

    webhooks: WebhookEndpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(WEBHOOK_PREFIX):
            scope["app"] = self
            await self.webhooks(scope, receive, send)
            return
        # Here, not as a middleware: Starlette's error answers (500) come from outside the middleware.
        await super().__call__(scope, receive, secure_send(send) if scope["type"] == "http" else send)
