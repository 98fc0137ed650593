"""Per-company token bucket shared by every server process.

The bucket lives in `rate_limit_buckets`; each process leases tokens from it in small chunks and
spends them locally, so the hot path touches the database once per chunk rather than per alert and
the sum over all processes never exceeds rate × time + burst.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import asyncpg

from db.outage import database_unavailable
from domain.ingest import ServiceUnavailable
from domain.ports import RateDecision

LEASE_SECONDS = 1.0

# Takes `$4` tokens (capped by what is there) only when at least `$5` are there: a request that
# cannot be served takes nothing, so a refused batch never drains the bucket it is waiting for
# (its tokens would be forfeited with the lease, and its honest retry refused again). Returns the
# tokens granted and the tokens that were available.
_TAKE = """
WITH b AS (
    SELECT company_id,
           LEAST($3::float8, tokens + $2::float8 * EXTRACT(EPOCH FROM clock_timestamp() - refreshed_at)) AS avail
    FROM rate_limit_buckets WHERE company_id = $1 FOR UPDATE
), g AS (
    SELECT company_id, avail,
           CASE WHEN floor(avail) >= $5::float8 THEN LEAST(floor(avail), $4::float8) ELSE 0 END AS granted
    FROM b
)
UPDATE rate_limit_buckets r
SET tokens = g.avail - g.granted, refreshed_at = clock_timestamp()
FROM g WHERE r.company_id = g.company_id
RETURNING g.granted::float8, g.avail::float8
"""
_ENSURE = """
INSERT INTO rate_limit_buckets (company_id, tokens, refreshed_at) VALUES ($1, $2, clock_timestamp())
ON CONFLICT (company_id) DO NOTHING
"""


class _Lease:
    __slots__ = ("tokens", "expires", "lock", "ensured")

    def __init__(self) -> None:
        self.tokens = 0.0
        self.expires = 0.0
        self.lock = asyncio.Lock()
        self.ensured = False


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._leases: dict[uuid.UUID, _Lease] = {}

    @staticmethod
    def chunk(rate: float, burst: int) -> int:
        """How many tokens to lease at once: a tenth of a second of rate, at most a tenth of the burst."""
        return max(1, min(int(burst // 10), math.ceil(rate * 0.1)))

    async def acquire(self, company_id: uuid.UUID, n: int, rate: float, burst: int) -> RateDecision:
        """Charge `n` tokens (one per alert) or none: a refusal says when `n` will be there."""
        if n > burst:
            return RateDecision(False, too_large=True)
        lease = self._leases.get(company_id)
        if lease is None:
            lease = self._leases.setdefault(company_id, _Lease())
        now = time.monotonic()
        if lease.tokens >= n and now < lease.expires:
            lease.tokens -= n
            return RateDecision(True)
        async with lease.lock:
            now = time.monotonic()
            if now >= lease.expires:
                lease.tokens = 0.0  # an expired lease is forfeited, never carried over
            if lease.tokens >= n:
                lease.tokens -= n
                return RateDecision(True)
            need = n - lease.tokens
            try:
                granted, available = await self._take(
                    company_id, need + self.chunk(rate, burst), need, rate, burst, lease
                )
            except Exception as exc:
                if database_unavailable(exc):
                    raise ServiceUnavailable() from exc
                raise
            if granted:
                lease.tokens += granted
                lease.expires = time.monotonic() + LEASE_SECONDS
                lease.tokens -= n
                return RateDecision(True)
            # The local lease may be forfeited by then: the retry time counts on the bucket alone.
            return RateDecision(False, retry_after=max(1, math.ceil((n - available) / rate)))

    async def _take(
        self, company_id: uuid.UUID, want: float, need: float, rate: float, burst: int, lease: _Lease
    ) -> tuple[float, float]:
        """(granted, available): `want` tokens (or what is there) when `need` are there, else none."""
        async with self._pool.acquire() as conn:
            if not lease.ensured:
                await conn.execute(_ENSURE, company_id, float(burst))
                lease.ensured = True
            row = await conn.fetchrow(_TAKE, company_id, rate, float(burst), float(want), float(need))
        if row is None:
            return 0.0, 0.0
        return float(row[0]), float(row[1])

    def forget(self, company_id: uuid.UUID) -> None:
        """Drop local state after the company's limits changed."""
        self._leases.pop(company_id, None)
