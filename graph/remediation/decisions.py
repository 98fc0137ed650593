"""`Incident.decision`: the latest decision on an incident, loaded in one statement per page of
incidents (and one for their runbooks), through the caller's scoped repositories."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from db import tables
from db.repositories.remediation import ApprovalRepository, DecisionRepository
from domain import decisions as domain
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.remediation.types import Runbook, runbook_type


@strawberry.enum(description="What was decided for an incident.")
class DecisionAction(enum.Enum):
    EXECUTE_RUNBOOK = strawberry.enum_value(
        "EXECUTE_RUNBOOK", description="Run the matched runbook (now, or once a company admin approves)."
    )
    ESCALATE_TO_TECHNICIAN = strawberry.enum_value(
        "ESCALATE_TO_TECHNICIAN", description="Hand the incident to a technician (see `reason`)."
    )
    FOLLOW_ROOT_CAUSE = strawberry.enum_value(
        "FOLLOW_ROOT_CAUSE",
        description="A downstream symptom of a cascading failure: nothing runs and nobody is paged for it; the "
        "root incident's decision handles the problem (`Incident.rootIncident`). Decided again if it stays "
        "open five minutes after the root incident resolved.",
    )


@strawberry.enum(description="Why a decision is what it is.")
class DecisionReason(enum.Enum):
    AUTO_APPROVED = strawberry.enum_value("AUTO_APPROVED", description="LOW risk and autoApprove: runs now.")
    APPROVAL_REQUIRED = strawberry.enum_value(
        "APPROVAL_REQUIRED",
        description="LOW without autoApprove, or MEDIUM: runs once a company admin approves.",
    )
    CRITICAL_ASSET = strawberry.enum_value(
        "CRITICAL_ASSET", description="Would run now, but the asset is critical: runs once approved."
    )
    NO_RUNBOOK = strawberry.enum_value("NO_RUNBOOK", description="No runbook matches: escalated.")
    HIGH_RISK = strawberry.enum_value("HIGH_RISK", description="The runbook is HIGH risk: escalated.")
    NO_INSTANCE_ID = strawberry.enum_value(
        "NO_INSTANCE_ID", description="The asset has no cloud instance id to run on: escalated."
    )
    NO_AWS_SETTINGS = strawberry.enum_value(
        "NO_AWS_SETTINGS", description="The company has no AWS settings: escalated."
    )
    REMEDIATION_DISABLED = strawberry.enum_value(
        "REMEDIATION_DISABLED", description="The company turned automatic remediation off: escalated."
    )
    NEEDS_PARAMETERS = strawberry.enum_value(
        "NEEDS_PARAMETERS", description="The runbook needs values nobody gave: escalated."
    )
    CASCADE_DOWNSTREAM = strawberry.enum_value(
        "CASCADE_DOWNSTREAM",
        description="Downstream of an open incident the analysis names as the root cause: follows it.",
    )
    SUGGESTED_BY_ANALYSIS = strawberry.enum_value(
        "SUGGESTED_BY_ANALYSIS",
        description="No runbook matches the signature; the LLM analysis suggested this one: runs once a "
        "company admin approves.",
    )


assert {r.name for r in DecisionReason} == {r.name for r in domain.DecisionReason}
assert {a.name for a in DecisionAction} == {a.name for a in domain.DecisionAction}


async def _decision_runbook(root: IncidentDecision, info: strawberry.Info) -> Runbook | None:
    if root._row.runbook_id is None:
        return None
    return await load_runbook(info, root._row.runbook_id, root._loaders)


@strawberry.type(
    description="The latest decision on an incident: run a runbook, hand it to a technician, or follow the "
    "root cause of the cascade it is a symptom of."
)
class IncidentDecision:
    action: DecisionAction = strawberry.field(description="What was decided.")
    reason: DecisionReason = strawberry.field(description="Why, as a code.")
    approval_required: bool = strawberry.field(
        description="The run waits for a company admin's approval (see `remediationApprovals`)."
    )
    priority_score: float = strawberry.field(
        description="The incident's priority when it was decided, 0 to 100."
    )
    explanation: str = strawberry.field(description="The decision in a sentence a technician reads.")
    decided_at: datetime = strawberry.field(description="When it was decided.")
    runbook_version: int | None = strawberry.field(description="The matched runbook's version then.")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    runbook: Runbook | None = strawberry.field(
        resolver=_decision_runbook,
        description="The matched runbook (null when none matched, or one you may not see).",
    )


def decision_type(row: tables.IncidentDecision, loaders: IncidentLoaders | None = None) -> IncidentDecision:
    return IncidentDecision(
        action=DecisionAction(row.action),
        reason=DecisionReason(row.reason),
        approval_required=row.approval_required,
        priority_score=row.priority_score,
        explanation=row.explanation,
        decided_at=row.decided_at,
        runbook_version=row.runbook_version,
        _row=row,
        _loaders=loaders,
    )


def _cached(loaders: IncidentLoaders, key: str, make: Any) -> DataLoader[Any, Any]:
    # Kept on the operation's (or the subscription event's) loaders, never on the connection's
    # context: a websocket's context lives across events, and its cache would answer stale rows.
    store: dict[str, DataLoader[Any, Any]] = vars(loaders).setdefault("_remediation", {})
    if key not in store:
        store[key] = DataLoader(make)
    return store[key]


async def load_decision(
    info: strawberry.Info, incident_id: uuid.UUID, own: IncidentLoaders | None = None
) -> IncidentDecision | None:
    loaders = await loaders_for(info, own)

    async def load(ids: list[uuid.UUID]) -> list[tables.IncidentDecision | None]:
        uow = loaders.uow
        found = {
            d.incident_id: d for d in await DecisionRepository(uow.session, uow.principal).for_incidents(ids)
        }
        return [found.get(i) for i in ids]

    row = await _cached(loaders, "decision", load).load(incident_id)
    return decision_type(row, own) if row is not None else None


async def load_runbook(
    info: strawberry.Info, runbook_id: uuid.UUID, own: IncidentLoaders | None = None
) -> Runbook | None:
    """A readable runbook with its current version, batched (two statements per batch)."""
    loaders = await loaders_for(info, own)

    async def load(ids: list[uuid.UUID]) -> list[Runbook | None]:
        found = await loaders.uow.runbooks.get_many_current(list(ids))
        return [runbook_type(*found[i]) if i in found else None for i in ids]

    found: Runbook | None = await _cached(loaders, "runbook", load).load(runbook_id)
    return found


async def load_approval(
    info: strawberry.Info, approval_id: uuid.UUID, own: IncidentLoaders | None = None
) -> tables.RemediationApproval | None:
    loaders = await loaders_for(info, own)

    async def load(ids: list[uuid.UUID]) -> list[tables.RemediationApproval | None]:
        uow = loaders.uow
        found = {a.id: a for a in await ApprovalRepository(uow.session, uow.principal).get_many(ids)}
        return [found.get(i) for i in ids]

    found: tables.RemediationApproval | None = await _cached(loaders, "approval", load).load(approval_id)
    return found
