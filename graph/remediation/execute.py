"""`runbookExecute`: a person runs a runbook on assets, under the decisions' risk and approval rules.

A LOW-risk autoApprove runbook runs at once; anything else becomes an approval request, unless the
caller approves remediations for the company (a company admin of it, an MSP admin): their call is the
approval. A technician cannot start a HIGH-risk runbook at all. Everything is checked before anything
is written, and the writes share the mutation's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from db.approvals import approval_row
from db.decisions import execution_request, request_approval, runbook_version, start_execution
from domain.decisions import RemediationSettings, on_demand_approval
from domain.errors import DomainError, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from domain.rbac import Permission
from domain.runbooks import RunbookRisk
from graph.core import INPUT_DESCRIPTION, USER_ERRORS_DESCRIPTION, from_global_id, mutate, now, to_global_id
from graph.remediation.approvals import (
    RemediationApproval,
    RemediationError,
    approval_type,
    raw_connection,
    remediation_error,
)

MAX_ASSETS = 50
# A demo company's runs are simulated (`companies.demo`): they need no AWS settings.
AWS_CONFIGURED = (
    "SELECT EXISTS (SELECT 1 FROM company_aws_settings WHERE company_id = $1)"
    " OR EXISTS (SELECT 1 FROM companies WHERE id = $1 AND demo)"
)
APPROVAL = "SELECT * FROM remediation_approvals WHERE id = $1"


@strawberry.input(description="Which runbook to run, on which assets, with which values.")
class RunbookExecuteInput:
    runbook_id: strawberry.ID = strawberry.field(
        description="The runbook's global ID (its current version runs)."
    )
    asset_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 50 assets of one company, each with a cloud instance id and the runbook's platform."
    )
    parameters: JSON | None = strawberry.field(
        default=None, description="Parameter values by name (an object); omitted ones take their defaults."
    )
    incident_id: strawberry.ID | None = strawberry.field(
        default=None, description="The incident this run is for (global ID), if any: its timeline records it."
    )


@strawberry.type(
    description="Result of `runbookExecute`: the execution started, or the approval it waits for."
)
class RunbookExecutePayload:
    execution_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the execution started (kind `Execution`); null when it waits."
    )
    approval: RemediationApproval | None = strawberry.field(
        default=None, description="The approval request the run waits for; null when it started."
    )
    user_errors: list[RemediationError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def runbook_execute(
    info: strawberry.Info,
    input: Annotated[RunbookExecuteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RunbookExecutePayload:
    return await mutate(
        info, lambda uow: _execute(uow, input, now(info)), RunbookExecutePayload, remediation_error
    )


async def _execute(uow: Any, input: RunbookExecuteInput, at: datetime) -> dict[str, Any]:
    principal = uow.principal
    runbook_id = from_global_id(input.runbook_id, "Runbook", field="runbookId")
    found = await uow.runbooks.get_current(runbook_id)
    if found is None:
        raise NotFound("runbook not found", field="runbookId")
    runbook, version = found
    if runbook.archived_at is not None:
        raise InvalidTransition("an archived runbook cannot run", field="runbookId")

    if not input.asset_ids or len(input.asset_ids) > MAX_ASSETS:
        raise InvalidInput(f"give 1 to {MAX_ASSETS} assets", field="assetIds")
    asset_ids = list(dict.fromkeys(from_global_id(a, "Asset", field="assetIds") for a in input.asset_ids))
    assets = {a.id: a for a in await uow.assets.get_many(asset_ids)}
    if len(assets) != len(asset_ids):
        raise NotFound("asset not found", field="assetIds")
    ordered = [assets[i] for i in asset_ids]
    companies = {a.company_id for a in ordered}
    if len(companies) != 1:
        raise InvalidInput("the assets must all belong to one company", field="assetIds")
    [company_id] = companies
    if runbook.company_id is not None and runbook.company_id != company_id:
        raise InvalidInput("the runbook belongs to another company than the assets", field="runbookId")
    if not principal.can(Permission.INCIDENT_WORK, company_id):
        raise PermissionDenied("you do not have permission to run runbooks for this company")
    for asset in ordered:
        if not asset.cloud_instance_id:
            raise DomainError(
                f"{asset.name} has no cloud instance id to run on", field="assetIds", code="NO_INSTANCE_ID"
            )
        if asset.platform != version.platform:
            raise DomainError(
                f"{asset.name} is {asset.platform or 'of unknown platform'}, the runbook is for {version.platform}",
                field="assetIds",
                code="WRONG_PLATFORM",
            )

    incident_id = None
    if input.incident_id is not None:
        incident_id = from_global_id(input.incident_id, "Incident", field="incidentId")
        incident = await uow.incidents.get(incident_id)
        if incident is None:
            raise NotFound("incident not found", field="incidentId")
        if incident.company_id != company_id:
            raise InvalidInput("the incident belongs to another company than the assets", field="incidentId")

    if input.parameters is not None and not isinstance(input.parameters, dict):
        raise InvalidInput("must be an object of values by parameter name", field="parameters")
    parameters = dict(input.parameters or {})

    conn = await raw_connection(uow)
    if not await conn.fetchval(AWS_CONFIGURED, company_id):
        raise DomainError("the company has no AWS settings", field="assetIds", code="AWS_NOT_CONFIGURED")
    company = await uow.companies.get(company_id)
    if company is None:
        raise NotFound("asset not found", field="assetIds")
    frozen = await runbook_version(conn, runbook.id, version.version)
    assert frozen is not None
    instance_ids = [a.cloud_instance_id for a in ordered]
    # Rendered now, so bad values are refused before anything is written, whichever way it goes.
    execution_request(
        company_id=company_id,
        incident_id=incident_id,
        runbook=frozen,
        asset_ids=asset_ids,
        instance_ids=instance_ids,
        parameters=parameters,
        started_by=principal.actor,
    )
    settings = RemediationSettings(
        auto_remediation_enabled=company.auto_remediation_enabled,
        approval_on_critical_assets=company.approval_on_critical_assets,
        approval_expiry_minutes=company.approval_expiry_minutes,
    )
    waits = on_demand_approval(
        principal,
        company_id,
        RunbookRisk(version.risk),
        version.auto_approve,
        any(a.is_critical for a in ordered),
        settings,
    )
    actor_id = None if principal.is_system else principal.user_id
    out: dict[str, Any] = {}
    if waits:
        approval_id = await request_approval(
            conn,
            company_id=company_id,
            incident_id=incident_id,
            runbook=frozen,
            asset_ids=asset_ids,
            instance_ids=instance_ids,
            parameters=parameters,
            requested_by=principal.actor,
            now=at,
            expiry_minutes=settings.approval_expiry_minutes,
            explanation=f"{principal.email} asks to run {frozen.name} on {', '.join(a.name for a in ordered)}",
            actor_id=actor_id,
            strict=True,
        )
        assert approval_id is not None  # strict: refused with a Conflict otherwise
        out["approval"] = approval_type(approval_row(await conn.fetchrow(APPROVAL, approval_id)))
        target: dict[str, Any] = {"approvalId": str(approval_id)}
    else:
        execution_id = await start_execution(
            conn,
            company_id=company_id,
            incident_id=incident_id,
            runbook=frozen,
            asset_ids=asset_ids,
            instance_ids=instance_ids,
            parameters=parameters,
            started_by=principal.actor,
            now=at,
        )
        assert execution_id is not None  # only an approval's execution can exist already
        out["execution_id"] = to_global_id("Execution", execution_id)
        target = {"executionId": str(execution_id)}
    await uow.audit.record(
        "runbook.execute",
        "runbook",
        runbook.id,
        company_id=company_id,
        after={
            "version": version.version,
            "assetIds": [str(a) for a in asset_ids],
            "incidentId": str(incident_id) if incident_id else None,
            **target,
        },
    )
    return out
