"""SLA clocks in the database: the `sla-clocks` reaction that keeps each incident's deadlines, and the
monitor that acts on the ones that fall due (raw SQL: the worker process holds no SQLAlchemy; the
API's reads are `db.repositories.sla`).

The reaction (`SlaClocks`) handles every incident change from the outbox: it opens the clocks of a
new incident, stops a clock when it is met, pauses both while the incident waits on the client,
restarts resolution on a reopen, and recomputes the deadlines on a severity change
(`domain.sla.update_clocks`). A change older than the one already applied (a retry arriving late) is
skipped: the clocks follow the incident's newest state.

The monitor (`SlaMonitor`) claims the rows whose `next_due_at` passed (partial index, `FOR UPDATE
SKIP LOCKED`, so any number of monitors share the work and none reads every open incident), and in
the same transaction inserts the `sla_events` row of each warning or breach (unique per incident,
clock, kind and deadline) with its effects: notifications, the timeline entry, the escalation, the
`incidentChanged` and `slaBreached` events. A row another monitor inserted first means its effects
exist already: nothing is done twice, also after a restart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from adapters import metrics
from db import notifications
from db.assignment import assign_best
from db.events import BusEvent, topic
from db.incident_writer import add_timeline, announce, apply_action
from domain.incidents import SLA_ACTOR, IncidentAction, IncidentEventKind
from domain.sla import (
    DueEvent,
    IncidentClocks,
    SlaEventKind,
    SlaKind,
    SlaPolicy,
    due_events,
    escalation_level,
    mark_done,
    start_clocks,
    update_clocks,
)

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

log = logging.getLogger(__name__)

REACTION = "sla-clocks"
SLA_TOPIC = "sla"  # company:{id}:sla, what `slaBreached` listens to
MONITOR_BATCH = 200
# A due row whose incident moved on before the reaction caught up (acknowledged, resolved, waiting on
# the client) is looked at again this much later: by then the reaction has recomputed it.
RECHECK = timedelta(seconds=5)

_CLOCK_COLUMNS = tuple(IncidentClocks.__dataclass_fields__)
_SELECT_CLOCKS = ", ".join(_CLOCK_COLUMNS)
INCIDENT = """
SELECT i.company_id, i.severity, i.status, i.created_at, i.acknowledged_at, i.assigned_to,
       i.asset_name, i.signature, c.sla_policy
FROM incidents i JOIN companies c ON c.id = i.company_id
WHERE i.id = $1
"""
_SET = ", ".join(f"{c} = ${n}" for n, c in enumerate(_CLOCK_COLUMNS, start=2))
CLAIM_DUE = f"""
SELECT incident_id, company_id, {_SELECT_CLOCKS} FROM incident_sla
WHERE next_due_at IS NOT NULL AND next_due_at <= $1
ORDER BY next_due_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
SAVE_DUE = f"""
UPDATE incident_sla SET {_SET}, next_due_at = ${2 + len(_CLOCK_COLUMNS)}, updated_at = now()
WHERE incident_id = $1
"""
NEXT_DUE = "SELECT min(next_due_at) FROM incident_sla WHERE next_due_at IS NOT NULL"
DEFER = "UPDATE incident_sla SET next_due_at = $2 WHERE incident_id = $1"
INSERT_EVENT = """
INSERT INTO sla_events (company_id, incident_id, clock, kind, deadline, level, at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT ON CONSTRAINT uq_sla_events_once DO NOTHING
RETURNING id
"""
PREVIOUS_BREACHES = """
SELECT count(*) FROM sla_events WHERE incident_id = $1 AND clock = 'resolution' AND kind = 'breach'
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"
# The reaction's batch: the clocks of all its incidents locked (in key order, so two runners never
# wait on each other in a cycle), their incidents read, and every incident's newest clocks written.
LOCK_CLOCKS_MANY = (
    f"SELECT incident_id, version, {_SELECT_CLOCKS} FROM incident_sla WHERE incident_id = ANY($1::uuid[])"
    " ORDER BY incident_id FOR UPDATE"
)
INCIDENTS = INCIDENT.replace("WHERE i.id = $1", "WHERE i.id = ANY($1::uuid[])").replace(
    "SELECT i.company_id", "SELECT i.id, i.company_id"
)


def _array_type(column: str) -> str:
    if column == "severity":
        return "text[]"
    if column.endswith("_seconds"):
        return "float8[]"
    if column.endswith(("_warned", "_breached")):
        return "bool[]"
    return "timestamptz[]"


UPSERT_MANY = f"""
INSERT INTO incident_sla (incident_id, company_id, version, {_SELECT_CLOCKS}, next_due_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[],
    {", ".join(f"${n}::{_array_type(c)}" for n, c in enumerate(_CLOCK_COLUMNS, start=4))},
    ${4 + len(_CLOCK_COLUMNS)}::timestamptz[])
