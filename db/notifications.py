"""Telling people: one in-app notification per user, and an email when the user wants one.

Producers (assignment, escalation, approval requests, failed remediations, SLA warnings) call
`enqueue` in the transaction of the change they announce, so a notification exists exactly when its
change committed. `dedup_key` (e.g. `approval:<id>`) makes a retried producer add nothing. The
mailer loop sends the `pending` emails; `notificationReceived` subscribers hear of each row on the
user's own topic.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from db.events import BusEvent
from domain.notifications import NotificationKind

if TYPE_CHECKING:
    from db.pool import Conn

COMPANY_ADMINS = """
SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
WHERE m.company_id = $1 AND u.role = 'company_admin' AND u.is_active
"""
MSP_ADMINS = "SELECT id FROM users WHERE role = 'msp_admin' AND is_active"
INSERT = """
INSERT INTO notifications (company_id, user_id, kind, incident_id, subject, body, data, dedup_key,
                           email_state, email_next_at, created_at)
SELECT $1, u, $3, $4, $5, $6, $7::jsonb, $8,
       CASE WHEN $9 THEN 'pending' ELSE 'none' END, CASE WHEN $9 THEN $10::timestamptz END, $10
FROM unnest($2::uuid[]) u
ON CONFLICT (user_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING id, user_id
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"
# What the mailer loop listens to: an email is due.
EMAILS_TOPIC = "system:emails"


def user_topic(user_id: uuid.UUID) -> str:
    """The bus topic of one user's notifications (only that user's subscription listens to it)."""
    return f"user:{user_id}:notifications"


async def company_admins(conn: Conn, company_id: uuid.UUID) -> list[uuid.UUID]:
    return [r["id"] for r in await conn.fetch(COMPANY_ADMINS, company_id)]


async def msp_admins(conn: Conn) -> list[uuid.UUID]:
    return [r["id"] for r in await conn.fetch(MSP_ADMINS)]


async def enqueue(
    conn: Conn,
    *,
    company_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    kind: str,
    subject: str,
    body: str,
    now: datetime,
    incident_id: uuid.UUID | None = None,
    data: Mapping[str, Any] | None = None,
    dedup_key: str | None = None,
    email: bool = True,
) -> list[int]:
    """One notification per user (none twice for the same `dedup_key`); the ids added. `email`: the
    producer wants it mailed (the mailer still honours each user's preferences)."""
    kind = NotificationKind(kind).value  # a producer's typo fails its own attempt, never a reader's
    if not user_ids:
        return []
    rows = await conn.fetch(
        INSERT,
        company_id,
        list(dict.fromkeys(user_ids)),
        kind,
        incident_id,
        subject[:200],
        body,
        orjson.dumps(dict(data or {}), default=str).decode(),
        dedup_key,
        email,
        now,
    )
    for r in rows:
        await conn.execute(NOTIFY, BusEvent(user_topic(r["user_id"]), kind=kind, id=str(r["id"])).to_json())
    if email and rows:
        await conn.execute(NOTIFY, BusEvent(EMAILS_TOPIC, kind="due").to_json())
    return [r["id"] for r in rows]
