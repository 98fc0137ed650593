"""Decisions: what happens to an incident once a runbook was (or was not) matched to it.

The rule of issue 15 §2, as one pure function (`decide`):

| runbook                          | decision                                          |
|----------------------------------|---------------------------------------------------|
| LOW and `autoApprove`            | EXECUTE_RUNBOOK now                               |
| LOW without `autoApprove`, MEDIUM | EXECUTE_RUNBOOK once a company admin approves    |
| HIGH, or none                    | ESCALATE_TO_TECHNICIAN                            |

A runbook that cannot run escalates too, saying why: the asset has no instance id (SSM needs one),
the company has no AWS settings, or it turned automatic remediation off. A critical asset always
needs an approval when the company says so (the default). Every decision carries a reason code and
a sentence a technician reads on the incident.

The analysis is used where it exists (issue 18):
- a downstream incident of a cascading failure, whose root incident is open, FOLLOWs THE ROOT CAUSE:
  nothing runs on a symptom and nobody is paged for it; the root's own decision handles the problem
  (`db.decisions.release_followers` decides it again if it outlives its root);
- when no runbook matches the signature but an LLM analysis suggested one of the asset's platform,
  that runbook is used, always after a company admin's approval (a model's pick never runs alone).

`on_demand_approval` is the same risk rule for `runbookExecute`, where a person asks for the run.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from domain.errors import InvalidInput, PermissionDenied
from domain.rbac import Permission, Principal, Role
from domain.runbooks import RunbookRisk


class DecisionAction(enum.StrEnum):
    EXECUTE_RUNBOOK = "EXECUTE_RUNBOOK"
    ESCALATE_TO_TECHNICIAN = "ESCALATE_TO_TECHNICIAN"
    FOLLOW_ROOT_CAUSE = "FOLLOW_ROOT_CAUSE"


class DecisionReason(enum.StrEnum):
    """Why the decision is what it is (machine-readable; the explanation says it in words)."""

    AUTO_APPROVED = "AUTO_APPROVED"  # LOW risk and autoApprove: runs now
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"  # LOW without autoApprove, or MEDIUM
    CRITICAL_ASSET = "CRITICAL_ASSET"  # would run now, but the asset is critical: an admin approves
    NO_RUNBOOK = "NO_RUNBOOK"
    HIGH_RISK = "HIGH_RISK"
    NO_INSTANCE_ID = "NO_INSTANCE_ID"
    NO_AWS_SETTINGS = "NO_AWS_SETTINGS"
    NEEDS_PARAMETERS = "NEEDS_PARAMETERS"
    REMEDIATION_DISABLED = "REMEDIATION_DISABLED"
    CASCADE_DOWNSTREAM = "CASCADE_DOWNSTREAM"  # a symptom of an open root incident: follows it
    SUGGESTED_BY_ANALYSIS = "SUGGESTED_BY_ANALYSIS"  # no signature match; the LLM analysis's pick, approved


@dataclass(frozen=True, slots=True)
class DecisionIncident:
    """What the rule reads of an incident and its asset."""

    signature: str
    severity: str
    asset_name: str
    instance_id: str | None
    platform: str | None
    critical_asset: bool
    priority_base: float = 0.0
    #: The open incident upstream that the analysis names as this one's root cause, if any.
    root_cause: CascadeRoot | None = None


@dataclass(frozen=True, slots=True)
class CascadeRoot:
    """The root incident of a cascade a decided incident is downstream of."""

    incident_id: uuid.UUID
    asset_name: str
    signature: str
    depth: int = 1


@dataclass(frozen=True, slots=True)
class DecisionRunbook:
    """The matched runbook's current version."""

    id: uuid.UUID
    version: int
    name: str
    risk: str
    auto_approve: bool
    #: Parameters without a default: nobody is there to give them, so it cannot run unattended.
    missing_parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemediationSettings:
    """A company's remediation settings (migration 0024)."""

    auto_remediation_enabled: bool = True
    approval_on_critical_assets: bool = True
    approval_expiry_minutes: int = 60


APPROVAL_EXPIRY_MINUTES = (5, 10080)  # five minutes to a week (the table's check says the same)


def check_approval_expiry(minutes: int, field: str = "approvalExpiryMinutes") -> int:
    low, high = APPROVAL_EXPIRY_MINUTES
    if not low <= minutes <= high:
        raise InvalidInput(f"must be between {low} and {high:,} minutes", field=field)
    return minutes


@dataclass(frozen=True, slots=True)
class Decision:
    action: DecisionAction
    runbook: DecisionRunbook | None
    approval_required: bool
    reason: DecisionReason
    priority_score: float
    explanation: str
    #: FOLLOW_ROOT_CAUSE: the root incident followed.
    root_incident_id: uuid.UUID | None = None

    @property
    def runs_now(self) -> bool:
        return self.action is DecisionAction.EXECUTE_RUNBOOK and not self.approval_required


def needs_approval(risk: RunbookRisk, auto_approve: bool) -> bool:
    """The risk rule: only a LOW-risk runbook marked autoApprove runs without anyone's approval."""
    return not (risk is RunbookRisk.LOW and auto_approve)


