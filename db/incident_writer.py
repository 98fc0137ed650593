"""The incident writer: every status change of an incident, by a person (`IncidentRepository.apply`,
in the unit of work's transaction) or by an automated principal (reactions: decisions, remediation,
SLA, in the transaction that claimed their work), goes through `apply_action` on a raw connection.

It applies the same rule as a person's action (`domain.incidents.manual_change`): status, timeline,
the outbox row, closing the open alerts on a resolve, and the `incidents` bus event. A transition the
rules do not allow (the incident was resolved meanwhile) is no change and no error: an automated
step acts on the incident as it is now, and `None` tells it nothing happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from db.events import BusEvent, topic
from db.sweeps import close_open_alerts
from domain.errors import InvalidTransition
from domain.incidents import IncidentAction, IncidentEventKind, IncidentStatus, ManualChange, manual_change

if TYPE_CHECKING:
    from db.pool import Conn

LOCK = """
SELECT company_id, status, severity, flapping, resolved_at FROM incidents WHERE id = $1 FOR UPDATE
"""
UPDATE = """
UPDATE incidents SET
    status = $2, resolved_at = $3, updated_at = $4, version = version + 1,
    acknowledged_at = CASE WHEN $5 THEN $4 ELSE acknowledged_at END,
    acknowledged_by = CASE WHEN $5 THEN $8::uuid ELSE acknowledged_by END,
    active_fingerprints = CASE WHEN $6 THEN '{}'::varchar[] ELSE active_fingerprints END,
    flapping = CASE WHEN $6 THEN false ELSE flapping END,
    auto_remediated = coalesce($7, auto_remediated)
WHERE id = $1
RETURNING version
"""
EVENT = """
INSERT INTO incident_events (company_id, incident_id, kind, at, actor_id, data)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
"""
CHANGE = """
INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
                              before_severity, after_severity, actor, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"


@dataclass(frozen=True, slots=True)
class AppliedChange:
    company_id: uuid.UUID
    version: int
    change: ManualChange


async def apply_action(
    conn: Conn,
    incident_id: uuid.UUID,
    action: IncidentAction,
    actor: str,
    now: datetime,
    *,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    remediated: bool = False,
    actor_id: uuid.UUID | None = None,
    strict: bool = False,
) -> AppliedChange | None:
    """Apply `action` for `actor`: an automated principal (`system:<name>`, named on the timeline
    entry), or the person `actor_id` (`user:<id>`). None when the incident is gone or its status does
    not allow the action (nothing is written then); `strict` raises InvalidTransition instead, for a
    person, who is told why."""
    row = await conn.fetchrow(LOCK, incident_id)
    if row is None:
        return None
    facts = dict(data or {}) if actor_id is not None else {"actor": actor, **(data or {})}
    try:
        change = manual_change(
            IncidentStatus(row["status"]),
            row["flapping"],
            row["resolved_at"],
            action,
            note,
            now,
            remediated=remediated,
            data=facts,
        )
    except InvalidTransition:
        if strict:
            raise
        return None
    company_id: uuid.UUID = row["company_id"]
    version = await conn.fetchval(
        UPDATE,
        incident_id,
        change.status.value,
        change.resolved_at,
        now,
        change.acknowledged,
        change.resolved,
        change.auto_remediated,
        actor_id,
    )
    for event in change.events:
        await conn.execute(
            EVENT, company_id, incident_id, event.kind.value, event.at, actor_id, _json(event.data)
        )
    await conn.execute(
        CHANGE,
        company_id,
        incident_id,
        version,
        change.change_kind.value,
        change.before.value,
        change.status.value,
        row["severity"],
        actor,
        now,
    )
    if change.close_alerts:
        await close_open_alerts(conn, [incident_id], now)
    await announce(conn, company_id, incident_id, change.change_kind.value)
    return AppliedChange(company_id, version, change)


async def add_timeline(
    conn: Conn,
    company_id: uuid.UUID,
    incident_id: uuid.UUID,
    kind: IncidentEventKind,
    now: datetime,
    data: Mapping[str, Any],
    actor_id: uuid.UUID | None = None,
) -> None:
    """A timeline entry that changes no status (a decision, an approval request, a run's start)."""
    await conn.execute(EVENT, company_id, incident_id, kind.value, now, actor_id, _json(data))


async def announce(conn: Conn, company_id: uuid.UUID, incident_id: uuid.UUID, kind: str = "UPDATED") -> None:
    """Tell `incidentChanged` subscribers (at commit) that the incident changed."""
    await conn.execute(
        NOTIFY, BusEvent(topic(company_id, "incidents"), kind=kind, id=str(incident_id)).to_json()
    )


def _json(value: Mapping[str, Any]) -> str:
    return orjson.dumps(value, default=str).decode()
