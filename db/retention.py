"""Alert retention: each company's alerts older than its `alert_retention_days` are deleted in batches.

What is kept past the retention, and why:
- alerts of an incident that is not RESOLVED: the open incident shows them, and a resolve message
  finds the incident through its firing alerts;
- alerts not yet correlated (a backlog, a quarantined company): the worker has still to read them.
An incident keeps its counts, timeline and decisions; a timeline entry naming a deleted alert keeps
its id (`node(id:)` answers null). Nothing references alerts by foreign key (hot append table).

One pass at a time across all processes (a session advisory lock on the connection that deletes);
each batch is its own short transaction of at most `batch` rows, locked with SKIP LOCKED (a row the
correlation worker holds is left for the next pass), followed by a short pause, so ingestion's inserts
and the correlation worker never wait on the purge. Within a company the batches walk the
(company_id, received_at, id) index from a cursor, so alerts kept (open incidents) are read once per
pass, not once per batch.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from db.pool import Conn

RETENTION_LOCK = 7461036
MIN_DAYS = 1
MAX_DAYS = 3650
DEFAULT_DAYS = 90
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
NO_COMPANY = uuid.UUID(int=0)

# The companies from the cursor's on (the cursor's own unless it was finished).
COMPANIES = """
SELECT id, alert_retention_days FROM companies
WHERE deleted_at IS NULL AND (id > $1 OR (id = $1 AND NOT $2)) ORDER BY id
"""
PURGE = """
WITH doomed AS (
    SELECT a.id FROM alerts a
    WHERE a.company_id = $1 AND a.received_at < $2 AND (a.received_at, a.id) > ($3::timestamptz, $4::uuid)
      AND a.correlated_at IS NOT NULL
      AND (a.incident_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM incidents i WHERE i.id = a.incident_id AND i.status <> 'RESOLVED'))
    ORDER BY a.received_at, a.id
    LIMIT $5
    FOR UPDATE OF a SKIP LOCKED
), gone AS (
    DELETE FROM alerts a USING doomed d WHERE a.id = d.id RETURNING a.received_at, a.id
)
SELECT count(*) AS n, max(received_at) AS last_at,
       (array_agg(id ORDER BY received_at DESC, id DESC))[1] AS last_id
FROM gone
"""


@dataclass(frozen=True, slots=True)
class PurgeCursor:
    """Where an interrupted pass goes on: a company (by id order), the last alert deleted in it, and
    whether that company was finished."""

    company: uuid.UUID = NO_COMPANY
    after_at: datetime = BEGINNING
    after_id: uuid.UUID = NO_COMPANY
    finished: bool = False


class AlertRetention:
    def __init__(self, batch: int = 1000, pause_seconds: float = 0.05) -> None:
        self.batch = batch
        self.pause = pause_seconds
        self.cursor = PurgeCursor()

    async def run(self, conn: Conn, now: datetime, budget_seconds: float = 10.0) -> tuple[int, bool]:
        """Delete old alerts for about `budget_seconds` at most: (alerts deleted, whether the pass was
        cut short and goes on from its cursor at the next call). The caller holds RETENTION_LOCK."""
        deadline = time.monotonic() + budget_seconds
        deleted = 0
        for company in await conn.fetch(COMPANIES, self.cursor.company, self.cursor.finished):
            company_id: uuid.UUID = company["id"]
            if company_id != self.cursor.company:
                self.cursor = PurgeCursor(company_id)
            cutoff = now - timedelta(days=company["alert_retention_days"])
            while True:
                c = self.cursor
                row = await conn.fetchrow(PURGE, company_id, cutoff, c.after_at, c.after_id, self.batch)
                count = int(row["n"]) if row is not None else 0
                deleted += count
                if row is not None and count:
                    self.cursor = PurgeCursor(company_id, row["last_at"], row["last_id"])
                if count < self.batch:
                    break
                if time.monotonic() >= deadline:
                    return deleted, True
                if self.pause:
                    await asyncio.sleep(self.pause)
            self.cursor = PurgeCursor(company_id, finished=True)
            if time.monotonic() >= deadline:
                return deleted, True
        self.cursor = PurgeCursor()
        return deleted, False
