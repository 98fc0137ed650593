"""Telling people an incident was escalated: a reaction to the outbox of incident changes.

Whoever escalates (a technician, the decisions, a failed remediation, an expired approval, the SLA
monitor), the change lands in `incident_changes`; this reaction tells the company's admins, and the
assignee when there is one, in-app and (by their preferences) by email. The notification's
`dedup_key` names the incident's version, so a change handled twice notifies once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from db import notifications
from domain.incidents import IncidentStatus
from domain.notifications import NotificationKind

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

NAME = "notify-escalations"
INCIDENTS = """
SELECT i.id, i.asset_name, i.signature, i.severity, i.assigned_to,
       (SELECT e.data FROM incident_events e
        WHERE e.incident_id = i.id AND e.kind = 'ESCALATED' ORDER BY e.id DESC LIMIT 1) AS escalation
FROM incidents i WHERE i.id = ANY($1::uuid[])
"""
ESCALATED = IncidentStatus.ESCALATED.value


def _reason(data: object) -> str | None:
    if isinstance(data, str):
        data = orjson.loads(data)
    if not isinstance(data, dict):
        return None
    for key in ("reason", "note"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class EscalationNotices:
    name = NAME
    # Only changes into ESCALATED reach its inbox (`ReactionRunner.register`).
    after_statuses = ("ESCALATED",)

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        """The batch's incidents, their companies' admins and all the notices in three statements
        (and one of NOTIFYs)."""
        changes = [c for c in changes if c.after_status == ESCALATED and c.before_status != ESCALATED]
        if not changes:
            return []
        rows = {r["id"]: r for r in await conn.fetch(INCIDENTS, list({c.incident_id for c in changes}))}
        admins = await notifications.companies_admins(conn, list({c.company_id for c in changes}))
        notices: list[notifications.Notice] = []
        for change in changes:
            row = rows.get(change.incident_id)
            if row is None:
                continue  # purged meanwhile
            recipients = list(admins[change.company_id])
            if row["assigned_to"] is not None:
                recipients.append(row["assigned_to"])
            reason = _reason(row["escalation"])
            who = "automatically" if change.actor.startswith("system:") else "by a person"
            body = f"{row['signature']} on {row['asset_name']} ({row['severity']}) was escalated {who}"
            body += f": {reason}" if reason else "."
            notices.append(
                notifications.Notice(
                    company_id=change.company_id,
                    user_ids=recipients,
                    kind=NotificationKind.ESCALATED,
                    subject=f"Escalated: {row['signature']} on {row['asset_name']}",
                    body=body,
                    now=change.at,
                    incident_id=change.incident_id,
                    data={"reason": reason} if reason else None,
                    dedup_key=f"escalated:{change.incident_id}:{change.version}",
                )
            )
        await notifications.enqueue_many(conn, notices)
        return []
