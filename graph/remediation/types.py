"""GraphQL types of the remediation area: runbooks and their versions."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from db import tables
from db.repositories.runbooks import RunbookRepository
from graph.core import Node, to_global_id
from graph.incidents.loaders import loaders_for
from graph.platform.types import Company, company_type
from graph.remediation.platforms import Platform as Platform


async def runbook_repository(info: strawberry.Info) -> RunbookRepository:
    """The operation's read-side runbook repository."""
    uow: Any = (await loaders_for(info)).uow
    repo: RunbookRepository = uow.runbooks
    return repo


@strawberry.enum(description="What a runbook fixes.")
class RunbookCategory(enum.Enum):
    INFRASTRUCTURE = strawberry.enum_value(
        "INFRASTRUCTURE", description="Hosts themselves: disk, memory, logs."
    )
    SERVICES = strawberry.enum_value(
        "SERVICES", description="Services on a host: web servers, databases, custom."
    )
    SECURITY = strawberry.enum_value("SECURITY", description="Patches, certificates, permissions.")
    DATABASE = strawberry.enum_value("DATABASE", description="Database upkeep: indexes, vacuum, backups.")


@strawberry.enum(description="How much a runbook can break; decides whether it runs without approval.")
class RunbookRisk(enum.Enum):
    LOW = strawberry.enum_value("LOW", description="Safe to run unattended (with `autoApprove`).")
    MEDIUM = strawberry.enum_value("MEDIUM", description="Runs once a company admin approves.")
    HIGH = strawberry.enum_value("HIGH", description="Never automatic: a technician handles it.")


@strawberry.enum(description="The type of a runbook parameter's value.")
class RunbookParameterType(enum.Enum):
    STRING = strawberry.enum_value("STRING", description="Text, inserted as one quoted word.")
    INTEGER = strawberry.enum_value("INTEGER", description="A whole number.")
    BOOLEAN = strawberry.enum_value("BOOLEAN", description="true or false.")


@strawberry.type(description="A value a runbook's commands take, written `{{name}}` in them.")
class RunbookParameter:
    name: str = strawberry.field(description="Name as referenced in the commands (`{{name}}`).")
    type: RunbookParameterType = strawberry.field(description="The value's type.")
    default: JSON | None = strawberry.field(
        description="Value used when none is given; null: one is required."
    )
    description: str = strawberry.field(description="What the value is for.")
    allowed_pattern: str | None = strawberry.field(
        description="Regular expression a STRING value must match in full, if any."
    )


def _parameters(raw: list[dict[str, Any]]) -> list[RunbookParameter]:
    return [
        RunbookParameter(
            name=p["name"],
            type=RunbookParameterType(p.get("type", "STRING")),
            default=p.get("default"),
            description=p.get("description") or "",
            allowed_pattern=p.get("allowedPattern"),
        )
        for p in raw
    ]


@strawberry.type(description="What a runbook does, as one of its versions holds it.")
class RunbookContent:
    """The fields a runbook and each of its versions both show (a base class, not a schema type)."""

    description: str = strawberry.field(description="What the runbook does and when to use it.")
    category: RunbookCategory = strawberry.field(description="What it fixes.")
    signatures: list[str] = strawberry.field(
        description=(
            "Alert signatures it fixes: exact (case-insensitive) or by canonical form (an incident whose"
            " canonical signature is one of these folded)."
        )
    )
    signature_patterns: list[str] = strawberry.field(
        description="Regular expressions matched against alert signatures (case-insensitive search)."
    )
    risk: RunbookRisk = strawberry.field(description="How much it can break.")
    platform: Platform = strawberry.field(description="The operating system its commands run on.")
    commands: list[str] = strawberry.field(description="The commands, run in order as one script.")
    parameters: list[RunbookParameter] = strawberry.field(description="Typed values the commands take.")
    health_check: str | None = strawberry.field(
        description="Command run after the action: exit status 0 means healthy."
    )
    auto_approve: bool = strawberry.field(
        description="A LOW-risk runbook with this set runs without approval."
    )
    timeout_seconds: int = strawberry.field(description="Longest the commands may run (30 to 7200 seconds).")


@strawberry.type(description="One immutable version of a runbook's content; every change adds one.")
class RunbookVersion(RunbookContent):
    version: int = strawberry.field(description="Version number, 1 for the first.")
    name: str = strawberry.field(description="Name in this version.")
    created_at: datetime = strawberry.field(description="When this version was made.")


def version_type(row: tables.RunbookVersion) -> RunbookVersion:
    return RunbookVersion(
        version=row.version,
        name=row.name,
        description=row.description,
        category=RunbookCategory(row.category),
        signatures=list(row.signatures),
        signature_patterns=list(row.signature_patterns),
        risk=RunbookRisk(row.risk),
        platform=Platform(row.platform),
        commands=list(row.commands),
        parameters=_parameters(row.parameters),
        health_check=row.health_check,
        auto_approve=row.auto_approve,
        timeout_seconds=row.timeout_seconds,
        created_at=row.created_at,
    )


async def _company(root: Runbook, info: strawberry.Info) -> Company | None:
    if root._row.company_id is None:
        return None
    row = await (await loaders_for(info)).company.load(root._row.company_id)
    return company_type(row) if row else None


async def _versions(
    root: Runbook,
    info: strawberry.Info,
    first: Annotated[int, strawberry.argument(description="How many, 1 to 100 (default 20).")] = 20,
) -> list[RunbookVersion]:
    repo = await runbook_repository(info)
    key = f"runbook_versions:{first}"
    loader = info.context.loaders.get(key)
    if loader is None:

        async def load(ids: list[uuid.UUID]) -> list[list[tables.RunbookVersion]]:
            found = await repo.versions(list(ids), first)
            return [found[i] for i in ids]

        loader = info.context.loaders.setdefault(key, DataLoader(load))
    return [version_type(v) for v in await loader.load(root._row.id)]


@strawberry.type(description="A runbook: a fix for known alerts, run on assets through AWS Systems Manager.")
class Runbook(Node, RunbookContent):
    name: str = strawberry.field(
        description="Name (unique among live runbooks of its company or the library)."
    )
    version: int = strawberry.field(description="The current version's number.")
    archived_at: datetime | None = strawberry.field(
        description="When it was archived (out of use; its versions stay readable); null if live."
    )
    created_at: datetime = strawberry.field(description="When the runbook was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    _row: strawberry.Private[Any]

    company: Company | None = strawberry.field(
        resolver=_company,
        description="The company that owns it; null for the global library (every company's).",
    )
    versions: list[RunbookVersion] = strawberry.field(
        resolver=_versions, description="Its versions, newest first (the current one included)."
    )


CONTENT_FIELDS = tuple(f.name for f in dataclasses.fields(RunbookContent))


def runbook_type(row: tables.Runbook, version: tables.RunbookVersion) -> Runbook:
    v = version_type(version)
    return Runbook(
        id=to_global_id("Runbook", row.id),
        name=v.name,
        **{f: getattr(v, f) for f in CONTENT_FIELDS},
        version=row.version,
        archived_at=row.archived_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        _row=row,
    )
