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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from db.events import BusEvent, notify_many
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
# `enqueue_many`: the admins of several companies, the rows of several notices, their NOTIFYs.
COMPANIES_ADMINS = """
SELECT m.company_id, u.id FROM users u JOIN memberships m ON m.user_id = u.id
WHERE m.company_id = ANY($1::uuid[]) AND u.role = 'company_admin' AND u.is_active
"""
INSERT_MANY = """
INSERT INTO notifications (company_id, user_id, kind, incident_id, subject, body, data, dedup_key,
                           email_state, email_next_at, created_at)
SELECT c, u, k, i, s, b, d::jsonb, dk, CASE WHEN e THEN 'pending' ELSE 'none' END, CASE WHEN e THEN t END, t
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::bool[], $10::timestamptz[]) x(c, u, k, i, s, b, d, dk, e, t)
ON CONFLICT (user_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING id, user_id, kind, email_state
"""
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


@dataclass(frozen=True, slots=True)
class Notice:
    """What one `enqueue` call says, for `enqueue_many`."""

    company_id: uuid.UUID
    user_ids: Sequence[uuid.UUID]
    kind: str
    subject: str
    body: str
    now: datetime
    incident_id: uuid.UUID | None = None
    data: Mapping[str, Any] | None = None
    dedup_key: str | None = None
    email: bool = True


async def companies_admins(conn: Conn, company_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """`company_admins` of several companies in one statement."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in company_ids}
    for r in await conn.fetch(COMPANIES_ADMINS, list(found)):
        found[r["company_id"]].append(r["id"])
    return found


async def enqueue_many(conn: Conn, notices: Sequence[Notice]) -> list[int]:
    """`enqueue` for each notice, in two statements (the rows; their NOTIFYs); the ids added."""
    rows: list[tuple[Any, ...]] = []
    for n in notices:
        kind = NotificationKind(n.kind).value  # a producer's typo fails its own attempt, never a reader's
        data = orjson.dumps(dict(n.data or {}), default=str).decode()
        for user in dict.fromkeys(n.user_ids):
            rows.append(
                (
                    n.company_id,
                    user,
                    kind,
                    n.incident_id,
                    n.subject[:200],
                    n.body,
                    data,
                    n.dedup_key,
                    n.email,
                    n.now,
                )
            )
    if not rows:
        return []
    added = await conn.fetch(INSERT_MANY, *(list(c) for c in zip(*rows, strict=True)))
    events = [BusEvent(user_topic(r["user_id"]), kind=r["kind"], id=str(r["id"])) for r in added]
    if any(r["email_state"] == "pending" for r in added):
        events.append(BusEvent(EMAILS_TOPIC, kind="due"))
    await notify_many(conn, events)
    return [r["id"] for r in added]
