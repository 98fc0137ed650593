"""Periodic upkeep, one process at a time (the sweeper loop's advisory lock): auto-resolve quiet
incidents, expire old idempotency records and prune the
outbox. Auto-resolve is a correlation rule (`domain.correlation.auto_resolve`) written by the same
set-based writer as the worker's batches (`write_incident_changes`), outbox row included.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from db.pool import Conn

from db.correlation import (
    INCIDENT_FIELDS,
    settings_from_row,
    state_from_row,
    write_incident_changes,
)
from domain.correlation import auto_resolve, due_for_auto_resolve
from domain.incidents import AUTO_RESOLVE_ACTOR

# Closing an incident closes its open alerts: auto-resolve and a person's resolve both go through
# `close_open_alerts`, so they close the same alerts.
RESOLVE_ALL_ALERTS = """
UPDATE alerts SET resolved_at = $2
WHERE incident_id = ANY($1::uuid[]) AND status = 'firing' AND resolved_at IS NULL AND correlated_at IS NOT NULL
"""


async def close_open_alerts(conn: Conn, incident_ids: list[uuid.UUID], at: datetime) -> int:
    """Mark the incidents' still-open firing alerts resolved at `at`; how many."""
    status = await conn.execute(RESOLVE_ALL_ALERTS, incident_ids, at)
    return int(status.split()[-1])


AUTO_RESOLVE_CANDIDATES = f"""
SELECT {", ".join("i." + f for f in INCIDENT_FIELDS)}, c.correlation_window_minutes, c.flap_threshold, c.flap_window_minutes,
       c.auto_resolve_minutes, c.auto_resolve_tools
FROM incidents i JOIN companies c ON c.id = i.company_id
WHERE i.status <> 'RESOLVED' AND c.auto_resolve_minutes IS NOT NULL
  AND i.last_alert_at < $1::timestamptz - make_interval(mins => c.auto_resolve_minutes)
  -- the rest of `due_for_auto_resolve` (flapping, or every tool one that never sends resolves), here
  -- so the limit counts only eligible incidents: filtered afterwards, 500 ineligible quiet incidents
  -- took every slot and the eligible ones never closed
  AND (i.flapping OR NOT EXISTS (
      SELECT FROM unnest(i.tool_sources) s(tool)
      WHERE lower(s.tool) <> ALL (SELECT lower(t) FROM unnest(c.auto_resolve_tools) t)
  ))
ORDER BY i.last_alert_at LIMIT $2
FOR UPDATE OF i SKIP LOCKED
"""


class IncidentSweeper:
    """Periodic upkeep: auto-resolve quiet incidents, expire old deliveries."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def auto_resolve(self, now: datetime | None = None, limit: int = 500) -> int:
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(AUTO_RESOLVE_CANDIDATES, now, limit)
            changes = []
            before = {}
            for row in rows:
                state = state_from_row(row)
                before[row["id"]] = (row["status"], row["severity"])
                if due_for_auto_resolve(state, settings_from_row(row), now):
                    changes.append((row["company_id"], auto_resolve(state, now)))
            if changes:
                await write_incident_changes(conn, changes, now, before, AUTO_RESOLVE_ACTOR)
                await close_open_alerts(conn, [ch.state.id for _, ch in changes], now)
            return len(changes)

    async def prune_changes(self, older_than: timedelta = timedelta(days=30), limit: int = 5000) -> int:
        """Drop outbox rows older than `older_than` that no reaction still waits for (dead letters
        included: they stay until retried or their reaction is dropped)."""
        result = await self.pool.execute(
            "DELETE FROM incident_changes WHERE id IN (SELECT c.id FROM incident_changes c"
            " WHERE c.at < now() - $1::interval"
            " AND NOT EXISTS (SELECT FROM reaction_inbox x WHERE x.change_id = c.id) ORDER BY c.id LIMIT $2)",
            older_than,
            limit,
        )
        return int(result.split()[-1])

    async def expire_deliveries(self, older_than: timedelta = timedelta(hours=24)) -> int:
        result = await self.pool.execute(
            "DELETE FROM webhook_deliveries WHERE received_at < now() - $1::interval", older_than
        )
        return int(result.split()[-1])
