"""The `/graphql` endpoint: HTTP queries and mutations, websocket subscriptions, GraphiQL."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from graph.context import Context, principal_from_authorization
from graph.graphiql import graphiql_html
from graph.logs import request_id_var
from graph.tokens import TokenError

log = logging.getLogger(__name__)


class GraphQLView(GraphQL):
    def __init__(self, schema: Any, services: Any, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.services = services

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    def encode_json(self, data: object) -> str:
        """orjson instead of the standard library's encoder: every websocket event and HTTP answer goes
        through here. Text, not bytes, so websocket frames stay text frames."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)  # type: ignore[return-value]

    async def get_context(self, request: Request | WebSocket, response: Response | None = None) -> Context:
        if isinstance(request, WebSocket):
            ctx = Context(self.services, None, request_id_var.get(), request)
            ctx.connection_params = {}  # type: ignore[attr-defined]
            return ctx
        try:
            principal = await principal_from_authorization(
                self.services, request.headers.get("authorization")
            )
        except TokenError as exc:
            raise HTTPException(401, f"Unauthenticated: {exc}") from exc
        return Context(self.services, principal, request_id_var.get(), request)

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate a websocket from `connection_init`'s `{"authorization": "Bearer <jwt>"}`."""
        params = getattr(context, "connection_params", None) or {}
        header = params.get("authorization") or params.get("Authorization")
        if not isinstance(header, str):
            raise ConnectionRejectionError({"message": "authorization required"})
        try:
            principal = await principal_from_authorization(self.services, header)
        except TokenError as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        if principal is None:
            raise ConnectionRejectionError({"message": "authorization required"})
        context.principal = principal
        return None

    async def execute_operation(self, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return await super().execute_operation(**kwargs)
        finally:
            await kwargs["context"].close()
