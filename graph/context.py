"""Per-operation GraphQL context: the caller's principal, one read session, units of work."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.repositories.users import load_principal
from db.uow import UnitOfWork
from domain.rbac import Principal
from graph.tokens import TokenError

if TYPE_CHECKING:
    from graph.services import Services

log = logging.getLogger(__name__)


class Context:
    """Built for each GraphQL operation (and each websocket subscription)."""

    def __init__(
        self, services: Services, principal: Principal | None, request_id: str | None, request: Any = None
    ) -> None:
        self.services = services
        self.principal = principal
        self.request_id = request_id or uuid.uuid4().hex
        self.request = request
        self._session: AsyncSession | None = None
        self.loaders: dict[str, Any] = {}
        self._events_in_flight = 0

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.services.sessionmaker, self.principal, self.services.cipher, self.request_id)

    async def read(self) -> UnitOfWork:
        """A unit of work for reads, shared by every resolver of this operation (never committed)."""
        if self._session is None:
            uow = self.uow()
            await uow.__aenter__()
            self._read_uow = uow
            self._session = uow.session
        return self._read_uow

    def event_started(self) -> None:
        """A subscription on this (websocket) context is delivering an event."""
        self._events_in_flight += 1

    async def event_finished(self) -> None:
        """Release the shared read session once no subscription of this connection is mid-event,
        so a long-lived websocket never pins a database connection between events."""
        self._events_in_flight -= 1
        if self._events_in_flight == 0:
            await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.rollback()
            await self._session.close()
            self._session = None


async def principal_from_authorization(services: Services, header: str | None) -> Principal | None:
    """Principal for `Bearer <jwt>`; None for no header; TokenError for a bad one."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("invalid authorization header")
    user_id = services.tokens.verify(token.strip())
    async with services.sessionmaker() as session:
        principal = await load_principal(session, user_id)
    if principal is None:
        raise TokenError("invalid token")
    return principal
