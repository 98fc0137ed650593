"""Telling a database outage from a bug: what the edges answer as "unavailable, retry" (503,
SERVICE_UNAVAILABLE) instead of an internal error.

An outage is the database unreachable (refused, reset, timed out), a connection or pool that is gone,
the server shutting down or out of connections; through SQLAlchemy the same errors arrive wrapped.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    asyncpg.InterfaceError,  # the pool is closed, the connection is gone
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    sa_exc.TimeoutError,  # no pooled connection came free in time
    sa_exc.InterfaceError,
)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) says the database cannot be used right now."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        nxt = current.orig if isinstance(current, sa_exc.DBAPIError) else None
        current = nxt if isinstance(nxt, BaseException) else (current.__cause__ or current.__context__)
    return False
