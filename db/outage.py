"""Telling a database outage from a bug: what the edges answer as "unavailable, retry" (503,
SERVICE_UNAVAILABLE) instead of an internal error.

An outage is the database unreachable (refused, reset, timed out), a connection or pool that is gone,
the server shutting down or out of connections; through SQLAlchemy the same errors arrive wrapped.
"""

from __future__ import annotations

import sys
from typing import Any

import asyncpg

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    asyncpg.InterfaceError,  # the pool is closed, the connection is gone
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) says the database cannot be used right now."""
    # The worker process never imports SQLAlchemy; where it is not loaded, no error is one of its own.
    sa_exc: Any = sys.modules.get("sqlalchemy.exc")
    outages = _OUTAGES if sa_exc is None else (*_OUTAGES, sa_exc.TimeoutError, sa_exc.InterfaceError)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, outages):
            return True
        wrapped = None
        if sa_exc is not None and isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            wrapped = current.orig
        current = (
            wrapped if isinstance(wrapped, BaseException) else (current.__cause__ or current.__context__)
        )
    return False
