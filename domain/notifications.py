"""Notifications: which events tell people, which of them a user wants by email, and the email itself.

In-app notifications are always written; email is a per-user choice among `NotificationKind`s
(every kind by default). Composing the email is pure: the mailer loop gathers the facts (incident,
asset, severity, priority, SLA deadline, the decision's explanation) and `compose_email` writes the
subject and both bodies, HTML-escaped.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidInput
from domain.ports import EmailMessage


class NotificationKind(enum.StrEnum):
    """The events that tell people."""

    ASSIGNED = "ASSIGNED"
    UNASSIGNED = "UNASSIGNED"
    ESCALATED = "ESCALATED"
    APPROVAL_REQUESTED = "APPROVAL_REQUESTED"
    REMEDIATION_FAILED = "REMEDIATION_FAILED"
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"


ALL_KINDS: tuple[NotificationKind, ...] = tuple(NotificationKind)

# An email that SES refused (or could not be reached for) is tried again after 30 s, 1, 2, 4, 8 min;
# after the sixth failure it stays `failed` with its error, for admins to see.
MAX_EMAIL_ATTEMPTS = 6
FIRST_EMAIL_RETRY_SECONDS = 30.0
MAX_EMAIL_RETRY_SECONDS = 3600.0
# How long a mailer may hold a claimed email before it counts as lost (the process stopped while
# sending): SES calls take well under a second, botocore's own retries a few more.
EMAIL_LEASE_SECONDS = 120.0
# What a lost send is recorded as: it may or may not have reached SES, and sending it again could
# mail it twice, so it ends here instead.
UNKNOWN_OUTCOME = "the mailer stopped while sending; not retried, so it can never be sent twice"


def email_retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed send."""
    return timedelta(
        seconds=min(MAX_EMAIL_RETRY_SECONDS, FIRST_EMAIL_RETRY_SECONDS * 2 ** max(0, attempts - 1))
    )


def email_kinds(stored: Iterable[str] | None) -> frozenset[NotificationKind]:
    """The kinds a user gets by email: what they chose, every kind if they never chose. Stored values
    the code no longer knows are ignored."""
    if stored is None:
        return frozenset(ALL_KINDS)
    known = {k.value: k for k in NotificationKind}
    return frozenset(known[v] for v in stored if v in known)


def check_email_kinds(kinds: Iterable[str]) -> list[str]:
    """The choice to store, deduplicated in the enum's order; an unknown kind is refused."""
    wanted = list(kinds)
    known = {k.value for k in NotificationKind}
    for value in wanted:
        if value not in known:
            raise InvalidInput(f"{value!r} is not a notification kind", field="emailKinds")
    return [k.value for k in NotificationKind if k.value in wanted]


def wants_email(kind: str, stored: Iterable[str] | None) -> bool:
    try:
        return NotificationKind(kind) in email_kinds(stored)
    except ValueError:
        return True  # a kind this code does not know yet: email it rather than drop it silently


@dataclass(frozen=True, slots=True)
class EmailFacts:
    """What an email says about its incident; any of it may be missing (a notification without an
    incident, an incident not decided yet, no SLA clock)."""

    subject: str
    body: str
    kind: str
    company: str
    incident_title: str | None = None
    asset: str | None = None
    severity: str | None = None
    status: str | None = None
    priority: int | None = None
    sla_deadline: datetime | None = None
    explanation: str | None = None
    link: str | None = None


def facts_from_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Facts a producer put in the notification's `data` (they win over what the mailer read)."""
    out: dict[str, Any] = {}
    for key in ("explanation", "asset", "severity"):
        value = data.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    deadline = data.get("sla_deadline")
    if isinstance(deadline, str):
        try:
            out["sla_deadline"] = datetime.fromisoformat(deadline)
        except ValueError:
            pass
    return out


def _rows(facts: EmailFacts) -> list[tuple[str, str]]:
    rows = [("Company", facts.company)]
    if facts.incident_title:
        rows.append(("Incident", facts.incident_title))
    if facts.asset:
        rows.append(("Asset", facts.asset))
    if facts.severity:
        rows.append(("Severity", facts.severity))
    if facts.status:
        rows.append(("Status", facts.status.replace("_", " ").lower()))
    if facts.priority is not None:
        rows.append(("Priority", f"{facts.priority}/100"))
    if facts.sla_deadline is not None:
        rows.append(("SLA deadline", facts.sla_deadline.strftime("%Y-%m-%d %H:%M UTC")))
    if facts.explanation:
        rows.append(("Decision", facts.explanation))
    return rows


def compose_email(facts: EmailFacts, to: str, idempotency_key: str) -> EmailMessage:
    """The email of one notification: subject, plain text and HTML (every value escaped)."""
    rows = _rows(facts)
    width = max(len(label) for label, _ in rows)
    text_lines = [facts.body, "", *(f"{label.ljust(width)}  {value}" for label, value in rows)]
    if facts.link:
        text_lines += ["", f"Open the incident: {facts.link}"]
    text_lines += ["", "-- AlertWhisperer (change which events email you in your notification settings)"]
    e = html.escape
    cells = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{e(label)}</th><td>{e(value)}</td></tr>'
        for label, value in rows
    )
    link = f'<p><a href="{e(facts.link, quote=True)}">Open the incident</a></p>' if facts.link else ""
    body_html = (
        f"<html><body><p>{e(facts.body)}</p><table>{cells}</table>{link}"
        '<p style="color:#666">AlertWhisperer: change which events email you in your notification '
        "settings.</p></body></html>"
    )
    return EmailMessage(
        to=(to,),
        subject=f"[{facts.company}] {facts.subject}"[:200],
        text="\n".join(text_lines),
        html=body_html,
        idempotency_key=idempotency_key,
    )


def incident_link(public_url: str | None, incident_global_id: str | None) -> str | None:
    if not public_url or not incident_global_id:
        return None
    return f"{public_url.rstrip('/')}/incidents/{incident_global_id}"
