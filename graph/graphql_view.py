"""The `/graphql` endpoint: HTTP queries and mutations, websocket subscriptions, GraphiQL."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from db.outage import database_unavailable
from graph import ws_auth
from graph.context import Context, principal_from_authorization
from graph.graphiql import graphiql_csp, graphiql_html
from graph.logs import request_id_var
from graph.tokens import TokenError

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "temporarily unable to reach the database; retry"


class _DatabaseUnavailable(Exception):
    """The caller could not be read because the database is down: the request never ran."""


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = ws_auth.TransportWSHandler
    graphql_ws_handler_class = ws_auth.LegacyWSHandler

    def __init__(self, schema: Any, services: Any, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _DatabaseUnavailable:
            # As the webhook answers an outage: 503 with Retry-After, in the GraphQL error shape with
            # the code the mutations use, so a client retries instead of reporting a bug.
            body = {
                "data": None,
                "errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}],
            }
            await JSONResponse(body, status_code=503, headers={"Retry-After": "1"})(scope, receive, send)

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphql_ide_html, headers={"content-security-policy": graphiql_csp()})

    def encode_json(self, data: object) -> str:
        """orjson instead of the standard library's encoder: every websocket event and HTTP answer goes
        through here. Text, not bytes, so websocket frames stay text frames."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)  # type: ignore[return-value]

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        if isinstance(request, WebSocket):
            ctx = Context(self.services, None, request_id_var.get(), request)
            ctx.connection_params = {}  # type: ignore[attr-defined]
            return ctx
        # A bad token is not refused here: the request runs without a principal and every field that
        # needs one answers the token's error (`login` needs none, so an old header never blocks it).
        try:
            principal = await principal_from_authorization(
                self.services, request.headers.get("authorization")
            )
        except TokenError as exc:
            return Context(self.services, None, request_id_var.get(), request, auth_error=exc)
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("database unavailable while reading the caller", exc_info=True)
                raise _DatabaseUnavailable from exc
            raise
        return Context(self.services, principal, request_id_var.get(), request)

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate a websocket from `connection_init`'s `{"authorization": "Bearer <jwt>"}`
        (refused with close code 4401, see graph/ws_auth.py)."""
        params = getattr(context, "connection_params", None) or {}
        await ws_auth.connect(context, params.get("authorization") or params.get("Authorization"))
        return None

    async def execute_operation(self, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return await super().execute_operation(**kwargs)
        finally:
            await kwargs["context"].close()
