"""The decision rule (issue 15 §2): the risk table, every escalation reason, critical assets, and the
same rule for on-demand runs."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from domain.decisions import (
    CascadeRoot,
    DecisionAction,
    DecisionIncident,
    DecisionReason,
    DecisionRunbook,
    RemediationSettings,
    Suggestion,
    decide,
    may_approve,
    on_demand_approval,
)
from domain.errors import PermissionDenied
from domain.rbac import Principal, Role
from domain.runbooks import RunbookRisk

COMPANY = uuid.uuid4()
OTHER = uuid.uuid4()
INCIDENT = DecisionIncident(
    signature="disk_space_low",
    severity="HIGH",
    asset_name="web-01",
    instance_id="i-0abc",
    platform="LINUX",
    critical_asset=False,
    priority_base=64.0,
)
CLEANUP = DecisionRunbook(uuid.uuid4(), 3, "Disk Cleanup", "LOW", True)
SETTINGS = RemediationSettings()

EXECUTE = DecisionAction.EXECUTE_RUNBOOK
ESCALATE = DecisionAction.ESCALATE_TO_TECHNICIAN


@pytest.mark.parametrize(
    ("risk", "auto_approve", "action", "approval", "reason"),
    [
        ("LOW", True, EXECUTE, False, DecisionReason.AUTO_APPROVED),
        ("LOW", False, EXECUTE, True, DecisionReason.APPROVAL_REQUIRED),
        ("MEDIUM", False, EXECUTE, True, DecisionReason.APPROVAL_REQUIRED),
        ("MEDIUM", True, EXECUTE, True, DecisionReason.APPROVAL_REQUIRED),
        ("HIGH", False, ESCALATE, False, DecisionReason.HIGH_RISK),
        ("HIGH", True, ESCALATE, False, DecisionReason.HIGH_RISK),
    ],
)
def test_the_risk_table(
    risk: str, auto_approve: bool, action: DecisionAction, approval: bool, reason: DecisionReason
) -> None:
    runbook = replace(CLEANUP, risk=risk, auto_approve=auto_approve)

    decision = decide(INCIDENT, runbook, SETTINGS, aws_configured=True)

    assert (decision.action, decision.approval_required, decision.reason) == (action, approval, reason)
    assert decision.runbook == runbook
    assert decision.priority_score == 64.0


def test_an_auto_approved_runbook_explains_itself_in_one_sentence() -> None:
    decision = decide(INCIDENT, CLEANUP, SETTINGS, aws_configured=True)

    assert decision.runs_now
    assert decision.explanation == (
        "Disk Cleanup (low risk, auto-approved) matches disk_space_low on web-01; "
        "running it on i-0abc through SSM"
    )


def test_an_approval_request_says_who_approves() -> None:
    decision = decide(INCIDENT, replace(CLEANUP, risk="MEDIUM", auto_approve=False), SETTINGS, True)

    assert not decision.runs_now
    assert decision.explanation == (
        "Disk Cleanup (medium risk, needs approval) matches disk_space_low on web-01; "
        "it runs on i-0abc through SSM once a company admin approves"
    )


def test_no_runbook_escalates() -> None:
    decision = decide(INCIDENT, None, SETTINGS, aws_configured=True)

    assert (decision.action, decision.reason, decision.runbook) == (ESCALATE, DecisionReason.NO_RUNBOOK, None)
    assert decision.explanation == "No runbook matches disk_space_low on web-01; a technician takes it"


def test_no_runbook_on_an_asset_of_unknown_platform_says_so() -> None:
    decision = decide(replace(INCIDENT, platform=None), None, SETTINGS, aws_configured=True)

    assert decision.reason is DecisionReason.NO_RUNBOOK
    assert "platform is unknown" in decision.explanation


@pytest.mark.parametrize(
    ("incident", "settings", "aws", "reason", "says"),
    [
        (INCIDENT, replace(SETTINGS, auto_remediation_enabled=False), True, DecisionReason.REMEDIATION_DISABLED,
         "turned automatic remediation off"),
        (replace(INCIDENT, instance_id=None), SETTINGS, True, DecisionReason.NO_INSTANCE_ID,
         "web-01 has no cloud instance id"),
        (replace(INCIDENT, instance_id=""), SETTINGS, True, DecisionReason.NO_INSTANCE_ID,
         "web-01 has no cloud instance id"),
        (INCIDENT, SETTINGS, False, DecisionReason.NO_AWS_SETTINGS, "has no AWS settings"),
    ],
)  # fmt: skip
def test_a_runbook_that_cannot_run_escalates_saying_why(
    incident: DecisionIncident, settings: RemediationSettings, aws: bool, reason: DecisionReason, says: str
) -> None:
    decision = decide(incident, CLEANUP, settings, aws_configured=aws)

    assert (decision.action, decision.reason, decision.approval_required) == (ESCALATE, reason, False)
    assert decision.runbook == CLEANUP  # what matched is still shown
    assert says in decision.explanation
    assert decision.explanation.endswith("a technician takes it")


def test_high_risk_is_named_before_settings_that_would_stop_it_anyway() -> None:
    decision = decide(
        replace(INCIDENT, instance_id=None),
        replace(CLEANUP, risk="HIGH"),
        replace(SETTINGS, auto_remediation_enabled=False),
        aws_configured=False,
    )

    assert decision.reason is DecisionReason.HIGH_RISK


def test_a_critical_asset_always_needs_an_approval_by_default() -> None:
    decision = decide(replace(INCIDENT, critical_asset=True), CLEANUP, SETTINGS, aws_configured=True)

    assert (decision.action, decision.approval_required, decision.reason) == (
        EXECUTE,
        True,
        DecisionReason.CRITICAL_ASSET,
    )
    assert "web-01 is a critical asset" in decision.explanation


def test_a_critical_asset_runs_unattended_when_the_company_says_so() -> None:
    settings = replace(SETTINGS, approval_on_critical_assets=False)

    decision = decide(replace(INCIDENT, critical_asset=True), CLEANUP, settings, aws_configured=True)

    assert decision.runs_now
    assert decision.reason is DecisionReason.AUTO_APPROVED


def test_the_priority_score_stays_in_range() -> None:
    assert decide(replace(INCIDENT, priority_base=130.0), None, SETTINGS, True).priority_score == 100.0
    assert decide(replace(INCIDENT, priority_base=-4.0), None, SETTINGS, True).priority_score == 0.0


def _principal(role: Role, *companies: uuid.UUID) -> Principal:
    return Principal(uuid.uuid4(), "x@example.com", role, frozenset(companies))


def test_who_approves() -> None:
    assert may_approve(_principal(Role.MSP_ADMIN), COMPANY)
    assert may_approve(_principal(Role.COMPANY_ADMIN, COMPANY), COMPANY)
    assert not may_approve(_principal(Role.COMPANY_ADMIN, OTHER), COMPANY)
    assert not may_approve(_principal(Role.TECHNICIAN, COMPANY), COMPANY)


@pytest.mark.parametrize(
    ("role", "risk", "auto_approve", "critical", "waits"),
    [
        (Role.TECHNICIAN, RunbookRisk.LOW, True, False, False),
        (Role.TECHNICIAN, RunbookRisk.LOW, True, True, True),
        (Role.TECHNICIAN, RunbookRisk.LOW, False, False, True),
        (Role.TECHNICIAN, RunbookRisk.MEDIUM, False, False, True),
        (Role.COMPANY_ADMIN, RunbookRisk.MEDIUM, False, True, False),
        (Role.COMPANY_ADMIN, RunbookRisk.HIGH, False, False, False),
        (Role.MSP_ADMIN, RunbookRisk.HIGH, False, True, False),
    ],
)
def test_on_demand_runs_follow_the_same_rule_and_an_approver_call_is_the_approval(
    role: Role, risk: RunbookRisk, auto_approve: bool, critical: bool, waits: bool
) -> None:
    principal = _principal(role, COMPANY)

    assert on_demand_approval(principal, COMPANY, risk, auto_approve, critical, SETTINGS) is waits


def test_a_technician_cannot_start_a_high_risk_runbook() -> None:
    with pytest.raises(PermissionDenied) as caught:
        on_demand_approval(
            _principal(Role.TECHNICIAN, COMPANY), COMPANY, RunbookRisk.HIGH, False, False, SETTINGS
        )

    assert caught.value.code == "PERMISSION_DENIED"
    assert caught.value.field == "runbookId"


def test_a_runbook_with_parameters_nobody_can_fill_in_escalates() -> None:
    runbook = replace(CLEANUP, missing_parameters=("service", "port"))

    decision = decide(INCIDENT, runbook, SETTINGS, aws_configured=True)

    assert (decision.action, decision.reason) == (ESCALATE, DecisionReason.NEEDS_PARAMETERS)
    assert "needs values for service, port" in decision.explanation


ROOT = CascadeRoot(uuid.uuid4(), "db-01", "DatabaseDown", depth=2)
SUGGESTED = Suggestion(DecisionRunbook(uuid.uuid4(), 1, "Log Rotation", "LOW", True), "BEDROCK")


def test_a_downstream_incident_follows_its_root_whatever_runbook_matches() -> None:
    # given an incident the analysis puts downstream of db-01's open incident, and a runbook that would run
    decision = decide(replace(INCIDENT, root_cause=ROOT), CLEANUP, SETTINGS, True, SUGGESTED)
    # then nothing runs and nobody is paged: it follows the root, which the decision names
    assert (decision.action, decision.reason) == (
        DecisionAction.FOLLOW_ROOT_CAUSE,
        DecisionReason.CASCADE_DOWNSTREAM,
    )
    assert decision.runbook is None
    assert not decision.runs_now
    assert not decision.approval_required
    assert decision.root_incident_id == ROOT.incident_id
    assert "downstream of DatabaseDown on db-01 (2 dependency hops upstream)" in decision.explanation


def test_an_llm_suggestion_is_used_only_when_no_runbook_matches_and_always_with_an_approval() -> None:
    # given a matched runbook and a suggestion / then the match wins, and runs at once
    assert decide(INCIDENT, CLEANUP, SETTINGS, True, SUGGESTED).runbook == CLEANUP
    # given no match / then the suggestion, LOW and auto-approved, still waits for a company admin
    decision = decide(INCIDENT, None, SETTINGS, True, SUGGESTED)
    assert (decision.action, decision.reason) == (EXECUTE, DecisionReason.SUGGESTED_BY_ANALYSIS)
    assert decision.approval_required
    assert decision.runbook == SUGGESTED.runbook
    assert "the Bedrock analysis suggests Log Rotation (low risk)" in decision.explanation


def test_an_llm_suggestion_escalates_for_the_same_reasons_a_match_does() -> None:
    high = Suggestion(replace(SUGGESTED.runbook, risk="HIGH"), "GEMINI")
    assert decide(INCIDENT, None, SETTINGS, True, high).reason is DecisionReason.HIGH_RISK
    no_instance = replace(INCIDENT, instance_id=None)
    assert decide(no_instance, None, SETTINGS, True, SUGGESTED).reason is DecisionReason.NO_INSTANCE_ID
    assert decide(INCIDENT, None, SETTINGS, False, SUGGESTED).reason is DecisionReason.NO_AWS_SETTINGS
