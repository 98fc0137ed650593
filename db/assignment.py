"""Assigning incidents to technicians: the best one automatically (`domain.assignment.choose`), or the
one an admin names. One writer for both, on a raw connection in the caller's transaction:

- the incident row is locked, and automatic choices within a company are serialised (a transaction
  advisory lock), so two incidents escalated at once never both go to the last free slot;
- `incidents.assigned_to/at`, the timeline entry with the choice and its reason, an outbox row
  (actor named), the `incidents` bus event, the technician's `last_assigned_at` (fairness), and a
  notification to the assignee, or to the company's admins when nobody could take it.

The `assignment` reaction assigns an incident when it comes to need a person: it was escalated (a
technician, a decision, a failed, rejected or expired remediation, the SLA).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
import orjson

from db import notifications
from db.incident_writer import CHANGE, EVENT, announce
from db.oncall import on_call_user_ids
from domain.assignment import AssignmentRule, Candidate, Choice, choose, manual_reason
from domain.incidents import ASSIGNMENT_ACTOR, IncidentEventKind, IncidentStatus
from domain.notifications import NotificationKind

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

LOCK = """
SELECT company_id, status, severity, category, assigned_to, signature, asset_name
FROM incidents WHERE id = $1 FOR UPDATE
"""
# Serialises automatic choices per company: the open-incident counts read below stay true until commit.
CHOOSING = "SELECT pg_advisory_xact_lock(7461016, hashtext($1::text))"
CANDIDATES = """
SELECT u.id, u.name, u.skills, u.is_active, u.assignable, u.max_concurrent_incidents, u.last_assigned_at,
       (SELECT count(*) FROM incidents i WHERE i.assigned_to = u.id AND i.status <> 'RESOLVED') AS open_incidents
FROM users u JOIN memberships m ON m.user_id = u.id
WHERE m.company_id = $1 AND u.role = 'technician'
ORDER BY u.id
"""
ASSIGN = """
UPDATE incidents SET assigned_to = $2, assigned_at = $3, updated_at = $3, version = version + 1
WHERE id = $1
RETURNING version
"""
TOUCH = "UPDATE users SET last_assigned_at = $2 WHERE id = $1"
CLOSED = IncidentStatus.RESOLVED.value


@dataclass(frozen=True, slots=True)
class Assigned:
    company_id: uuid.UUID
    user_id: uuid.UUID | None
    rule: AssignmentRule
    reason: str
    version: int | None


async def candidates(conn: Conn, company_id: uuid.UUID, at: datetime) -> list[Candidate]:
    on_call = await on_call_user_ids(conn, company_id, at)
    return [
        Candidate(
            user_id=r["id"],
            name=r["name"],
            skills=frozenset(r["skills"] or ()),
            on_call=r["id"] in on_call,
            open_incidents=r["open_incidents"],
            max_concurrent=r["max_concurrent_incidents"],
            last_assigned_at=r["last_assigned_at"],
            assignable=r["assignable"],
            active=r["is_active"],
        )
        for r in await conn.fetch(CANDIDATES, company_id)
    ]


async def assign_best(
    conn: Conn, incident_id: uuid.UUID, now: datetime, actor: str, why: str, *, only_if_found: bool = False
) -> Assigned | None:
    """Assign the incident to the best technician (or record that nobody could take it, unless
    `only_if_found`); None when it is gone, resolved or already assigned, or nobody was found and
    `only_if_found`."""
    row = await conn.fetchrow(LOCK, incident_id)
    if row is None or row["status"] == CLOSED or row["assigned_to"] is not None:
        return None
    company_id: uuid.UUID = row["company_id"]
    await conn.execute(CHOOSING, str(company_id))
    choice = choose(await candidates(conn, company_id, now), row["category"])
    if choice.user_id is None and only_if_found:
        return None
    return await _write(conn, incident_id, row, choice, now, actor, None, why)


async def assign_to(
    conn: Conn,
    incident_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    now: datetime,
    actor: str,
    actor_id: uuid.UUID | None,
    note: str | None,
) -> Assigned:
    """An admin's choice (checked by the caller: a technician of the incident's company)."""
    row = await conn.fetchrow(LOCK, incident_id)
    assert row is not None  # the caller read it in this transaction
    choice = Choice(user_id, AssignmentRule.MANUAL, manual_reason(name, note))
    return await _write(conn, incident_id, row, choice, now, actor, actor_id, None)


async def _write(
    conn: Conn,
    incident_id: uuid.UUID,
    row: asyncpg.Record,
    choice: Choice,
    now: datetime,
    actor: str,
    actor_id: uuid.UUID | None,
    why: str | None,
) -> Assigned:
    company_id: uuid.UUID = row["company_id"]
    facts: dict[str, object] = {"rule": choice.rule.value, "reason": choice.reason}
    if actor_id is None:
        facts["actor"] = actor
    if why:
        facts["because"] = why
    before = row["assigned_to"]
    if before is not None:
        facts["previous"] = str(before)
    title = f"{row['signature']} on {row['asset_name']}"
    if choice.user_id is None:
        await conn.execute(
            EVENT, company_id, incident_id, IncidentEventKind.UNASSIGNED.value, now, actor_id, _json(facts)
        )
        await notifications.enqueue(
            conn,
            company_id=company_id,
            user_ids=await notifications.company_admins(conn, company_id),
            kind=NotificationKind.UNASSIGNED,
            subject=f"Nobody could take: {title}",
            body=f"{title} needs a person and {choice.reason.removeprefix('nobody assigned: ')}.",
            now=now,
            incident_id=incident_id,
            dedup_key=f"unassigned:{incident_id}:{now.isoformat()}",
        )
        await announce(conn, company_id, incident_id)
        return Assigned(company_id, None, choice.rule, choice.reason, None)
    facts["assignee"] = str(choice.user_id)
    version = await conn.fetchval(ASSIGN, incident_id, choice.user_id, now)
    await conn.execute(
        EVENT, company_id, incident_id, IncidentEventKind.ASSIGNED.value, now, actor_id, _json(facts)
    )
    status = row["status"]
    await conn.execute(
        CHANGE, company_id, incident_id, version, "UPDATED", status, status, row["severity"], actor, now
    )
    await conn.execute(TOUCH, choice.user_id, now)
    await notifications.enqueue(
        conn,
        company_id=company_id,
        user_ids=[choice.user_id],
        kind=NotificationKind.ASSIGNED,
        subject=f"Assigned to you: {title}",
        body=f"{title} ({row['severity']}) is yours: {choice.reason}.",
        now=now,
        incident_id=incident_id,
        dedup_key=f"assigned:{incident_id}:{version}",
    )
    await announce(conn, company_id, incident_id)
    return Assigned(company_id, choice.user_id, choice.rule, choice.reason, version)


def _json(value: object) -> str:
    return orjson.dumps(value, default=str).decode()


class AutoAssignment:
    """The `assignment` reaction: an incident that came to need a person gets one."""

    name = "assignment"
    # Only changes into ESCALATED reach its inbox (`ReactionRunner.register`).
    after_statuses = ("ESCALATED",)

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        if (
            change.after_status != IncidentStatus.ESCALATED.value
            or change.before_status == change.after_status
        ):
            return
        await assign_best(conn, change.incident_id, change.at, ASSIGNMENT_ACTOR, "escalated")
