"""Root fields of the remediation area (merged into the schema's Query and Mutation)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph.core import Connection
from graph.remediation import approvals, execute, mutations, queries, settings
from graph.remediation import executions as execution_fields
from graph.remediation.executions import Execution
from graph.remediation.types import Runbook


@strawberry.type
class RemediationQuery:
    runbooks: Connection[Runbook] = strawberry.field(
        resolver=queries.runbooks,
        description="Runbooks you may see (the global library and your companies' own), by name; "
        "archived ones only when the filter asks.",
    )
    runbook: Runbook | None = strawberry.field(
        resolver=queries.runbook,
        description="One runbook by global ID, archived or not (null if it does not exist or is not yours).",
    )
    executions: Connection[Execution] = strawberry.field(
        resolver=execution_fields.executions,
        description="Remediation executions of the companies whose incidents you may see, newest first.",
    )
    execution: Execution | None = strawberry.field(
        resolver=execution_fields.execution,
        description="One execution by global ID (null if it does not exist or is not yours).",
    )
    remediation_approvals: Connection[approvals.RemediationApproval] = strawberry.field(
        resolver=approvals.remediation_approvals,
        description="Requests for a company admin's approval of a runbook run, newest first.",
    )
    remediation_settings: settings.RemediationSettings | None = strawberry.field(
        resolver=settings.remediation_settings,
        description="A company's remediation settings (null if you may not read the company).",
    )


@strawberry.type
class RemediationMutation:
    runbook_create: mutations.RunbookCreatePayload = strawberry.mutation(
        resolver=mutations.runbook_create,
        description="Create a runbook: company admins for their companies, MSP admins for any company or "
        "the global library.",
    )
    runbook_update: mutations.RunbookUpdatePayload = strawberry.mutation(
        resolver=mutations.runbook_update,
        description="Change a runbook: the change becomes its next version; earlier versions stay readable.",
    )
    runbook_archive: mutations.RunbookArchivePayload = strawberry.mutation(
        resolver=mutations.runbook_archive,
        description="Take a runbook out of use: it no longer matches alerts nor lists by default.",
    )
    remediation_approve: approvals.RemediationApprovePayload = strawberry.mutation(
        resolver=approvals.remediation_approve,
        description="Approve a pending request (company admins of its company, MSP admins): its run starts, once.",
    )
    remediation_reject: approvals.RemediationRejectPayload = strawberry.mutation(
        resolver=approvals.remediation_reject,
        description="Reject a pending request (company admins of its company, MSP admins): the incident escalates.",
    )
    runbook_execute: execute.RunbookExecutePayload = strawberry.mutation(
        resolver=execute.runbook_execute,
        description="Run a runbook on assets now, under the same risk and approval rules as decisions.",
    )
    company_remediation_update: settings.CompanyRemediationUpdatePayload = strawberry.mutation(
        resolver=settings.company_remediation_update,
        description="Turn a company's automatic remediation on or off, require approval on its critical "
        "assets, set how long approval requests wait (company and MSP admins; audited).",
    )


@strawberry.type
class RemediationSubscription:
    remediation_changed: AsyncGenerator[Execution, None] = strawberry.subscription(
        resolver=execution_fields.remediation_changed,
        description="Every change of an execution (sent, polled, ended, judged held) in your companies "
        "(or one company), as it commits.",
    )