ON CONFLICT (incident_id) DO UPDATE SET
    version = excluded.version, {", ".join(f"{c} = excluded.{c}" for c in _CLOCK_COLUMNS)},
    next_due_at = excluded.next_due_at, updated_at = now()
"""


def policy_of(raw: Any) -> SlaPolicy:
    """The policy stored in `companies.sla_policy` (JSONB arrives as text on the raw pool)."""
    return SlaPolicy.from_dict(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)


def _clocks(row: Any) -> IncidentClocks:
    return IncidentClocks(**{c: row[c] for c in _CLOCK_COLUMNS})


def _params(clocks: IncidentClocks) -> list[Any]:
    values = asdict(clocks)
    return [values[c] for c in _CLOCK_COLUMNS]


# ---- the reaction --------------------------------------------------------------------------------


class SlaClocks:
    """The `sla-clocks` reaction: keeps `incident_sla` in step with every incident change."""

    name = REACTION

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        """Three statements for the whole batch: the changes of one incident are applied in order to
        its clocks in memory, and only its newest clocks are written."""
        ids = list(dict.fromkeys(c.incident_id for c in changes))
        applied: dict[uuid.UUID, tuple[int, IncidentClocks]] = {
            r["incident_id"]: (r["version"], _clocks(r)) for r in await conn.fetch(LOCK_CLOCKS_MANY, ids)
        }
        incidents = {r["id"]: r for r in await conn.fetch(INCIDENTS, ids)}
        written: dict[uuid.UUID, uuid.UUID] = {}  # incident -> the company its change named
        policies: dict[uuid.UUID, SlaPolicy] = {}  # one company's policy, parsed once a batch
        for change in changes:
            current = applied.get(change.incident_id)
            if current is not None and change.version <= current[0]:
                continue  # a late retry of a change older than the state already applied
            incident = incidents.get(change.incident_id)
            if incident is None:
                continue
            policy = policies.get(incident["company_id"])
            if policy is None:
                policy = policies[incident["company_id"]] = policy_of(incident["sla_policy"])
            if current is None:
                # Opened now, or opened before this reaction registered: its clocks start at its creation.
                clocks = start_clocks(policy, change.after_severity, incident["created_at"])
            else:
                clocks = current[1]
            clocks = update_clocks(
                clocks,
                policy,
                severity=change.after_severity,
                status=change.after_status,
                before_status=change.before_status,
                actor=change.actor,
                now=change.at,
            )
            applied[change.incident_id] = (change.version, clocks)
            written[change.incident_id] = change.company_id
        if written:
            ids = list(written)
            columns = list(zip(*(_params(applied[i][1]) for i in ids), strict=True))
            await conn.execute(
                UPSERT_MANY,
                ids,
                [written[i] for i in ids],
                [applied[i][0] for i in ids],
                *(list(c) for c in columns),
                [applied[i][1].next_due_at() for i in ids],
            )
        return []


# ---- the monitor ---------------------------------------------------------------------------------


class SlaMonitor:
    """Finds the warnings and breaches that fell due and acts on each exactly once."""

    def __init__(self, pool: Any, batch: int = MONITOR_BATCH) -> None:
        self.pool = pool
        self.batch = batch

    async def run_once(self, now: datetime) -> int:
        """One pass over due rows (at most `batch`); the number of rows it acted on."""
        # The warnings and breaches acted on, counted once the transaction committed (a rollback
        # undoes their rows and effects: counted inside, it would count what never happened).
        counted: list[DueEvent] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM_DUE, now, self.batch)
            acted = 0
            for row in rows:
                if await self._due(conn, row, now, counted):
                    acted += 1
        for event in counted:
            metrics.sla_event(event.clock.value, event.kind.value)
        return acted

    async def next_due(self) -> datetime | None:
        """The earliest warning or breach still to come (one index probe), to wake up for it."""
        found: datetime | None = await self.pool.fetchval(NEXT_DUE)
        return found

    async def _due(self, conn: Conn, row: Any, now: datetime, counted: list[DueEvent]) -> bool:
        incident_id: uuid.UUID = row["incident_id"]
        company_id: uuid.UUID = row["company_id"]
        clocks = _clocks(row)
        incident = await conn.fetchrow(INCIDENT, incident_id)
        events = due_events(clocks, now)
        if incident is not None:
            events = [e for e in events if not _moved_on(incident, e, clocks)]
            if not events and due_events(clocks, now):
                await conn.execute(DEFER, incident_id, now + RECHECK)
                return False
        for event in events:
            if await self._act(conn, company_id, incident_id, incident, event, now):
                counted.append(event)
        done = mark_done(clocks, due_events(clocks, now) if incident is None else events)
        await conn.execute(SAVE_DUE, incident_id, *_params(done), done.next_due_at())
        return True

    async def _act(
        self,
        conn: Conn,
        company_id: uuid.UUID,
        incident_id: uuid.UUID,
        incident: Any,
        event: DueEvent,
        now: datetime,
    ) -> bool:
        """Act on one due event; False when it was acted on already (or its incident is gone)."""
        level = None
        if event.clock is SlaKind.RESOLUTION and event.kind is SlaEventKind.BREACH:
            level = escalation_level(int(await conn.fetchval(PREVIOUS_BREACHES, incident_id)))
        inserted = await conn.fetchval(
            INSERT_EVENT,
            company_id,
            incident_id,
            event.clock.value,
            event.kind.value,
            event.deadline,
            level,
            now,
        )
        if inserted is None or incident is None:
            return False  # acted on already (another monitor, or before a restart), or the incident is gone
        deadline = event.deadline.isoformat()
        facts: dict[str, Any] = {"clock": event.clock.value, "deadline": deadline}
        if level is not None:
            facts["level"] = level
        what = f"{incident['asset_name']}: {incident['signature']}"
        data = {"sla_deadline": deadline, "clock": event.clock.value, **({"level": level} if level else {})}
        dedup = f"sla:{inserted}"
        if event.kind is SlaEventKind.WARNING:
            await add_timeline(conn, company_id, incident_id, IncidentEventKind.SLA_WARNING, now, facts)
            if event.clock is SlaKind.RESPONSE and incident["assigned_to"] is None:
                # The response deadline is about to pass with nobody on it: the best technician gets
                # it now (and the warning). Nobody free: the admins get the warning, and hear that
                # nobody could be assigned at the breach, once.
                assigned = await assign_best(
                    conn, incident_id, now, SLA_ACTOR, "sla_response_warning", only_if_found=True
                )
                if assigned is not None:
                    incident = {**dict(incident), "assigned_to": assigned.user_id}
            await notifications.enqueue(
                conn,
                company_id=company_id,
                user_ids=await _assignee_or_admins(conn, company_id, incident),
                kind="SLA_WARNING",
                subject=f"SLA {event.clock.value} deadline near: {what}",
                body=f"The {event.clock.value} deadline of {what} is {deadline}.",
                now=now,
                incident_id=incident_id,
                data=data,
                dedup_key=dedup,
            )
            await announce(conn, company_id, incident_id)
            return True
        await add_timeline(conn, company_id, incident_id, IncidentEventKind.SLA_BREACHED, now, facts)
        if level is None:
            # Response breach: an unassigned incident gets the best technician now (who is notified
            # of the assignment, and of the breach below); nobody free: its admins hear of it.
            if incident["assigned_to"] is None:
                assigned = await assign_best(conn, incident_id, now, SLA_ACTOR, "sla_response_breach")
                recipients = [assigned.user_id] if assigned and assigned.user_id else []
            else:
                recipients = [incident["assigned_to"]]
            if not recipients:
                recipients = await notifications.company_admins(conn, company_id)
            subject = f"URGENT: SLA response breached: {what}"
            data["urgent"] = True
        else:
            recipients = (
                await notifications.company_admins(conn, company_id)
                if level == 1
                else await notifications.msp_admins(conn)
            )
            subject = f"SLA resolution breached, escalated to level {level}: {what}"
            await apply_action(
                conn,
                incident_id,
                IncidentAction.ESCALATE,
                SLA_ACTOR,
                now,
                note=f"SLA resolution deadline {deadline} passed",
                data={"reason": "sla_resolution_breach", "level": level},
            )
        await notifications.enqueue(
            conn,
            company_id=company_id,
            user_ids=recipients,
            kind="SLA_BREACHED",
            subject=subject,
            body=f"The {event.clock.value} deadline of {what} passed at {deadline}.",
            now=now,
            incident_id=incident_id,
            data=data,
            dedup_key=dedup,
        )
        await announce(conn, company_id, incident_id)
        await conn.execute(
            NOTIFY, BusEvent(topic(company_id, SLA_TOPIC), kind=event.clock.value, id=str(inserted)).to_json()
        )
        return True


def _moved_on(incident: Any, event: DueEvent, clocks: IncidentClocks) -> bool:
    """The incident changed in a way the reaction has not applied yet and that stops or pauses this
    clock: no warning or breach for it now."""
    status = incident["status"]
    if status in ("RESOLVED", "WAITING_ON_CLIENT"):
        return True
    acknowledged = incident["acknowledged_at"]
    return (
        event.clock is SlaKind.RESPONSE
        and acknowledged is not None
        and acknowledged >= clocks.response_started_at
    )


async def _assignee_or_admins(conn: Conn, company_id: uuid.UUID, incident: Any) -> list[uuid.UUID]:
    if incident["assigned_to"] is not None:
        return [incident["assigned_to"]]
    return await notifications.company_admins(conn, company_id)
