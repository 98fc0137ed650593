"""Approval requests for runbook runs (issue 15 §3): the scoped reads, approve, reject, and expiry.

Approve and reject lock the request (`FOR UPDATE`) in the caller's transaction, so of two racing
approvals the second sees the first's outcome and is refused; approving enqueues the one execution
of the request (`remediation_executions.approval_id` is unique), so no command is ever sent twice
for one approval. Expiry claims due PENDING requests with `FOR UPDATE SKIP LOCKED`, so any number of
worker processes share it and none waits on an approver's lock.

A request whose incident resolves before anyone decided is WITHDRAWN: by the `approval-withdrawal`
reaction to the resolve (`ApprovalWithdrawal`, a set-based batch), or by the expiry step if it comes
first; approve and reject refuse it meanwhile (`INCIDENT_RESOLVED`), holding the incident's row lock,
so a resolve racing an approval is either seen by it or waits for it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import orjson

from db.decisions import execution_request, runbook_version
from db.events import BusEvent, notify_many, topic
from db.executions import enqueue_execution
from db.incident_writer import add_timeline, apply_action
from domain.decisions import require_approver
from domain.errors import Conflict, InvalidInput, NotFound
from domain.incidents import (
    DECISION_ACTOR,
    WITHDRAWAL_ACTOR,
    IncidentAction,
    IncidentEventKind,
    IncidentStatus,
)
from domain.rbac import Principal
from domain.tenancy import tenant_scope

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

COMMENT_MAX = 2000
EXPIRY_BATCH = 100
WITHDRAWN_COMMENT = "withdrawn: the incident resolved before anyone decided"
WITHDRAWAL_REACTION = "approval-withdrawal"

LOCK = """
SELECT a.* FROM remediation_approvals a
JOIN companies c ON c.id = a.company_id AND c.deleted_at IS NULL
WHERE a.id = $1
FOR UPDATE OF a
"""
DECIDE = """
UPDATE remediation_approvals SET status = $2, decided_by = $3, decided_at = $4, comment = $5
WHERE id = $1
RETURNING *
"""
# The incident of the request, locked: a resolve racing the decision waits for it, or is seen by it.
INCIDENT = "SELECT status FROM incidents WHERE id = $1 FOR UPDATE"
# Due requests of incidents that resolved are withdrawn instead (below), not expired.
EXPIRE = """
WITH due AS (
    SELECT id FROM remediation_approvals a
    WHERE status = 'PENDING' AND expires_at <= $1
      AND NOT EXISTS (SELECT FROM incidents i WHERE i.id = a.incident_id AND i.status = 'RESOLVED')
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE remediation_approvals a SET status = 'EXPIRED', decided_at = $1
FROM due WHERE a.id = due.id
RETURNING a.id, a.company_id, a.incident_id, a.runbook_id, a.runbook_version, a.expires_at
"""


# The due PENDING requests whose incident resolved (the withdrawal reaction has not run yet, or the
# resolve came before it registered): their incidents, claimed as the expiry claims.
DUE_RESOLVED = """
SELECT a.incident_id FROM remediation_approvals a
JOIN incidents i ON i.id = a.incident_id AND i.status = 'RESOLVED'
WHERE a.status = 'PENDING' AND a.expires_at <= $1
ORDER BY a.expires_at
LIMIT $2
FOR UPDATE OF a SKIP LOCKED
"""
# The PENDING requests of the given incidents that are resolved now, withdrawn at the resolve's time,
# each with its APPROVAL_WITHDRAWN timeline entry naming who resolved the incident; one statement.
# (An incident that reopened before this ran keeps its request: the problem is back.)
WITHDRAW = """
WITH w AS (
    UPDATE remediation_approvals a
    SET status = 'WITHDRAWN', decided_at = greatest(coalesce(i.resolved_at, $2), a.requested_at), comment = $3
    FROM incidents i
    WHERE i.id = a.incident_id AND a.incident_id = ANY($1::uuid[]) AND a.status = 'PENDING'
      AND i.status = 'RESOLVED'
    RETURNING a.id, a.company_id, a.incident_id, a.decided_at
), entry AS (
    INSERT INTO incident_events (company_id, incident_id, kind, at, actor_id, data)
    SELECT w.company_id, w.incident_id, 'APPROVAL_WITHDRAWN', w.decided_at, NULL,
           jsonb_build_object('actor', $4::text, 'approvalId', w.id::text, 'resolvedBy', r.actor)
    FROM w LEFT JOIN LATERAL (
        SELECT ch.actor FROM incident_changes ch
        WHERE ch.incident_id = w.incident_id AND ch.after_status = 'RESOLVED'
        ORDER BY ch.version DESC LIMIT 1
    ) r ON true
    RETURNING company_id, incident_id
)
SELECT DISTINCT company_id, incident_id FROM entry
"""


def approval_row(record: Any) -> SimpleNamespace:
    """A raw row shaped like the ORM's (JSONB arrives as text on the raw connection)."""
    row = dict(record)
    if isinstance(row.get("parameters"), str):
        row["parameters"] = orjson.loads(row["parameters"])
    return SimpleNamespace(**row)


def _comment(comment: str | None) -> str | None:
    text = (comment or "").strip() or None
    if text is not None and len(text) > COMMENT_MAX:
        raise InvalidInput(f"must be at most {COMMENT_MAX} characters", field="comment")
    return text


async def _locked(conn: Conn, principal: Principal, approval_id: uuid.UUID, now: datetime) -> Any:
    """The request, locked, if the caller may decide it and it is still PENDING and unexpired."""
    row = await conn.fetchrow(LOCK, approval_id)
    if row is None or not tenant_scope(principal).allows(row["company_id"]):
        raise NotFound("approval request not found", field="id")
    require_approver(principal, row["company_id"])
    status = row["status"]
    if status == "EXPIRED":
        raise Conflict("the approval request has expired", field="id", code="APPROVAL_EXPIRED")
    if status != "PENDING":
        raise Conflict(
            f"the approval request was already {status.lower()}", field="id", code="ALREADY_DECIDED"
        )
    if row["incident_id"] is not None:
        incident_status = await conn.fetchval(INCIDENT, row["incident_id"])
        if incident_status == IncidentStatus.RESOLVED.value:
            # resolved before the withdrawal reaction ran: nothing left to fix (the reaction withdraws it)
            raise Conflict(
                "the incident resolved before anyone decided: there is nothing left to fix",
                field="id",
                code="INCIDENT_RESOLVED",
            )
    if row["expires_at"] <= now:
        raise Conflict("the approval request has expired", field="id", code="APPROVAL_EXPIRED")
    return row


async def approve(
    conn: Conn, principal: Principal, approval_id: uuid.UUID, comment: str | None, now: datetime
) -> tuple[SimpleNamespace, uuid.UUID]:
    """Approve a PENDING request and enqueue its execution (its id), in the caller's transaction."""
    note = _comment(comment)
    row = await _locked(conn, principal, approval_id, now)
    runbook = await runbook_version(conn, row["runbook_id"], row["runbook_version"])
    if runbook is None:  # the runbook was deleted with its versions
        raise NotFound("the runbook of this request no longer exists", field="id")
    request = execution_request(
        company_id=row["company_id"],
        incident_id=row["incident_id"],
        runbook=runbook,
        asset_ids=row["asset_ids"],
        instance_ids=row["instance_ids"],
        parameters=orjson.loads(row["parameters"])
        if isinstance(row["parameters"], str)
        else row["parameters"],
        started_by=principal.actor,
        approval_id=approval_id,
    )
    decided = await conn.fetchrow(DECIDE, approval_id, "APPROVED", _user(principal), now, note)
    execution_id = await enqueue_execution(conn, request, now)
    if execution_id is None:  # unreachable under the lock; the unique approval_id is the last word
        raise Conflict("the approval request was already approved", field="id", code="ALREADY_DECIDED")
    if row["incident_id"] is not None:
        await add_timeline(
            conn,
            row["company_id"],
            row["incident_id"],
            IncidentEventKind.APPROVED,
            now,
            {"approvalId": str(approval_id), "executionId": str(execution_id), "comment": note},
            actor_id=_user(principal),
        )
    return approval_row(decided), execution_id


async def reject(
    conn: Conn, principal: Principal, approval_id: uuid.UUID, comment: str | None, now: datetime
) -> SimpleNamespace:
    """Reject a PENDING request; its incident escalates to a technician."""
    note = _comment(comment)
    row = await _locked(conn, principal, approval_id, now)
    decided = await conn.fetchrow(DECIDE, approval_id, "REJECTED", _user(principal), now, note)
    if row["incident_id"] is not None:
        data = {"approvalId": str(approval_id), "comment": note}
        await add_timeline(
            conn,
            row["company_id"],
            row["incident_id"],
            IncidentEventKind.REJECTED,
            now,
            data,
            _user(principal),
        )
        await apply_action(
            conn,
            row["incident_id"],
            IncidentAction.ESCALATE,
            principal.actor,
            now,
            note="the runbook run was rejected" + (f": {note}" if note else ""),
            data={"reason": "APPROVAL_REJECTED", "approvalId": str(approval_id)},
            actor_id=_user(principal),
        )
    return approval_row(decided)


async def withdraw(conn: Conn, incident_ids: list[uuid.UUID], now: datetime) -> int:
    """Withdraw the PENDING requests of those of `incident_ids` that are resolved now, with their
    timeline entries and the `incidentChanged` announcements, in the caller's transaction (two
    statements for any number of incidents); how many incidents had one."""
    if not incident_ids:
        return 0
    rows = await conn.fetch(WITHDRAW, incident_ids, now, WITHDRAWN_COMMENT, WITHDRAWAL_ACTOR)
    await notify_many(
        conn,
        [
            BusEvent(topic(r["company_id"], "incidents"), kind="UPDATED", id=str(r["incident_id"]))
            for r in rows
        ],
    )
    return len(rows)


class ApprovalWithdrawal:
    """The `approval-withdrawal` reaction: an incident that resolved (alert recovery, a person,
    auto-resolve, a runbook) withdraws its request still waiting for approval."""

    name = WITHDRAWAL_REACTION
    # Only changes into RESOLVED reach its inbox (`ReactionRunner.register`).
    after_statuses = (IncidentStatus.RESOLVED.value,)

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        """The batch's resolved incidents' requests in one statement (and one of NOTIFYs)."""
        resolved = IncidentStatus.RESOLVED.value
        ids = list(
            dict.fromkeys(
                c.incident_id for c in changes if c.after_status == resolved and c.before_status != resolved
            )
        )
        if ids:
            await withdraw(conn, ids, max(c.at for c in changes))
        return []


async def expire_due(conn: Conn, now: datetime, batch: int = EXPIRY_BATCH) -> int:
    """Mark PENDING requests past their expiry EXPIRED and escalate their incidents, in the caller's
    transaction; those whose incident resolved meanwhile are withdrawn instead. The number handled."""
    resolved = [r["incident_id"] for r in await conn.fetch(DUE_RESOLVED, now, batch)]
    withdrawn = await withdraw(conn, list(dict.fromkeys(resolved)), now)
    rows = await conn.fetch(EXPIRE, now, batch)
    for r in rows:
        if r["incident_id"] is None:
            continue
        data = {"actor": DECISION_ACTOR, "approvalId": str(r["id"]), "expiresAt": r["expires_at"].isoformat()}
        await add_timeline(
            conn, r["company_id"], r["incident_id"], IncidentEventKind.APPROVAL_EXPIRED, now, data
        )
        await apply_action(
            conn,
            r["incident_id"],
            IncidentAction.ESCALATE,
            DECISION_ACTOR,
            now,
            note="nobody approved the runbook run in time",
            data={"reason": "APPROVAL_EXPIRED", "approvalId": str(r["id"])},
        )
    return len(rows) + withdrawn


def _user(principal: Principal) -> uuid.UUID | None:
    return None if principal.is_system else principal.user_id


EXPIRY_SECONDS = 15.0


class ApprovalExpiryLoop:
    """The background loop (`graph.workers` LOOPS) that expires overdue requests, a batch at a time;
    every process may run it (SKIP LOCKED), so it needs no lock of its own."""

    def __init__(self, pool: Any, interval: float = EXPIRY_SECONDS, clock: Any = None) -> None:
        self.pool = pool
        self.interval = interval
        self.clock = clock

    async def step(self) -> bool:
        now = self.clock() if self.clock else datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            return await expire_due(conn, now) >= EXPIRY_BATCH

    async def idle(self) -> None:
        await asyncio.sleep(self.interval)

    async def close(self) -> None:
        return None
