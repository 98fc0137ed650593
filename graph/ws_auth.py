"""Websocket authentication: the close codes, and the watch that keeps an open connection honest.

A websocket is authenticated once, by `connection_init`; without a watch it would go on receiving
events after its token expired or its user was deactivated or lost a company. `AccessWatch`
re-checks the connection's credentials (the same check an HTTP request makes) when the token
expires, when the user's access changes (`user:{id}:access` events: deactivated, tokens revoked;
`system:companies` deletions), and every `ws_recheck_seconds` for what no event announces. A
connection that fails the check is closed:

- 4401, reason `UNAUTHENTICATED` or `TOKEN_EXPIRED`: no, an invalid, expired or revoked token, or a
  deactivated user (also at `connection_init`);
- 4403, reason `PERMISSION_DENIED`: the user may no longer see a company they could see before.

Both GraphQL websocket protocols close with these codes; the legacy `graphql-ws` protocol first sends
`connection_error` with the same code when `connection_init` is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from adapters import metrics
from db.events import COMPANIES_TOPIC, COMPANY_DELETED, BusEvent
from db.repositories.users import access_topic
from domain.rbac import Principal
from graph.context import Context, authenticate
from graph.tokens import AuthFailure, TokenError

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
LOST_ACCESS = "PERMISSION_DENIED"
_EXPIRY_MARGIN_SECONDS = 0.05  # a token is expired from its `exp` second on


class SocketRefused(Exception):
    """`connection_init` did not authenticate: close with `close_code`, reason `code`."""

    def __init__(self, error: TokenError) -> None:
        super().__init__(error.message)
        self.close_code = CLOSE_UNAUTHENTICATED
        self.code = error.code
        self.message = error.message


async def connect(context: Context, header: Any) -> None:
    """Authenticate a websocket's `connection_init` (its `authorization`), or raise SocketRefused."""
    try:
        found = await authenticate(context.services, header if isinstance(header, str) else None)
        if found is None:
            raise TokenError(AuthFailure.MISSING)
    except TokenError as exc:
        raise SocketRefused(exc) from exc
    context.principal = found.principal
    context.credentials = header
    context.expires_at = found.expires_at


def lost_access(before: Principal, now: Principal) -> bool:
    """Whether `now` may no longer see what `before` could (a company, or its role changed)."""
    if now.role is not before.role:
        return True
    return not now.all_companies and not before.company_ids <= now.company_ids


class AccessWatch:
    """Re-checks one websocket's credentials while it is open; `close(code, reason)` ends it."""

    def __init__(self, context: Context, close: Callable[[int, str], Awaitable[None]]) -> None:
        self.context = context
        self.close = close

    async def run(self) -> None:
        context = self.context
        principal = context.principal
        if principal is None:
            return
        services = context.services
        topics = {access_topic(principal.user_id), COMPANIES_TOPIC}
        try:
            async with services.bus.subscribe(topics) as sub:
                while True:
                    await self._wait(sub.queue, services.settings.ws_recheck_seconds)
                    verdict = await self.check()
                    if verdict is not None:
                        await self.close(*verdict)
                        return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("websocket access watch failed")

    async def _wait(self, queue: asyncio.Queue[BusEvent], interval: float) -> None:
        """Until the next check is due: the interval, the token's expiry, or an access event."""
        timeout = interval
        if self.context.expires_at is not None:
            until_expiry = (self.context.expires_at - datetime.now(UTC)).total_seconds()
            timeout = min(interval, until_expiry + _EXPIRY_MARGIN_SECONDS)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                while True:
                    event = await queue.get()
                    # Of the companies' events, only a deletion takes memberships away.
                    if event.topic != COMPANIES_TOPIC or event.kind == COMPANY_DELETED:
                        return

    async def check(self) -> tuple[int, str] | None:
        """None while the connection may stay open (its principal refreshed); else how to close it."""
        context = self.context
        try:
            found = await authenticate(context.services, context.credentials)
            if found is None:
                raise TokenError(AuthFailure.MISSING)
        except TokenError as exc:
            return CLOSE_UNAUTHENTICATED, exc.code
        except Exception:
            # The database is unreachable: no events flow either; check again at the next turn.
            log.warning("websocket access check failed; retrying", exc_info=True)
            return None
        before = context.principal
        if before is not None and lost_access(before, found.principal):
            return CLOSE_FORBIDDEN, LOST_ACCESS
        context.principal = found.principal
        context.expires_at = found.expires_at
        return None


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and task is not asyncio.current_task():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, with our close codes and the access watch."""

    watch_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        with metrics.WEBSOCKETS.track_inprogress():
            await super().handle()

    async def run_operation(self, operation: Any) -> None:
        with metrics.SUBSCRIPTIONS.track_inprogress():
            await super().run_operation(operation)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefused as exc:
            await self.websocket.close(code=exc.close_code, reason=exc.code)
            return
        if self.connection_acknowledged and self.watch_task is None:
            self.watch_task = asyncio.create_task(AccessWatch(self.context, self._close).run())

    async def _close(self, code: int, reason: str) -> None:
        # The operations stop first, so nothing is sent after the close frame.
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        await _cancel(self.watch_task)
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """Legacy graphql-ws, with our close codes and the access watch."""

    watch_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        with metrics.WEBSOCKETS.track_inprogress():
            await super().handle()

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        with metrics.SUBSCRIPTIONS.track_inprogress():
            await super().handle_async_results(operation_id, query, operation_name, variables)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefused as exc:
            await self.send_message(
                {"type": "connection_error", "payload": {"message": exc.message, "code": exc.code}}
            )
            await self.websocket.close(code=exc.close_code, reason=exc.code)
            return
        if self.connection_acknowledged and self.watch_task is None:
            self.watch_task = asyncio.create_task(AccessWatch(self.context, self._close).run())

    async def _close(self, code: int, reason: str) -> None:
        await _cancel(self.keep_alive_task)
        self.keep_alive_task = None
        await self.cleanup()
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

    async def cleanup(self) -> None:
        await _cancel(self.watch_task)
        await super().cleanup()
