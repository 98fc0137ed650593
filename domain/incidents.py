"""Incident vocabulary: statuses, timeline event kinds, change kinds for subscribers, manual transitions.

The manual transitions are one table (`TRANSITIONS`): which statuses an action is allowed from, the
status it leads to and the timeline event it records; `manual_change` turns an action on an incident
into the whole change the writer applies (fields, timeline, outbox kind, whether alerts close).
Automatic changes (alerts joining, resolve messages, flapping, auto-resolve) are the correlation
rules in `domain.correlation`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

from domain.errors import InvalidTransition


class IncidentStatus(enum.StrEnum):
    """Where an incident stands; RESOLVED is the only closed status."""

    NEW = "NEW"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    ESCALATED = "ESCALATED"
    WAITING_ON_CLIENT = "WAITING_ON_CLIENT"


class IncidentEventKind(enum.StrEnum):
    """What an entry of the incident's timeline records."""

    CREATED = "CREATED"
    ALERT_ADDED = "ALERT_ADDED"
    DUPLICATE = "DUPLICATE"  # no longer written: a repeat is counted, not logged (kept for older entries)
    SEVERITY_RAISED = "SEVERITY_RAISED"
    ALERT_RESOLVED = "ALERT_RESOLVED"
    RESOLVED = "RESOLVED"
    AUTO_RESOLVED = "AUTO_RESOLVED"
    REOPENED = "REOPENED"
    FLAPPING_STARTED = "FLAPPING_STARTED"
    FLAPPING_STOPPED = "FLAPPING_STOPPED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    MANUALLY_RESOLVED = "MANUALLY_RESOLVED"
    ESCALATED = "ESCALATED"
    WORK_STARTED = "WORK_STARTED"
    WAITING_ON_CLIENT = "WAITING_ON_CLIENT"
    ASSIGNED = "ASSIGNED"
    UNASSIGNED = "UNASSIGNED"  # it needed a person and nobody could take it (the admins were told)
    COMMENT = "COMMENT"
    # Remediation (issue 15): the decision, its approval, the run and whether the fix held.
    DECIDED = "DECIDED"
    APPROVAL_REQUESTED = "APPROVAL_REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    APPROVAL_WITHDRAWN = "APPROVAL_WITHDRAWN"
    REMEDIATION_STARTED = "REMEDIATION_STARTED"
    REMEDIATION_SUCCEEDED = "REMEDIATION_SUCCEEDED"
    REMEDIATION_FAILED = "REMEDIATION_FAILED"
    REMEDIATION_NOT_HELD = "REMEDIATION_NOT_HELD"
    # SLA clocks (issue 17).
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"


class IncidentChangeKind(enum.StrEnum):
    """The kind of change announced to subscribers."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One entry of an incident's timeline. `data` holds JSON-ready values (str, int, bool, lists)."""

    kind: IncidentEventKind
    at: datetime
    alert_id: UUID | None = None
    data: dict[str, Any] = field(default_factory=dict)


class IncidentAction(enum.StrEnum):
    """A manual step a technician takes on an incident."""

    ACKNOWLEDGE = "acknowledge"
    START_WORK = "start_work"
    ESCALATE = "escalate"
    WAIT_ON_CLIENT = "wait_on_client"
    RESOLVE = "resolve"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Transition:
    """An action's rule: allowed from `sources`, leads to `target`, recorded as `event`."""

    sources: frozenset[IncidentStatus]
    target: IncidentStatus
    event: IncidentEventKind


_S = IncidentStatus

_OPEN = frozenset(set(_S) - {_S.RESOLVED})

