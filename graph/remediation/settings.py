"""A company's remediation settings: automatic remediation on or off, approval always required on
critical assets, and how long an approval request waits (issue 15, "Decisions"). The decisions
reaction and `runbookExecute` read them from the company row at each decision."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from db import tables
from domain.decisions import check_approval_expiry
from domain.errors import NotFound
from domain.rbac import Permission
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    from_global_id,
    mutate,
    require_principal,
    to_global_id,
)
from graph.remediation.approvals import RemediationError, remediation_error


@strawberry.type(description="How a company's incidents may be remediated automatically.")
class RemediationSettings:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")
    auto_remediation_enabled: bool = strawberry.field(
        description="Whether decisions may run runbooks (off: every incident that needs one escalates "
        "to a technician, saying so). On by default."
    )
    approval_on_critical_assets: bool = strawberry.field(
        description="Whether a run on a critical asset always waits for a company admin's approval, "
        "even of an auto-approved low-risk runbook. On by default."
    )
    approval_expiry_minutes: int = strawberry.field(
        description="How long an approval request waits before it expires and the incident escalates "
        "(5 to 10,080; default 60)."
    )


def settings_type(company: tables.Company) -> RemediationSettings:
    return RemediationSettings(
        company_id=to_global_id("Company", company.id),
        auto_remediation_enabled=company.auto_remediation_enabled,
        approval_on_critical_assets=company.approval_on_critical_assets,
        approval_expiry_minutes=company.approval_expiry_minutes,
    )


async def remediation_settings(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of the company.")],
) -> RemediationSettings | None:
    require_principal(info)
    try:
        key = from_global_id(company_id, "Company", field="companyId")
    except NotFound:
        return None
    uow: Any = await info.context.read()
    company = await uow.companies.get(key) if key is not None else None
    # Read by whoever may read the company: technicians see why an incident waits for approval.
    if company is None or not uow.principal.can(Permission.COMPANY_READ, company.id):
        return None
    return settings_type(company)


@strawberry.input(description="A company's remediation settings; omitted fields stay as they are.")
class CompanyRemediationUpdateInput:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")
    auto_remediation_enabled: bool | None = strawberry.field(
        default=None, description="Let decisions run runbooks (false: escalate instead)."
    )
    approval_on_critical_assets: bool | None = strawberry.field(
        default=None, description="Always ask a company admin before running on a critical asset."
    )
    approval_expiry_minutes: int | None = strawberry.field(
        default=None, description="Minutes an approval request waits (5 to 10,080)."
    )


@strawberry.type(description="Result of `companyRemediationUpdate`.")
class CompanyRemediationUpdatePayload:
    settings: RemediationSettings | None = strawberry.field(default=None, description="As stored now.")
    user_errors: list[RemediationError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_remediation_update(
    info: strawberry.Info,
    input: Annotated[CompanyRemediationUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyRemediationUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        changes: dict[str, Any] = {}
        if input.auto_remediation_enabled is not None:
            changes["auto_remediation_enabled"] = input.auto_remediation_enabled
        if input.approval_on_critical_assets is not None:
            changes["approval_on_critical_assets"] = input.approval_on_critical_assets
        if input.approval_expiry_minutes is not None:
            changes["approval_expiry_minutes"] = check_approval_expiry(input.approval_expiry_minutes)
        company = await uow.companies.update_settings(company_id, "company.remediation", **changes)
        return {"settings": settings_type(company)}

    return await mutate(info, work, CompanyRemediationUpdatePayload, remediation_error)
