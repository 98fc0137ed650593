"""Publishing a `BusEvent` in an ORM session's transaction: what repositories and the unit of work use.

Apart from `db.events` because the worker process, which reads the bus, never imports SQLAlchemy.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.events import BusEvent

_NOTIFY = text("SELECT pg_notify('aw_events', :p)")


async def publish(session: AsyncSession, event: BusEvent) -> None:
    """Send `event` when the session's transaction commits (never, if it rolls back)."""
    await session.execute(_NOTIFY, {"p": event.to_json()})