# Acknowledging is allowed from the other open statuses too: it records that someone owns it now.
# Waiting on the client needs someone to have taken the incident first (not from NEW).
TRANSITIONS: Mapping[IncidentAction, Transition] = MappingProxyType(
    {
        IncidentAction.ACKNOWLEDGE: Transition(
            _OPEN - {_S.ACKNOWLEDGED}, _S.ACKNOWLEDGED, IncidentEventKind.ACKNOWLEDGED
        ),
        IncidentAction.START_WORK: Transition(
            _OPEN - {_S.IN_PROGRESS}, _S.IN_PROGRESS, IncidentEventKind.WORK_STARTED
        ),
        IncidentAction.ESCALATE: Transition(
            _OPEN - {_S.ESCALATED}, _S.ESCALATED, IncidentEventKind.ESCALATED
        ),
        IncidentAction.WAIT_ON_CLIENT: Transition(
            _OPEN - {_S.NEW, _S.WAITING_ON_CLIENT}, _S.WAITING_ON_CLIENT, IncidentEventKind.WAITING_ON_CLIENT
        ),
        IncidentAction.RESOLVE: Transition(_OPEN, _S.RESOLVED, IncidentEventKind.MANUALLY_RESOLVED),
        IncidentAction.REOPEN: Transition(frozenset({_S.RESOLVED}), _S.NEW, IncidentEventKind.REOPENED),
    }
)


def transition(status: IncidentStatus, action: IncidentAction) -> IncidentStatus:
    """The status after `action`, or InvalidTransition (code INVALID_TRANSITION, field `status`)."""
    rule = TRANSITIONS[action]
    if status not in rule.sources:
        raise InvalidTransition(f"cannot {action.value} an incident that is {status.value}", field="status")
    return rule.target


@dataclass(frozen=True, slots=True)
class ManualChange:
    """What one manual action does to an incident, for the writer to apply as a whole.

    `acknowledged`: set acknowledged_at/by to now and the actor. `resolved_at`: the new value (None
    clears it on a reopen). `resolved`: the incident closes, so its active fingerprints are cleared,
    it stops flapping, and its open alerts close with it (`close_alerts`).
    """

    before: IncidentStatus
    status: IncidentStatus
    events: tuple[TimelineEvent, ...]
    change_kind: IncidentChangeKind
    acknowledged: bool
    resolved_at: datetime | None
    resolved: bool
    close_alerts: bool
    # True: resolved by a runbook that ran and passed its health check; False: cleared (a reopen);
    # None: unchanged.
    auto_remediated: bool | None = None


def manual_change(
    status: IncidentStatus,
    flapping: bool,
    resolved_at: datetime | None,
    action: IncidentAction,
    note: str | None,
    now: datetime,
    *,
    remediated: bool = False,
    data: Mapping[str, Any] | None = None,
) -> ManualChange:
    """The change `action` makes to an incident that is `status` (InvalidTransition if not allowed).

    `remediated`: a resolve by a runbook that ran (the incident becomes autoRemediated). `data`: more
    JSON-ready facts for the timeline entry (the execution, the reason of an escalation).
    """
    after = transition(status, action)
    entry: dict[str, Any] = {"from": status.value, "to": after.value, **(data or {})}
    if note:
        entry["note"] = note
    events = [TimelineEvent(TRANSITIONS[action].event, now, data=entry)]
    resolved = after is _S.RESOLVED
    if resolved and flapping:
        # As auto-resolve does: a closed incident is no longer flapping.
        events.append(TimelineEvent(IncidentEventKind.FLAPPING_STOPPED, now))
    return ManualChange(
        before=status,
        status=after,
        events=tuple(events),
        change_kind=IncidentChangeKind.RESOLVED if resolved else IncidentChangeKind.UPDATED,
        acknowledged=action is IncidentAction.ACKNOWLEDGE,
        resolved_at=now if resolved else (None if action is IncidentAction.REOPEN else resolved_at),
        resolved=resolved,
        close_alerts=resolved,
        auto_remediated=remediated if resolved else (False if action is IncidentAction.REOPEN else None),
    )


def acknowledge(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.ACKNOWLEDGE)


def resolve(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.RESOLVE)


def reopen(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.REOPEN)


# The automated principals that change incidents, as the outbox (`incident_changes.actor`) names
# them; a person is `user:<id>` (`Principal.actor`).
CORRELATION_ACTOR = "system:correlation"
AUTO_RESOLVE_ACTOR = "system:auto-resolve"
DECISION_ACTOR = "system:decisions"
REMEDIATION_ACTOR = "system:remediation"
SLA_ACTOR = "system:sla"
ASSIGNMENT_ACTOR = "system:assignment"
WITHDRAWAL_ACTOR = "system:approval-withdrawal"
