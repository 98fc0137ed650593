"""The recent webhook deliveries of each company and integration (`webhook_delivery_log`).

A webhook's answer never waits for its record: `record` queues it and returns, and the records
queued while one write is in flight go together in the next (one INSERT of arrays), so thousands
of requests a second cost a few statements, not one round trip each, and a refused request is
recorded although nothing of it is stored. A record that cannot be written (the database is away)
is dropped with a warning: the log is for diagnosis, never a reason to fail or slow ingestion. A
process that dies loses what it had queued (at most one write's worth).

The sweeper keeps the newest `KEEP_PER_INTEGRATION` rows of each company and integration, and none
older than `KEEP_DAYS`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

KEEP_PER_INTEGRATION = 100
KEEP_DAYS = 7
MAX_BATCH = 5_000

_INSERT = """
INSERT INTO webhook_delivery_log
    (company_id, integration, outcome, status, reason, detail, alert_count, request_id, at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                     $7::int[], $8::text[], $9::timestamptz[])
"""

# Rows beyond the newest KEEP_PER_INTEGRATION of their company and integration, or too old.
_PRUNE = """
DELETE FROM webhook_delivery_log d
 USING (SELECT id FROM (SELECT id, at, row_number() OVER (
            PARTITION BY company_id, integration ORDER BY at DESC, id DESC) AS n
          FROM webhook_delivery_log) ranked
        WHERE n > $1 OR at < now() - make_interval(days => $2)) old
 WHERE d.id = old.id
"""


class DeliveryRecord(NamedTuple):
    company_id: uuid.UUID
    integration: str
    outcome: str  # accepted | ignored | replayed | refused
    status: int
    reason: str
    detail: str | None
    alert_count: int
    request_id: str | None
    at: datetime


class DeliveryRecorder:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._pending: list[DeliveryRecord] = []
        self._task: asyncio.Task[None] | None = None

    def record(self, record: DeliveryRecord) -> None:
        """Queue `record`; it is written soon, without the caller waiting."""
        if len(self._pending) >= MAX_BATCH * 4:
            return  # the database is far behind: keep memory bounded, the log is best effort
        self._pending.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._pending:
            await self._drain()

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self._pool.execute(_INSERT, *(list(column) for column in zip(*batch, strict=True)))
            except Exception:
                log.warning(
                    "webhook delivery records not written", exc_info=True, extra={"dropped": len(batch)}
                )


async def prune(pool: Any, keep: int = KEEP_PER_INTEGRATION, days: int = KEEP_DAYS) -> int:
    result = await pool.execute(_PRUNE, keep, days)
    return int(result.split()[-1])
