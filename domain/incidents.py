"""Incident vocabulary: statuses, timeline event kinds, change kinds for subscribers, manual transitions.

The manual transitions are one table (`TRANSITIONS`): which statuses an action is allowed from, the
status it leads to and the timeline event it records. Automatic changes (alerts joining, resolve
messages, flapping, auto-resolve) are the correlation rules in `domain.correlation`.
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
    ASSIGNED = "ASSIGNED"
    COMMENT = "COMMENT"


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
    RESOLVE = "resolve"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Transition:
    """An action's rule: allowed from `sources`, leads to `target`, recorded as `event`."""

    sources: frozenset[IncidentStatus]
    target: IncidentStatus
    event: IncidentEventKind


_S = IncidentStatus

# Acknowledging is allowed from IN_PROGRESS and ESCALATED too: it records that someone owns it now.
TRANSITIONS: Mapping[IncidentAction, Transition] = MappingProxyType(
    {
        IncidentAction.ACKNOWLEDGE: Transition(
            frozenset({_S.NEW, _S.IN_PROGRESS, _S.ESCALATED}), _S.ACKNOWLEDGED, IncidentEventKind.ACKNOWLEDGED
        ),
        IncidentAction.RESOLVE: Transition(
            frozenset(set(_S) - {_S.RESOLVED}), _S.RESOLVED, IncidentEventKind.MANUALLY_RESOLVED
        ),
        IncidentAction.REOPEN: Transition(frozenset({_S.RESOLVED}), _S.NEW, IncidentEventKind.REOPENED),
    }
)


def transition(status: IncidentStatus, action: IncidentAction) -> IncidentStatus:
    """The status after `action`, or InvalidTransition (code INVALID_TRANSITION, field `status`)."""
    rule = TRANSITIONS[action]
    if status not in rule.sources:
        raise InvalidTransition(f"cannot {action.value} an incident that is {status.value}", field="status")
    return rule.target


def acknowledge(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.ACKNOWLEDGE)


def resolve(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.RESOLVE)


def reopen(status: IncidentStatus) -> IncidentStatus:
    return transition(status, IncidentAction.REOPEN)


# Who made an incident change, as the outbox (`incident_changes.actor`) names it: a user, or one of
# the automated principals.
CORRELATION_ACTOR = "system:correlation"
AUTO_RESOLVE_ACTOR = "system:auto-resolve"


def user_actor(user_id: UUID) -> str:
    return f"user:{user_id}"
