"""The raw pool skips its reset round trip only after a plain read, never after a state change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from db.engine import create_pool, plain_fetch


@pytest.fixture
async def pool_and_log(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A one-connection pool whose connection logs every query it runs (the pool's resets included)."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    seen: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: seen.append(q.query))
        seen.clear()
        yield pool, seen
    finally:
        await pool.close()


async def test_a_plain_read_goes_back_without_the_reset_but_state_changes_are_undone(
    pool_and_log: Any,
) -> None:
    pool, seen = pool_and_log
    async with pool.acquire() as conn:
        await conn.execute("SET application_name = 'changed'")
    # the pool undid the setting with its reset query
    assert any("RESET ALL" in q for q in seen)
    seen.clear()

    # a plain read: one round trip, its rows, and no reset after it
    assert [r[0] for r in await plain_fetch(pool, "SELECT $1::int", 7)] == [7]
    assert seen == ["SELECT $1::int"]

    # the next ordinary checkout is reset again, and starts from the pool's own settings
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") == "alertwhisperer-hot"
        await conn.execute("LISTEN somewhere")
    assert any("UNLISTEN" in q for q in seen)


async def test_a_plain_read_that_fails_still_gets_the_reset(pool_and_log: Any) -> None:
    pool, seen = pool_and_log
    with pytest.raises(asyncpg.DivisionByZeroError):
        await plain_fetch(pool, "SELECT 1/0")
    assert any("RESET ALL" in q for q in seen)