def _label(runbook: DecisionRunbook) -> str:
    risk = runbook.risk.lower()
    approved = (
        "auto-approved" if runbook.auto_approve and runbook.risk == RunbookRisk.LOW else "needs approval"
    )
    return f"{runbook.name} ({risk} risk, {approved})"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The runbook an LLM analysis suggested (`source`: BEDROCK, GEMINI), one the asset can run."""

    runbook: DecisionRunbook
    source: str


def decide(
    incident: DecisionIncident,
    runbook: DecisionRunbook | None,
    settings: RemediationSettings,
    aws_configured: bool,
    suggestion: Suggestion | None = None,
) -> Decision:
    """The decision for `incident`, given the best runbook for it (None: none matched) and what an
    LLM analysis suggested (used only when none matched)."""
    score = round(max(0.0, min(100.0, incident.priority_base)), 2)
    on = f"{incident.signature} on {incident.asset_name}"
    root = incident.root_cause
    if root is not None:
        hops = f"{root.depth} dependency hop{'s' if root.depth != 1 else ''} upstream"
        return Decision(
            DecisionAction.FOLLOW_ROOT_CAUSE,
            None,
            False,
            DecisionReason.CASCADE_DOWNSTREAM,
            score,
            f"{on} is downstream of {root.signature} on {root.asset_name} ({hops}), whose open incident is "
            f"the likely root cause: nothing runs here and nobody is paged for it; fixing "
            f"{root.asset_name} should clear it. It is decided again if it stays open after that incident "
            "resolves.",
            root_incident_id=root.incident_id,
        )
    suggested_by: str | None = None
    if runbook is None and suggestion is not None:
        runbook, suggested_by = suggestion.runbook, suggestion.source

    def escalate(reason: DecisionReason, why: str) -> Decision:
        return Decision(DecisionAction.ESCALATE_TO_TECHNICIAN, runbook, False, reason, score, why)

    if runbook is None:
        if incident.platform is None:
            why = f"No runbook can match {on}: the asset's platform is unknown; a technician takes it"
        else:
            why = f"No runbook matches {on}; a technician takes it"
        return escalate(DecisionReason.NO_RUNBOOK, why)
    risk = RunbookRisk(runbook.risk)
    if suggested_by is None:
        matched = f"{runbook.name} ({risk.value.lower()} risk) matches {on}"
    else:
        matched = (
            f"No runbook matches {on} by its signature; the {suggested_by.title()} analysis suggests "
            f"{runbook.name} ({risk.value.lower()} risk)"
        )
    if risk is RunbookRisk.HIGH:
        return escalate(
            DecisionReason.HIGH_RISK,
            f"{matched}, but high-risk runbooks never run automatically; a technician takes it",
        )
    if not settings.auto_remediation_enabled:
        return escalate(
            DecisionReason.REMEDIATION_DISABLED,
            f"{matched}, but the company turned automatic remediation off; a technician takes it",
        )
    if not incident.instance_id:
        return escalate(
            DecisionReason.NO_INSTANCE_ID,
            f"{matched}, but {incident.asset_name} has no cloud instance id to run it on; a technician takes it",
        )
    if not aws_configured:
        return escalate(
            DecisionReason.NO_AWS_SETTINGS,
            f"{matched}, but the company has no AWS settings to run it through SSM; a technician takes it",
        )
    if runbook.missing_parameters:
        return escalate(
            DecisionReason.NEEDS_PARAMETERS,
            f"{matched}, but it needs values for {', '.join(runbook.missing_parameters)}; a technician takes it",
        )
    target = f"on {incident.instance_id} through SSM"
    if suggested_by is not None:
        return Decision(
            DecisionAction.EXECUTE_RUNBOOK,
            runbook,
            True,
            DecisionReason.SUGGESTED_BY_ANALYSIS,
            score,
            f"{matched}; it runs {target} once a company admin approves (a model's suggestion never "
            "runs without one)",
        )
    if needs_approval(risk, runbook.auto_approve):
        return Decision(
            DecisionAction.EXECUTE_RUNBOOK,
            runbook,
            True,
            DecisionReason.APPROVAL_REQUIRED,
            score,
            f"{_label(runbook)} matches {on}; it runs {target} once a company admin approves",
        )
    if incident.critical_asset and settings.approval_on_critical_assets:
        return Decision(
            DecisionAction.EXECUTE_RUNBOOK,
            runbook,
            True,
            DecisionReason.CRITICAL_ASSET,
            score,
            f"{_label(runbook)} matches {on}; {incident.asset_name} is a critical asset, so it runs "
            f"{target} once a company admin approves",
        )
    return Decision(
        DecisionAction.EXECUTE_RUNBOOK,
        runbook,
        False,
        DecisionReason.AUTO_APPROVED,
        score,
        f"{_label(runbook)} matches {on}; running it {target}",
    )


# ---- on demand (`runbookExecute`) and approvals ------------------------------------------------


def may_approve(principal: Principal, company_id: uuid.UUID) -> bool:
    """Company admins of the company and MSP admins approve remediations; technicians never do."""
    return principal.role in (Role.MSP_ADMIN, Role.COMPANY_ADMIN) and principal.can(
        Permission.REMEDIATION_APPROVE, company_id
    )


def require_approver(principal: Principal, company_id: uuid.UUID) -> None:
    if not may_approve(principal, company_id):
        raise PermissionDenied("only a company admin of this company or an MSP admin approves remediations")


def on_demand_approval(
    principal: Principal,
    company_id: uuid.UUID,
    risk: RunbookRisk,
    auto_approve: bool,
    critical_asset: bool,
    settings: RemediationSettings,
) -> bool:
    """Whether a run a person asks for waits for an approval (True) or runs now (False).

    The same risk rule as a decision; an approver's own call is the approval. A technician may ask
    for LOW and MEDIUM runs (approved by an admin where the rule wants it) but not for a HIGH one,
    which only an approver starts (PermissionDenied).
    """
    approver = may_approve(principal, company_id)
    if risk is RunbookRisk.HIGH and not approver:
        raise PermissionDenied(
            "a high-risk runbook is run by a company admin or an MSP admin only", field="runbookId"
        )
    if approver:
        return False
    if needs_approval(risk, auto_approve):
        return True
    return critical_asset and settings.approval_on_critical_assets
