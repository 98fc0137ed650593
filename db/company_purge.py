"""The purge of deleted companies (`companyDelete`): their rows go in batches, then the company.

Each step is one short transaction: it claims one deleted company (`FOR NO KEY UPDATE SKIP LOCKED`,
so any number of processes share the work and none waits on another), deletes up to `batch` of its
rows from the first of its big tables that still holds some, and commits; once none does, it deletes
the rest of its rows (all tables) and the company row itself. Nothing but the data says how far a purge got, so a purge cut off
anywhere goes on where it stopped. The audit log is kept: its rows carry the company id without a
foreign key, and the entry saying who deleted the company is among them.

The worker process holds no SQLAlchemy, so the tables are named here; a test holds the list to every
table of `db.tables` with a `company_id` column (a new tenant table cannot be forgotten).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

BATCH = 5_000
#: Tenant tables whose rows are kept when their company is deleted.
KEPT = frozenset({"audit_log"})
#: Every other table with a `company_id`.
PURGED = (
    "demo_runs",
    "reaction_inbox",
    "kpi_dirty_hours",
    "kpi_hourly",
    "kpi_daily_buckets",
    "patch_states",
    "patch_refreshes",
    "sla_events",
    "incident_sla",
    "incident_changes",
    "incident_events",
    "alerts",
    "incidents",
    "webhook_deliveries",
    "webhook_delivery_log",
    "correlation_quarantine",
    "rate_limit_buckets",
    "maintenance_windows",
    "signature_aliases",
    "asset_dependencies",
    "assets",
    "company_aws_settings",
    "notifications",
    "incident_analyses",
    "incident_llm_analyses",
    "llm_usage",
    "llm_cache",
    "incident_decisions",
    "remediation_approvals",  # before the runbook versions they name
    "remediation_invocations",
    "remediation_executions",  # before the runbook versions they name
    "runbook_versions",
    "runbooks",
    "oncall_overrides",
    "oncall_rotations",
    "oncall_shifts",
    "oncall_schedules",
    "memberships",
)


def _batch(table: str, source: str) -> str:
    return f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT x.ctid FROM {source} LIMIT $2))"


# The batches, in order, each through an index: the outbox and the timeline have no index on their
# company (they are written on the hot path), so they go through their incidents, and before them;
# the outbox's inbox rows, dependency edges and memberships go with their parents (foreign keys).
BATCHES = (
    _batch(
        "incident_changes",
        "incidents i JOIN incident_changes x ON x.incident_id = i.id WHERE i.company_id = $1 AND x.company_id = $1",
    ),
    _batch(
        "incident_events",
        "incidents i JOIN incident_events x ON x.incident_id = i.id WHERE i.company_id = $1 AND x.company_id = $1",
    ),
    *(
        _batch(table, f"{table} x WHERE x.company_id = $1")
        for table in (
            "sla_events",
            "incident_sla",
            "alerts",
            "incidents",
            "webhook_deliveries",
            "webhook_delivery_log",
            "maintenance_windows",
            "assets",
            "memberships",
        )
    ),
)

_CLAIM = (
    "SELECT id FROM companies WHERE deleted_at IS NOT NULL "
    "ORDER BY deleted_at, id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED"
)


async def purge_step(pool: Any, batch: int = BATCH) -> bool:
    """One batch of one deleted company's purge; False when no deleted company is left to claim."""
    async with pool.acquire() as conn, conn.transaction():
        company_id: uuid.UUID | None = await conn.fetchval(_CLAIM)
        if company_id is None:
            return False
        for statement in BATCHES:
            if int((await conn.execute(statement, company_id, batch)).split()[-1]):
                return True
        # What is left is small (rows no batch reached: a timeline row without its incident, the
        # company's few rows in small tables): once, every table, then the company.
        for table in PURGED:
            await conn.execute(f"DELETE FROM {table} WHERE company_id = $1", company_id)
        # MSP-wide schedules (no company) stay; they just no longer cover it.
        await conn.execute(
            "UPDATE oncall_schedules SET covers = array_remove(covers, $1) WHERE company_id IS NULL"
            " AND covers @> ARRAY[$1::uuid]",
            company_id,
        )
        await conn.execute("DELETE FROM companies WHERE id = $1", company_id)
    log.info("company purged", extra={"company_id": str(company_id)})
    return True


async def purge(pool: Any, budget_seconds: float = 5.0, batch: int = BATCH) -> int:
    """Purge steps until nothing is left or `budget_seconds` passed; the number of steps taken."""
    steps = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline and await purge_step(pool, batch):
        steps += 1
    return steps
