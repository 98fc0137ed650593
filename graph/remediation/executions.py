"""Remediation executions in GraphQL: the `Execution` type with its per-instance invocations, the
`executions` and `execution` queries, `incident.executions`, and the `remediationChanged`
subscription.

Every read goes through `ExecutionRepository` on the operation's read unit of work, so it is scoped
to the companies whose incidents the caller may read; related rows (runbook, incident, invocations)
come through per-operation DataLoaders (one statement per kind for a whole page).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from db import tables
from db.repositories.executions import ExecutionRepository
from domain.errors import InvalidInput
from domain.rbac import Permission
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    Connection,
    Node,
    connection,
    require_principal,
    to_global_id,
)
from graph.incidents.loaders import IncidentLoaders, event_loaders, loaders_for
from graph.incidents.queries import decode_id
from graph.incidents.subscriptions import COMPANY_ID_DESCRIPTION, _companies, _topics, _uuid
from graph.incidents.types import Incident, incident_type
from graph.remediation.decisions import load_runbook
from graph.remediation.types import Runbook


@strawberry.enum(description="Where a remediation execution stands.")
class ExecutionStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Stored, not sent to AWS yet.")
    RUNNING = strawberry.enum_value(
        "RUNNING", description="Sent: the command (or its health check) is running on the instances."
    )
    SUCCEEDED = strawberry.enum_value(
        "SUCCEEDED", description="Succeeded on every instance, and so did the health check."
    )
    FAILED = strawberry.enum_value(
        "FAILED",
        description="Failed on an instance, its health check failed, or AWS refused it (see `error`).",
    )
    TIMED_OUT = strawberry.enum_value(
        "TIMED_OUT", description="An instance did not finish within the runbook's timeout."
    )
    CANCELLED = strawberry.enum_value("CANCELLED", description="Cancelled on an instance.")


@strawberry.enum(description="Which command of an execution an invocation ran.")
class ExecutionStep(enum.Enum):
    ACTION = strawberry.enum_value("action", description="The runbook's commands.")
    HEALTH_CHECK = strawberry.enum_value(
        "health_check", description="The health check, run after the action succeeded everywhere."
    )


@strawberry.enum(description="Where one instance's run of a command stands.")
class InvocationStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Not started on the instance yet.")
    IN_PROGRESS = strawberry.enum_value("IN_PROGRESS", description="Running on the instance.")
    SUCCEEDED = strawberry.enum_value("SUCCEEDED", description="Finished with exit status 0.")
    FAILED = strawberry.enum_value(
        "FAILED", description="Failed, undeliverable or terminated (`statusDetail` says which)."
    )
    TIMED_OUT = strawberry.enum_value("TIMED_OUT", description="Did not finish in time.")
    CANCELLED = strawberry.enum_value("CANCELLED", description="Cancelled.")


@strawberry.type(description="One instance's run of an execution's command, as last seen.")
class ExecutionInvocation:
    instance_id: str = strawberry.field(description="The EC2 (or managed) instance id.")
    step: ExecutionStep = strawberry.field(description="The action or the health check.")
    status: InvocationStatus = strawberry.field(description="Where it stands.")
    status_detail: str = strawberry.field(
        description="AWS Systems Manager's own status word (Success, Failed, Undeliverable...)."
    )
    stdout: str = strawberry.field(description="Standard output (at most 8,000 characters).")
    stderr: str = strawberry.field(description="Standard error (at most 8,000 characters).")
    started_at: datetime | None = strawberry.field(description="When it started on the instance.")
    finished_at: datetime | None = strawberry.field(description="When it ended (null until it has).")


def invocation_type(row: tables.RemediationInvocation) -> ExecutionInvocation:
    return ExecutionInvocation(
        instance_id=row.instance_id,
        step=ExecutionStep(row.step),
        status=InvocationStatus(row.status),
        status_detail=row.status_detail,
        stdout=row.stdout,
        stderr=row.stderr,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


# ---- loaders (per operation, or per subscription event) ----


def _repository(loaders: IncidentLoaders) -> ExecutionRepository:
    return ExecutionRepository(loaders.uow.session, loaders.uow.principal)


def _loader(
    loaders: IncidentLoaders, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]
) -> DataLoader[Any, Any]:
    # Kept on the IncidentLoaders object, so one per operation (or subscription event).
    store: dict[str, DataLoader[Any, Any]] = loaders.__dict__.setdefault("_execution_loaders", {})
    if name not in store:
        store[name] = DataLoader(load)
    return store[name]


def _invocations_loader(loaders: IncidentLoaders) -> DataLoader[Any, Any]:
    async def load(ids: list[uuid.UUID]) -> list[list[tables.RemediationInvocation]]:
        found = await _repository(loaders).invocations(list(ids))
        return [found[i] for i in ids]

    return _loader(loaders, "invocations", load)


def _incident_executions_loader(loaders: IncidentLoaders, first: int) -> DataLoader[Any, Any]:
    async def load(ids: list[uuid.UUID]) -> list[list[tables.RemediationExecution]]:
        found = await _repository(loaders).for_incidents(list(ids), first)
        return [found[i] for i in ids]

    return _loader(loaders, f"incident_executions:{first}", load)


# ---- the type ----


async def _runbook(root: Execution, info: strawberry.Info) -> Runbook | None:
    return await load_runbook(info, root._row.runbook_id, root._loaders)


async def _incident(root: Execution, info: strawberry.Info) -> Incident | None:
    if root._row.incident_id is None:
        return None
    loaders = await loaders_for(info, root._loaders)
    row = await loaders.incident.load(root._row.incident_id)
    return incident_type(row, root._loaders) if row else None


async def _invocations(root: Execution, info: strawberry.Info) -> list[ExecutionInvocation]:
    loaders = await loaders_for(info, root._loaders)
    return [invocation_type(r) for r in await _invocations_loader(loaders).load(root._row.id)]


@strawberry.type(description="One run of a runbook on a company's instances through AWS Systems Manager.")
class Execution(Node):
    status: ExecutionStatus = strawberry.field(description="Where the execution stands.")
    command_id: str | None = strawberry.field(
        description="The Run Command id of the action (null until it was sent)."
    )
    simulated: bool = strawberry.field(
        description="Made by the demo mode's simulated executor: nothing ran on any instance."
    )
    runbook_version: int = strawberry.field(description="The runbook's version that ran.")
    instance_ids: list[str] = strawberry.field(description="The instances it ran on.")
    parameters: JSON = strawberry.field(description="The parameter values it ran with.")
    started_by: str = strawberry.field(
        description="Who or what started it: `user:<id>` or an automated principal (`system:decisions`)."
    )
    error: str | None = strawberry.field(description="Why it did not succeed (or why AWS is being retried).")
    held: bool | None = strawberry.field(
        description="Succeeded and the incident stayed resolved for the company's correlation window "
        "(false: it reopened within it); null until known, and for runs that did not succeed."
    )
    created_at: datetime = strawberry.field(description="When it was stored (before anything was sent).")
    sent_at: datetime | None = strawberry.field(description="When the command was sent.")
    finished_at: datetime | None = strawberry.field(description="When it ended (null while it runs).")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    runbook: Runbook | None = strawberry.field(
        resolver=_runbook, description="The runbook that ran (its current version); null if it was deleted."
    )
    incident: Incident | None = strawberry.field(
        resolver=_incident,
        description="The incident it remediates; null for a run on demand without one.",
    )
    invocations: list[ExecutionInvocation] = strawberry.field(
        resolver=_invocations, description="Each instance's run of the action, then of the health check."
    )


def execution_type(row: tables.RemediationExecution, loaders: IncidentLoaders | None = None) -> Execution:
    return Execution(
        id=to_global_id("Execution", row.id),
        status=ExecutionStatus(row.status),
        command_id=row.command_id,
        simulated=row.simulated,
        runbook_version=row.runbook_version,
        instance_ids=list(row.instance_ids),
        parameters=cast(JSON, row.parameters),
        started_by=row.started_by,
        error=row.error,
        held=row.held,
        created_at=row.created_at,
        sent_at=row.sent_at,
        finished_at=row.finished_at,
        _row=row,
        _loaders=loaders,
    )


def execution_by_id(uow: Any) -> Callable[[uuid.UUID], Awaitable[tables.RemediationExecution | None]]:
    """`node(id:)`'s reader of an Execution, on the operation's read unit of work."""
    return ExecutionRepository(uow.session, uow.principal).get


async def incident_executions(
    info: strawberry.Info, incident_id: uuid.UUID, first: int, loaders: IncidentLoaders | None
) -> list[Execution]:
    """`incident.executions`: the incident's newest `first` executions, batched over a page."""
    if not 0 <= first <= 100:
        raise InvalidInput("must be between 0 and 100", field="first")
    ready = await loaders_for(info, loaders)
    rows = await _incident_executions_loader(ready, first).load(incident_id)
    return [execution_type(r, loaders) for r in rows]


