"""The mailer: sends the emails of notifications after their change committed, each at most once.

`db.notifications.enqueue` writes a notification with `email_state = 'pending'` in the transaction of
the change it announces. This loop claims due ones with FOR UPDATE SKIP LOCKED, marks them `sending`
with a lease and commits *before* calling SES, so no transaction is held open across the network and
two worker processes never take the same email. Then:

- sent: `sent` with SES's message id;
- refused or unreachable: back to `pending` after a growing delay, `failed` with its error after
  MAX_EMAIL_ATTEMPTS (admins see it in `notificationEmailFailures`);
- the user does not want this kind by email, is inactive, or no sender is configured: `none`
  (in-app only);
- a lease that ran out (the process stopped mid-send): `failed`, never sent again, since SES may
  already have it: a notification is never emailed twice. The ones a stopping process had claimed
  but not tried yet are put back to `pending` (its SIGTERM cancels the batch).

A failed send never touches the incident's transaction: that committed long before.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from adapters import metrics
from domain.ids import global_id
from domain.incidents import IncidentStatus
from domain.notifications import (
    EMAIL_LEASE_SECONDS,
    MAX_EMAIL_ATTEMPTS,
    UNKNOWN_OUTCOME,
    EmailFacts,
    compose_email,
    email_retry_delay,
    facts_from_data,
    incident_link,
    wants_email,
)
from domain.ports import Mailer
from domain.priority import decayed_score

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

LOST = """
UPDATE notifications SET email_state = 'failed', email_error = $2
WHERE email_state = 'sending' AND email_next_at <= $1
RETURNING id
"""
# The claim reads what the email says in the same statement: the recipient, the company and the
# incident (and its latest decision, when the decisions table has one).
CLAIM = """
WITH due AS (
    SELECT id FROM notifications
    WHERE email_state = 'pending' AND email_next_at <= $1
    ORDER BY email_next_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE notifications n
    SET email_state = 'sending', email_attempts = n.email_attempts + 1, email_next_at = $3
    FROM due WHERE n.id = due.id
    RETURNING n.id, n.company_id, n.user_id, n.kind, n.incident_id, n.subject, n.body, n.data,
              n.email_attempts
)
SELECT k.*, u.email, u.is_active, u.notification_email_kinds, c.name AS company_name,
       i.asset_name, i.signature, i.severity, i.status, i.priority_base, i.created_at AS incident_created_at
