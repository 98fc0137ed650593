"""Whether a remediation held: the KPIs count self-healing only when the incident a runbook resolved
stayed resolved for the company's correlation window.

- `RemediationHeld`, a reaction to incident changes: a reopen (RESOLVED → any open status) of an
  incident whose last resolve was the remediation's, within the window after its execution succeeded,
  marks that execution `held = false` with REMEDIATION_NOT_HELD on the timeline.
- `settle_held`, a sweep: a succeeded execution whose window passed without such a reopen is
  `held = true`.
Both write only where `held IS NULL`, so each execution is settled once, by whichever comes first;
the sweep skips an execution whose incident reopened in time (its reaction may not have run yet).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from db.events import BusEvent
from db.executor import remediation_topic
from db.incident_writer import add_timeline
from domain.incidents import REMEDIATION_ACTOR, IncidentEventKind

if TYPE_CHECKING:
    import asyncpg

    from db.pool import Conn
    from db.reactions import IncidentChange

log = logging.getLogger(__name__)

LAST_RESOLVE = """
SELECT actor FROM incident_changes
WHERE incident_id = $1 AND version < $2 AND after_status = 'RESOLVED'
ORDER BY version DESC LIMIT 1
"""
LAST_EXECUTION = """
SELECT e.id, e.company_id, e.status, e.held, e.finished_at, e.runbook_id, e.runbook_version,
       make_interval(mins => c.correlation_window_minutes) AS window
FROM remediation_executions e JOIN companies c ON c.id = e.company_id
WHERE e.incident_id = $1 AND e.finished_at IS NOT NULL
ORDER BY e.finished_at DESC LIMIT 1
FOR UPDATE OF e
"""
NOT_HELD = "UPDATE remediation_executions SET held = false, updated_at = $2 WHERE id = $1 AND held IS NULL"
SETTLE = """
UPDATE remediation_executions e SET held = true, updated_at = $1
FROM companies c
WHERE c.id = e.company_id AND e.status = 'SUCCEEDED' AND e.held IS NULL AND e.incident_id IS NOT NULL
  AND e.finished_at < $1::timestamptz - make_interval(mins => c.correlation_window_minutes)
  AND NOT EXISTS (
      SELECT 1 FROM incident_changes ch
      WHERE ch.incident_id = e.incident_id AND ch.before_status = 'RESOLVED'
        AND ch.after_status <> 'RESOLVED' AND ch.at >= e.finished_at
        AND ch.at <= e.finished_at + make_interval(mins => c.correlation_window_minutes))
RETURNING e.id, e.company_id
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"


class RemediationHeld:
    """The reaction that marks a remediation whose incident reopened within the window as not held."""

    name = "remediation-held"
    # Only changes out of RESOLVED (a reopen) reach its inbox (`ReactionRunner.register`).
    before_statuses = ("RESOLVED",)

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        if change.before_status != "RESOLVED" or change.after_status == "RESOLVED":
            return
        if await conn.fetchval(LAST_RESOLVE, change.incident_id, change.version) != REMEDIATION_ACTOR:
            return  # a person or auto-resolve closed it last: no remediation to judge
        row = await conn.fetchrow(LAST_EXECUTION, change.incident_id)
        if row is None or row["status"] != "SUCCEEDED" or row["held"] is not None:
            return
        if change.at - row["finished_at"] > row["window"]:
            return  # reopened after the window: the remediation held (the sweep says so)
        await conn.execute(NOT_HELD, row["id"], change.at)
        await add_timeline(
            conn,
            row["company_id"],
            change.incident_id,
            IncidentEventKind.REMEDIATION_NOT_HELD,
            change.at,
            {
                "execution": str(row["id"]),
                "runbook": str(row["runbook_id"]),
                "runbook_version": row["runbook_version"],
                "actor": REMEDIATION_ACTOR,
                "reopened_by": change.actor,
            },
        )
        await _announce(conn, row["company_id"], row["id"])


async def settle_held(pool: asyncpg.Pool, now: datetime) -> int:
    """Mark the succeeded executions whose window passed without a reopen as held; how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(SETTLE, now)
        for r in rows:
            await _announce(conn, r["company_id"], r["id"])
    if rows:
        log.info("remediations held", extra={"executions": len(rows)})
    return len(rows)


async def _announce(conn: Conn, company_id: uuid.UUID, execution_id: uuid.UUID) -> None:
    event = BusEvent(remediation_topic(company_id), kind="HELD", id=str(execution_id))
    await conn.execute(NOTIFY, event.to_json())
