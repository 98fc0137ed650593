"""Approval requests: `remediationApprovals`, `remediationApprove`, `remediationReject`, and the
`RemediationApproval` type (also the approval `runbookExecute` may answer)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from db import approvals
from db.repositories.remediation import ApprovalRepository
from domain.errors import DomainError
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    Connection,
    Node,
    connection,
    from_global_id,
    mutate,
    now,
    require_principal,
    to_global_id,
    user_error,
)
from graph.enums import RemediationErrorCode
from graph.incidents.loaders import loaders_for
from graph.incidents.queries import decode_id
from graph.incidents.types import Incident, incident_type
from graph.platform.types import Company, User, company_type, user_type
from graph.remediation.decisions import load_runbook
from graph.remediation.types import Runbook


@strawberry.enum(description="Where an approval request stands.")
class RemediationApprovalStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Waiting for a company admin.")
    APPROVED = strawberry.enum_value("APPROVED", description="Approved: its execution was started.")
    REJECTED = strawberry.enum_value("REJECTED", description="Rejected: the incident went to a technician.")
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="Nobody decided in time: the incident went to a technician."
    )
    WITHDRAWN = strawberry.enum_value(
        "WITHDRAWN",
        description="The incident resolved before anyone decided: nothing runs, and it can no longer be "
        "approved.",
    )


@strawberry.type(description="Why a remediation mutation could not be applied; nothing was changed.")
class RemediationError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: RemediationErrorCode = strawberry.field(description="Machine-readable reason.")


def remediation_error(exc: DomainError) -> RemediationError:
    return cast(RemediationError, user_error(exc, RemediationErrorCode, RemediationError))


async def _incident(root: RemediationApproval, info: strawberry.Info) -> Incident | None:
    if root._row.incident_id is None:
        return None
    row = await (await loaders_for(info)).incident.load(root._row.incident_id)
    return incident_type(row) if row else None


async def _runbook(root: RemediationApproval, info: strawberry.Info) -> Runbook | None:
    return await load_runbook(info, root._row.runbook_id)


async def _decided_by(root: RemediationApproval, info: strawberry.Info) -> User | None:
    if root._row.decided_by is None:
        return None
    row = await (await loaders_for(info)).user.load(root._row.decided_by)
    return user_type(row) if row else None


async def _company(root: RemediationApproval, info: strawberry.Info) -> Company | None:
    row = await (await loaders_for(info)).company.load(root._row.company_id)
    return company_type(row) if row else None


@strawberry.type(description="A request for a company admin's approval of one run of a runbook.")
class RemediationApproval(Node):
    status: RemediationApprovalStatus = strawberry.field(description="Where it stands.")
    runbook_version: int = strawberry.field(description="The runbook version that runs once approved.")
    instance_ids: list[str] = strawberry.field(description="The cloud instances it runs on.")
    parameters: JSON = strawberry.field(description="The parameter values it runs with.")
    requested_by: str = strawberry.field(
        description="Who asked: `system:decisions` for a decision, `user:<id>` for a person."
    )
    requested_at: datetime = strawberry.field(description="When it was asked for.")
    expires_at: datetime = strawberry.field(
        description="When it expires (the company's approval expiry); the incident then escalates."
    )
    decided_at: datetime | None = strawberry.field(
        description="When it was approved, rejected, expired or withdrawn."
    )
    comment: str | None = strawberry.field(
        description="The approver's comment, if any; for a withdrawn request, why it was withdrawn."
    )
    _row: strawberry.Private[Any]

    incident: Incident | None = strawberry.field(
        resolver=_incident, description="The incident it would fix (null for an on-demand run without one)."
    )
    runbook: Runbook | None = strawberry.field(resolver=_runbook, description="The runbook to run.")
    decided_by: User | None = strawberry.field(
        resolver=_decided_by,
        description="Who approved or rejected it (null while pending, or when it expired).",
    )
    company: Company | None = strawberry.field(resolver=_company, description="The company it belongs to.")


def approval_type(row: Any) -> RemediationApproval:
    return RemediationApproval(
        id=to_global_id("RemediationApproval", row.id),
        status=RemediationApprovalStatus(row.status),
        runbook_version=row.runbook_version,
        instance_ids=list(row.instance_ids),
        parameters=row.parameters,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        comment=row.comment,
        _row=row,
    )


async def remediation_approvals(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="Only this company's requests (global ID); omit for all you may see."
        ),
    ] = None,
    status: Annotated[
        RemediationApprovalStatus | None, strawberry.argument(description="Only requests in this status.")
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[RemediationApproval]:
    require_principal(info)
    company, unknown = decode_id(company_id, "Company")
    uow = (await loaders_for(info)).uow
    page = await ApprovalRepository(uow.session, uow.principal).page(
        company, unknown_company=unknown, status=status.name if status else None, first=first, after=after
    )
    return connection(page, approval_type)


@strawberry.input(description="Which request to approve or reject, and why.")
class RemediationDecisionInput:
    id: strawberry.ID = strawberry.field(description="The RemediationApproval's global ID.")
    comment: str | None = strawberry.field(
        default=None, description="A note for the timeline (at most 2000)."
    )


@strawberry.type(description="Result of `remediationApprove`.")
class RemediationApprovePayload:
    approval: RemediationApproval | None = strawberry.field(default=None, description="The approved request.")
    execution_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the execution it started (kind `Execution`)."
    )
    user_errors: list[RemediationError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.type(description="Result of `remediationReject`.")
class RemediationRejectPayload:
    approval: RemediationApproval | None = strawberry.field(default=None, description="The rejected request.")
    user_errors: list[RemediationError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def raw_connection(uow: Any) -> Any:
    """The unit of work's own connection, for the raw-SQL writers (same transaction)."""
    raw = await (await uow.session.connection()).get_raw_connection()
    return raw.driver_connection


async def remediation_approve(
    info: strawberry.Info,
    input: Annotated[RemediationDecisionInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RemediationApprovePayload:
    async def work(uow: Any) -> dict[str, Any]:
        approval_id = from_global_id(input.id, "RemediationApproval")
        conn = await raw_connection(uow)
        row, execution_id = await approvals.approve(
            conn, uow.principal, approval_id, input.comment, now(info)
        )
        await _audit(uow, "remediation.approve", row, {"executionId": str(execution_id)})
        return {"approval": approval_type(row), "execution_id": to_global_id("Execution", execution_id)}

    return await mutate(info, work, RemediationApprovePayload, remediation_error)


async def remediation_reject(
    info: strawberry.Info,
    input: Annotated[RemediationDecisionInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RemediationRejectPayload:
    async def work(uow: Any) -> dict[str, Any]:
        approval_id = from_global_id(input.id, "RemediationApproval")
        conn = await raw_connection(uow)
        row = await approvals.reject(conn, uow.principal, approval_id, input.comment, now(info))
        await _audit(uow, "remediation.reject", row, {})
        return {"approval": approval_type(row)}

    return await mutate(info, work, RemediationRejectPayload, remediation_error)


async def _audit(uow: Any, action: str, row: Any, more: dict[str, Any]) -> None:
    await uow.audit.record(
        action,
        "remediation_approval",
        row.id,
        company_id=row.company_id,
        before={"status": "PENDING"},
        after={"status": row.status, "comment": row.comment, **more},
    )
