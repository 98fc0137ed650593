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


def decide(
    incident: DecisionIncident,
    runbook: DecisionRunbook | None,
    settings: RemediationSettings,
    aws_configured: bool,
) -> Decision:
    """The decision for `incident`, given the best runbook for it (None: none matched)."""
    score = round(max(0.0, min(100.0, incident.priority_base)), 2)
    on = f"{incident.signature} on {incident.asset_name}"

    def escalate(reason: DecisionReason, why: str) -> Decision:
        return Decision(DecisionAction.ESCALATE_TO_TECHNICIAN, runbook, False, reason, score, why)

    if runbook is None:
        if incident.platform is None:
            why = f"No runbook can match {on}: the asset's platform is unknown; a technician takes it"
        else:
            why = f"No runbook matches {on}; a technician takes it"
        return escalate(DecisionReason.NO_RUNBOOK, why)
    risk = RunbookRisk(runbook.risk)
    matched = f"{runbook.name} ({risk.value.lower()} risk) matches {on}"
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
