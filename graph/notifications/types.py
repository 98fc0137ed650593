"""GraphQL types of notifications: what a user was told, and what became of its email."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from db import tables
from domain.notifications import NotificationKind as DomainKind
from graph.core import Node, to_global_id
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.incidents.types import Incident, incident_type
from graph.platform.types import Company, User, company_type, user_type


@strawberry.enum(description="The events that tell people (in-app always; by email as each user chooses).")
class NotificationKind(enum.Enum):
    ASSIGNED = strawberry.enum_value(
        DomainKind.ASSIGNED.value, description="An incident was assigned to you."
    )
    UNASSIGNED = strawberry.enum_value(
        DomainKind.UNASSIGNED.value,
        description="An incident of your company needs a person and no technician could take it.",
    )
    ESCALATED = strawberry.enum_value(
        DomainKind.ESCALATED.value,
        description="An incident was escalated to a person (by a technician, a decision, a failed or "
        "refused remediation, an expired approval or the SLA).",
    )
    APPROVAL_REQUESTED = strawberry.enum_value(
        DomainKind.APPROVAL_REQUESTED.value,
        description="A runbook waits for a company admin's approval before it runs.",
    )
    REMEDIATION_FAILED = strawberry.enum_value(
        DomainKind.REMEDIATION_FAILED.value,
        description="A runbook run failed, timed out, was cancelled or failed its health check.",
    )
    SLA_WARNING = strawberry.enum_value(
        DomainKind.SLA_WARNING.value, description="An incident's SLA deadline is close."
    )
    SLA_BREACHED = strawberry.enum_value(
        DomainKind.SLA_BREACHED.value, description="An incident's SLA deadline passed."
    )


@strawberry.enum(description="What became of a notification's email.")
class EmailState(enum.Enum):
    NOT_EMAILED = strawberry.enum_value(
        "none",
        description="In-app only: the producer sent no email, you turned this kind off, or the server "
        "has no sender configured.",
    )
    PENDING = strawberry.enum_value("pending", description="Waiting to be sent (or to be tried again).")
    SENDING = strawberry.enum_value("sending", description="Being handed to the mail service now.")
    SENT = strawberry.enum_value("sent", description="Accepted by the mail service.")
    FAILED = strawberry.enum_value(
        "failed", description="Given up: `error` says why. It is never sent twice."
    )


@strawberry.type(description="The email of a notification.")
class NotificationEmail:
    state: EmailState = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="Sends tried so far.")
    error: str | None = strawberry.field(description="The last failure (the mail service's answer).")


async def _incident(root: Notification, info: strawberry.Info) -> Incident | None:
    if root._row.incident_id is None:
        return None
    row = await (await loaders_for(info, root._loaders)).incident.load(root._row.incident_id)
    return incident_type(row, root._loaders) if row else None


async def _company(root: Notification, info: strawberry.Info) -> Company | None:
    row = await (await loaders_for(info, root._loaders)).company.load(root._row.company_id)
    return company_type(row) if row else None


async def _recipient(root: Notification, info: strawberry.Info) -> User | None:
    row = await (await loaders_for(info, root._loaders)).user.load(root._row.user_id)
    return user_type(row) if row else None


@strawberry.type(description="Something a person was told: in-app, and by email if they want it.")
class Notification(Node):
    kind: NotificationKind = strawberry.field(description="The event it tells of.")
    subject: str = strawberry.field(description="One line, as the email's subject.")
    body: str = strawberry.field(description="What happened, in a sentence or two.")
    created_at: datetime = strawberry.field(description="When it was written.")
    read: bool = strawberry.field(description="Whether its user has read it.")
    read_at: datetime | None = strawberry.field(description="When its user marked it read (null: unread).")
    email: NotificationEmail = strawberry.field(description="What became of its email.")
    incident: Incident | None = strawberry.field(
        resolver=_incident, description="The incident it is about (null if none, or no longer yours)."
    )
    company: Company | None = strawberry.field(resolver=_company, description="The company it is about.")
    recipient: User | None = strawberry.field(
        resolver=_recipient, description="Who it was for (you, unless an admin reads failed emails)."
    )
    _row: strawberry.Private[Any]
    # A subscription event's own loaders (None: the operation's).
    _loaders: strawberry.Private[IncidentLoaders | None] = None


def notification_type(row: tables.Notification, loaders: IncidentLoaders | None = None) -> Notification:
    return Notification(
        id=to_global_id("Notification", row.id),
        kind=NotificationKind(row.kind),
        subject=row.subject,
        body=row.body,
        created_at=row.created_at,
        read=row.read_at is not None,
        read_at=row.read_at,
        email=NotificationEmail(
            state=EmailState(row.email_state), attempts=row.email_attempts, error=row.email_error
        ),
        _row=row,
        _loaders=loaders,
    )


@strawberry.type(description="Which notifications email you (all of them are shown in-app).")
class NotificationPreferences:
    email_kinds: list[NotificationKind] = strawberry.field(description="The kinds emailed to you.")
    email_enabled: bool = strawberry.field(
        description="Whether this server sends email at all (false: no sender configured, in-app only)."
    )
