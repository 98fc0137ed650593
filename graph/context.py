"""Per-operation GraphQL context: the caller's principal, one read session, units of work."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.repositories.users import load_account
from db.uow import UnitOfWork
from domain.rbac import Principal
from graph.tokens import AuthFailure, TokenError

if TYPE_CHECKING:
    from graph.services import Services

log = logging.getLogger(__name__)


class Context:
    """Built for each GraphQL operation (and each websocket subscription)."""

    def __init__(
        self,
        services: Services,
        principal: Principal | None,
        request_id: str | None,
        request: Any = None,
        auth_error: TokenError | None = None,
    ) -> None:
        self.services = services
        self.principal = principal
        # Why a request that sent a token has no principal: fields that need one answer this error
        # (`login` needs none, so an old or broken header never stands in its way).
        self.auth_error = auth_error
        # A websocket's `Authorization` from `connection_init`, re-checked while it stays open.
        self.credentials: str | None = None
        self.expires_at: datetime | None = None
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


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A request's verified caller, and until when its token is good."""

    principal: Principal
    expires_at: datetime


async def authenticate(services: Services, header: str | None) -> Authenticated | None:
    """The caller of `Bearer <jwt>`; None for no header; TokenError (with its reason) for a token that
    is malformed, expired, revoked, or whose user is unknown or deactivated. One query: the user row
    with its memberships, which every authenticated request reads anyway."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError(AuthFailure.MALFORMED_HEADER)
    verified = services.tokens.verify(token.strip())
    async with services.sessionmaker() as session:
        account = await load_account(session, verified.user_id)
    if account is None:
        raise TokenError(AuthFailure.INVALID_TOKEN)
    if not account.active:
        raise TokenError(AuthFailure.USER_DEACTIVATED)
    if verified.generation != account.token_generation:
        raise TokenError(AuthFailure.TOKEN_REVOKED)
    return Authenticated(account.principal, verified.expires_at)


async def principal_from_authorization(services: Services, header: str | None) -> Principal | None:
    """Principal for `Bearer <jwt>`; None for no header; TokenError for a bad one (see `authenticate`)."""
    found = await authenticate(services, header)
    return found.principal if found is not None else None


def client_source(request: Any) -> str:
    """Where a request comes from, for sign-in throttling: the client's address (the proxy's
    `X-Forwarded-For` when uvicorn trusts it, see `--proxy-headers`), cut to the column's 64."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None) if client is not None else None
    return (host or "unknown")[:64]
