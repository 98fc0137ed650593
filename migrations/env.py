"""Alembic environment: runs migrations over the async engine, against `config.attributes['url']`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from db.engine import sqlalchemy_url
from db.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        from db.embedded import embedded_database_url

        url = embedded_database_url(
            Path(os.environ.get("ALERTWHISPERER_HOME", "./.alertwhisperer")).resolve()
        )
    return sqlalchemy_url(url)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # Serialise concurrent `serve` start-ups: only one process migrates at a time.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7461001)")
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_main())
