"""Raw asyncpg pools for the ingest, subscription and correlation hot paths (no SQLAlchemy: the
worker process imports only this)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    # A connection as the code holds it: its own, or one lent by a pool (which proxies it).
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    Pooled: TypeAlias = PoolConnectionProxy[asyncpg.Record]


def sqlalchemy_url(url: str) -> str:
    """Any `postgres://`, `postgresql://` or `postgresql+driver://` URL as an asyncpg SQLAlchemy URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


def asyncpg_dsn(url: str) -> str:
    """The same URL as a plain libpq DSN for asyncpg."""
    parts = urlsplit(sqlalchemy_url(url))
    return urlunsplit(("postgresql", *parts[1:]))


class HotConnection(asyncpg.Connection):
    """A pooled connection that can skip the pool's reset round trip after a plain read.

    The pool resets every connection it gets back with one more round trip (`RESET ALL`, `UNLISTEN *`,
    unlock advisory locks, close cursors), awaited before `pool.fetch` returns its rows: for the
    subscriptions' reads, one round trip in two, on the path of every live event. `plain_fetch` marks
    the checkout that ran only its one read; any other use of the connection keeps the full reset
    (asyncpg still rolls back an open transaction either way).
    """

    _plain = False

    def mark_plain(self) -> None:
        self._plain = True

    def get_reset_query(self) -> str:
        if self._plain:
            self._plain = False
            return ""
        return super().get_reset_query()


async def plain_fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    """`pool.fetch` for a read that changes no session state: the connection goes back unreset."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(query, *args)
        conn.mark_plain()  # type: ignore[attr-defined]  # HotConnection's, behind the pool's proxy
        return rows


# What the hot pool runs looks rows up by key (ingest's earlier deliveries, the subscriptions' rows by
# id, rate-limit buckets, API keys) or walks an index (the sweeper). Those statements' plans are cached
# per connection, and one made while a table was young read the whole table on every call until the
# next ANALYZE (measured: each repeated delivery's lookup scanned every stored delivery). So the
# pool's connections start with sequential scans off (a setting `RESET ALL` keeps). That makes every
# plan that must scan a small table (the outbox trigger's join with `reactions`) cost over 10^10, far
# above `jit_above_cost`: on a server built with JIT each such statement was compiled first, ~100-250 ms
# of CPU for a one-row insert (bench/README.md, 2026-12-07). No statement here gains from JIT: it is off.
HOT_SETTINGS = {"application_name": "alertwhisperer-hot", "enable_seqscan": "off", "jit": "off"}


async def create_pool(url: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A raw asyncpg pool (JSONB as text in and out; callers encode with orjson)."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        server_settings=HOT_SETTINGS,
        connection_class=HotConnection,
    )