# ---- root fields ----


@strawberry.input(description="Narrow `executions`; every field given must hold.")
class ExecutionFilter:
    status: ExecutionStatus | None = strawberry.field(default=None, description="Only this status.")
    incident_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the executions of this incident (global ID)."
    )
    runbook_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the executions of this runbook (global ID)."
    )


async def executions(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this company's executions (global ID); omit for all yours."),
    ] = None,
    filter: Annotated[ExecutionFilter | None, strawberry.argument(description="Narrow the list.")] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Execution]:
    require_principal(info)
    f = filter or ExecutionFilter()
    company, unknown = decode_id(company_id, "Company")
    incident, bad_incident = decode_id(f.incident_id, "Incident")
    runbook, bad_runbook = decode_id(f.runbook_id, "Runbook")
    loaders = await loaders_for(info)
    page = await _repository(loaders).page(
        company_id=company,
        # An ID that names nothing matches nothing, as a company or incident you may not see.
        unknown_company=unknown or bad_incident or bad_runbook,
        status=f.status.name if f.status else None,
        incident_id=incident,
        runbook_id=runbook,
        first=first,
        after=after,
    )
    return connection(page, execution_type)


async def execution(
    info: strawberry.Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="Execution global ID.")],
) -> Execution | None:
    require_principal(info)
    key, unknown = decode_id(id, "Execution")
    if key is None or unknown:
        return None
    row = await _repository(await loaders_for(info)).get(key)
    return execution_type(row) if row else None


async def remediation_changed(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
) -> AsyncGenerator[Execution, None]:
    topics = await _topics(info, company_id, "remediation", Permission.INCIDENT_READ)
    companies = set(_companies(topics))
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            event = await sub.queue.get()
            execution_id = _uuid(event.id)
            if execution_id is None:
                continue
            info.context.event_started()
            try:
                async with event_loaders(info.context) as loaders:
                    # Re-read with the caller's scope as it is now, within the subscribed companies.
                    row = await _repository(await loaders.ready()).get(execution_id)
                    if row is not None and row.company_id in companies:
                        yield execution_type(row, loaders)
            finally:
                await info.context.event_finished()
