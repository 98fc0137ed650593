"""A scratch database beside a DATABASE_URL, for the per-alert cost benchmarks (dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from db.engine import asyncpg_dsn


@asynccontextmanager
async def scratch_database(database_url: str, prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on the server of `database_url`."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base, _, _ = database_url.rpartition("/")
            yield f"{base}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
