"""Runbook mutations: create, update (a new version) and archive."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from domain.runbooks import (
    DEFAULT_TIMEOUT_SECONDS,
    ParameterType,
    RunbookParameter,
    RunbookSpec,
)
from domain.runbooks import Platform as DomainPlatform
from domain.runbooks import RunbookCategory as DomainCategory
from domain.runbooks import RunbookRisk as DomainRisk
from graph.core import INPUT_DESCRIPTION, USER_ERRORS_DESCRIPTION, UserError, from_global_id, mutate
from graph.remediation.types import (
    Platform,
    Runbook,
    RunbookCategory,
    RunbookParameterType,
    RunbookRisk,
    runbook_type,
)


@strawberry.input(description="A typed value the commands take, referenced in them as `{{name}}`.")
class RunbookParameterInput:
    name: str = strawberry.field(
        description="Letters, digits and _ (at most 64), starting with a letter or _."
    )
    type: RunbookParameterType = strawberry.field(
        default=RunbookParameterType.STRING, description="The value's type."
    )
    default: JSON | None = strawberry.field(
        default=None, description="Value used when none is given (of the parameter's type); null: required."
    )
    description: str = strawberry.field(default="", description="What the value is for.")
    allowed_pattern: str | None = strawberry.field(
        default=None, description="Regular expression a STRING value must match in full."
    )


def _scalar(value: Any) -> Any:
    # Any JSON arrives; `domain.runbooks.validate` refuses what is not of the parameter's type.
    return value


def _parameters(items: list[RunbookParameterInput]) -> tuple[RunbookParameter, ...]:
    return tuple(
        RunbookParameter(
            name=p.name,
            type=ParameterType(p.type.name),
            default=_scalar(p.default),
            description=p.description,
            allowed_pattern=p.allowed_pattern,
        )
        for p in items
    )


@strawberry.input(description="A new runbook: a company's own, or (MSP admins) one of the global library.")
class RunbookCreateInput:
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the owning company; omit for the global library (MSP admins)."
    )
    name: str = strawberry.field(description="1 to 120 characters, unique among the owner's live runbooks.")
    description: str = strawberry.field(default="", description="What it does and when to use it.")
    category: RunbookCategory = strawberry.field(description="What it fixes.")
    signatures: list[str] = strawberry.field(
        default_factory=list,
        description="Alert signatures it fixes, exact or by canonical form (at most 50).",
    )
    signature_patterns: list[str] = strawberry.field(
        default_factory=list, description="Regular expressions for alert signatures (at most 50)."
    )
    risk: RunbookRisk = strawberry.field(description="How much it can break.")
    platform: Platform = strawberry.field(description="The operating system its commands run on.")
    commands: list[str] = strawberry.field(
        description="1 to 50 commands, each at most 8 KiB, 64 KiB in all; parameters as `{{name}}`, never "
        "inside quotes (values are quoted for the shell)."
    )
    parameters: list[RunbookParameterInput] = strawberry.field(
        default_factory=list, description="Every parameter the commands use, and no other (at most 20)."
    )
    health_check: str | None = strawberry.field(
        default=None, description="Command run after the action: exit status 0 means healthy."
    )
    auto_approve: bool = strawberry.field(
        default=False, description="Run without approval (only LOW-risk runbooks ever do)."
    )
    timeout_seconds: int = strawberry.field(
        default=DEFAULT_TIMEOUT_SECONDS, description="Longest the commands may run, 30 to 7200 seconds."
    )


@strawberry.type(description="Result of `runbookCreate`.")
class RunbookCreatePayload:
    runbook: Runbook | None = strawberry.field(default=None, description="The new runbook (version 1).")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def runbook_create(
    info: strawberry.Info,
    input: Annotated[RunbookCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RunbookCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = (
            None
            if input.company_id is None
            else from_global_id(input.company_id, "Company", field="companyId")
        )
        spec = RunbookSpec(
            name=input.name,
            description=input.description,
            category=DomainCategory(input.category.name),
            platform=DomainPlatform(input.platform.name),
            commands=tuple(input.commands),
            signatures=tuple(input.signatures),
            signature_patterns=tuple(input.signature_patterns),
            risk=DomainRisk(input.risk.name),
            parameters=_parameters(input.parameters),
            health_check=input.health_check,
            auto_approve=input.auto_approve,
            timeout_seconds=input.timeout_seconds,
        )
        return {"runbook": runbook_type(*await uow.runbooks.create(company_id, spec))}

    return await mutate(info, work, RunbookCreatePayload)


@strawberry.input(description="Runbook fields to change (a new version); omitted fields stay as they are.")
class RunbookUpdateInput:
    id: strawberry.ID = strawberry.field(description="Runbook global ID.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description.")
    category: RunbookCategory | None = strawberry.field(default=strawberry.UNSET, description="New category.")
    signatures: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement exact signatures."
    )
    signature_patterns: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement signature patterns."
    )
    risk: RunbookRisk | None = strawberry.field(default=strawberry.UNSET, description="New risk.")
    platform: Platform | None = strawberry.field(default=strawberry.UNSET, description="New platform.")
    commands: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement commands."
    )
    parameters: list[RunbookParameterInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement parameters."
    )
    health_check: str | None = strawberry.field(
        default=strawberry.UNSET, description="New health check; null removes it."
    )
    auto_approve: bool | None = strawberry.field(default=strawberry.UNSET, description="New auto-approval.")
    timeout_seconds: int | None = strawberry.field(default=strawberry.UNSET, description="New timeout.")


@strawberry.type(description="Result of `runbookUpdate`.")
class RunbookUpdatePayload:
    runbook: Runbook | None = strawberry.field(
        default=None, description="The runbook as changed (its new version, or as it was if nothing changed)."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _changes(input: RunbookUpdateInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("name", "description", "auto_approve", "timeout_seconds"):
        value = getattr(input, key)
        if value is not strawberry.UNSET and value is not None:
            changes[key] = value
    for key in ("signatures", "signature_patterns", "commands"):
        value = getattr(input, key)
        if value is not strawberry.UNSET and value is not None:
            changes[key] = tuple(value)
    for key, kind in (("category", DomainCategory), ("risk", DomainRisk), ("platform", DomainPlatform)):
        value = getattr(input, key)
        if value is not strawberry.UNSET and value is not None:
            changes[key] = kind(value.name)
    if input.parameters is not strawberry.UNSET and input.parameters is not None:
        changes["parameters"] = _parameters(input.parameters)
    if input.health_check is not strawberry.UNSET:  # an explicit null removes it
        changes["health_check"] = input.health_check
    return changes


async def runbook_update(
    info: strawberry.Info,
    input: Annotated[RunbookUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RunbookUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        runbook_id = from_global_id(input.id, "Runbook")
        return {"runbook": runbook_type(*await uow.runbooks.update(runbook_id, _changes(input)))}

    return await mutate(info, work, RunbookUpdatePayload)


@strawberry.input(description="Which runbook to archive.")
class RunbookArchiveInput:
    id: strawberry.ID = strawberry.field(description="Runbook global ID.")


@strawberry.type(description="Result of `runbookArchive`.")
class RunbookArchivePayload:
    runbook: Runbook | None = strawberry.field(default=None, description="The archived runbook.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def runbook_archive(
    info: strawberry.Info,
    input: Annotated[RunbookArchiveInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> RunbookArchivePayload:
    async def work(uow: Any) -> dict[str, Any]:
        return {"runbook": runbook_type(*await uow.runbooks.archive(from_global_id(input.id, "Runbook")))}

    return await mutate(info, work, RunbookArchivePayload)