FROM claimed k
JOIN users u ON u.id = k.user_id
JOIN companies c ON c.id = k.company_id
LEFT JOIN incidents i ON i.id = k.incident_id
ORDER BY k.id
"""
# Claimed, never tried: the claim is undone (its attempt not counted), due again at once.
UNCLAIM = """
UPDATE notifications SET email_state = 'pending', email_attempts = email_attempts - 1, email_next_at = $2
WHERE id = ANY($1::bigint[]) AND email_state = 'sending'
"""
UNCLAIM_SECONDS = 5.0
SENT = """
UPDATE notifications SET email_state = 'sent', email_message_id = $2, email_error = NULL, email_next_at = NULL
WHERE id = $1
"""
SKIPPED = "UPDATE notifications SET email_state = 'none', email_next_at = NULL WHERE id = $1"
RETRY = """
UPDATE notifications SET email_state = 'pending', email_error = $2, email_next_at = $3
WHERE id = $1 AND email_state = 'sending'
"""
FAILED = """
UPDATE notifications SET email_state = 'failed', email_error = $2, email_next_at = NULL
WHERE id = $1 AND email_state = 'sending'
"""


@dataclass(frozen=True, slots=True)
class MailStats:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.skipped + self.retried + self.failed


class MailerRun:
    """One process's mailer: `run_once` handles up to `batch` due emails."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mailer: Mailer | None,
        public_url: str | None = None,
        batch: int = 20,
        lease_seconds: float = EMAIL_LEASE_SECONDS,
        max_attempts: int = MAX_EMAIL_ATTEMPTS,
    ) -> None:
        self.pool = pool
        self.mailer = mailer
        self.public_url = public_url
        self.batch = batch
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self._said_no_sender = False

    async def run_once(self, now: datetime) -> MailStats:
        async with self.pool.acquire() as conn, conn.transaction():
            lost = await conn.fetch(LOST, now, UNKNOWN_OUTCOME)
            rows = await conn.fetch(CLAIM, now, self.batch, now + self.lease)
        if lost:
            log.error(
                "emails lost mid-send marked failed", extra={"notification_ids": [r["id"] for r in lost]}
            )
        sent = skipped = retried = failed = 0
        for done, row in enumerate(rows):
            try:
                outcome = await self._deliver(row, now)
            except asyncio.CancelledError:
                # The process stops: the email being sent stays `sending` (SES may have it: it
                # ends failed, never sent twice); the ones not tried yet go back to the queue.
                await self._unclaim([r["id"] for r in rows[done + 1 :]], now)
                raise
            sent += outcome == "sent"
            skipped += outcome == "skipped"
            retried += outcome == "retried"
            failed += outcome == "failed"
            metrics.email(outcome)
        metrics.email("lost", len(lost))
        return MailStats(sent, skipped, retried, failed, len(lost))

    async def _unclaim(self, ids: list[int], now: datetime) -> None:
        if not ids:
            return
        try:
            async with asyncio.timeout(UNCLAIM_SECONDS):
                await self.pool.execute(UNCLAIM, ids, now)
        except Exception:  # noqa: BLE001 - not put back: their lease runs out and they end failed
            log.warning("claimed emails not put back", exc_info=True, extra={"notification_ids": ids})

    async def _deliver(self, row: Any, now: datetime) -> str:
        if not row["is_active"] or not wants_email(row["kind"], row["notification_email_kinds"]):
            await self.pool.execute(SKIPPED, row["id"])
            return "skipped"
        if self.mailer is None:
            if not self._said_no_sender:
                log.warning("no ALERTWHISPERER_EMAIL_FROM: notifications are in-app only, nothing is emailed")
                self._said_no_sender = True
            await self.pool.execute(SKIPPED, row["id"])
            return "skipped"
        message = compose_email(self.facts(row, now), row["email"], f"notification-{row['id']}")
        try:
            message_id = await self.mailer.send(message)
        except Exception as exc:  # noqa: BLE001 - any failure is this email's, recorded on it
            error = f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"[:2000]
            if row["email_attempts"] >= self.max_attempts:
                log.error(
                    "email failed for the last time", extra={"notification_id": row["id"], "error": error}
                )
                await self.pool.execute(FAILED, row["id"], error)
                return "failed"
            log.warning("email failed; retrying", extra={"notification_id": row["id"], "error": error})
            await self.pool.execute(RETRY, row["id"], error, now + email_retry_delay(row["email_attempts"]))
            return "retried"
        await self.pool.execute(SENT, row["id"], message_id)
        return "sent"

    def facts(self, row: Any, now: datetime) -> EmailFacts:
        data = row["data"]
        data = orjson.loads(data) if isinstance(data, str | bytes) else dict(data or {})
        incident: uuid.UUID | None = row["incident_id"]
        priority = None
        if row["severity"] is not None:
            priority = round(
                decayed_score(
                    row["priority_base"],
                    row["incident_created_at"],
                    now,
                    resolved=row["status"] == IncidentStatus.RESOLVED.value,
                )
            )
        fields: dict[str, Any] = {
            "asset": row["asset_name"],
            "severity": row["severity"],
            **facts_from_data(data),
        }
        return EmailFacts(
            subject=row["subject"],
            body=row["body"],
            kind=row["kind"],
            company=row["company_name"],
            incident_title=f"{row['signature']} on {row['asset_name']}" if row["signature"] else None,
            status=row["status"],
            priority=priority,
            link=incident_link(self.public_url, global_id("Incident", incident) if incident else None),
            **fields,
        )
