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
from dataclasses import dataclass

import asyncpg

LEASE_SECONDS = 1.0

_TAKE = """
WITH b AS (
    SELECT company_id,
           LEAST($3::float8, tokens + $2::float8 * EXTRACT(EPOCH FROM clock_timestamp() - refreshed_at)) AS avail
    FROM rate_limit_buckets WHERE company_id = $1 FOR UPDATE
)
UPDATE rate_limit_buckets r
SET tokens = b.avail - GREATEST(0, LEAST(floor(b.avail), $4::float8)), refreshed_at = clock_timestamp()
FROM b WHERE r.company_id = b.company_id
RETURNING GREATEST(0, LEAST(floor(b.avail), $4::float8))::float8
"""
_ENSURE = """
INSERT INTO rate_limit_buckets (company_id, tokens, refreshed_at) VALUES ($1, $2, clock_timestamp())
ON CONFLICT (company_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0


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

    async def acquire(self, company_id: uuid.UUID, n: int, rate: float, burst: int) -> Decision:
        if n > burst:
            return Decision(False, retry_after=max(1, math.ceil(n / rate)))
        lease = self._leases.get(company_id)
        if lease is None:
            lease = self._leases.setdefault(company_id, _Lease())
        now = time.monotonic()
        if lease.tokens >= n and now < lease.expires:
            lease.tokens -= n
            return Decision(True)
        async with lease.lock:
            now = time.monotonic()
            if now >= lease.expires:
                lease.tokens = 0.0  # an expired lease is forfeited, never carried over
            if lease.tokens < n:
                want = n - lease.tokens + self.chunk(rate, burst)
                granted = await self._take(company_id, want, rate, burst, lease)
                lease.tokens += granted
                lease.expires = time.monotonic() + LEASE_SECONDS
            if lease.tokens >= n:
                lease.tokens -= n
                return Decision(True)
            missing = n - lease.tokens
            return Decision(False, retry_after=max(1, math.ceil(missing / rate)))

    async def _take(
        self, company_id: uuid.UUID, want: float, rate: float, burst: int, lease: _Lease
    ) -> float:
        async with self._pool.acquire() as conn:
            if not lease.ensured:
                await conn.execute(_ENSURE, company_id, float(burst))
                lease.ensured = True
            granted = await conn.fetchval(_TAKE, company_id, rate, float(burst), float(want))
        return float(granted or 0.0)

    def forget(self, company_id: uuid.UUID) -> None:
        """Drop local state after the company's limits changed."""
        self._leases.pop(company_id, None)
