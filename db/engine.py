"""Engines and pools: SQLAlchemy for the API, raw asyncpg (`db.pool`) for the ingest and correlation
hot paths."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db.pool import HOT_SETTINGS, HotConnection, asyncpg_dsn, create_pool, plain_fetch, sqlalchemy_url

__all__ = [
    "HOT_SETTINGS",
    "HotConnection",
    "SerializedSession",
    "asyncpg_dsn",
    "create_engine",
    "create_pool",
    "create_sessionmaker",
    "plain_fetch",
    "sqlalchemy_url",
]


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "alertwhisperer"}},
    )


class SerializedSession(AsyncSession):
    """An AsyncSession safe to share between sibling GraphQL resolvers, which run concurrently.

    One session is one connection; this lock makes concurrent awaits take turns instead of failing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = asyncio.Lock()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turn:
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turn:
            return await super().scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turn:
            return await super().get(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._turn:
            await super().flush(*args, **kwargs)

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        async with self._turn:
            await super().refresh(*args, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, class_=SerializedSession)
