"""Runbooks and their versions: a company's own and the global library (rows of no company).

Everyone with `runbook:read` reads the global library and the runbooks of the companies they may
see; company admins write their companies' runbooks (`runbook:write`), MSP admins the library too
(`runbook:library`). Every accepted change appends a version and is audited; versions are never
changed or deleted, so an execution can always show exactly what it ran.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from db.pagination import Page, paginate
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.scope import scope_clause
from db.tables import Company, Runbook, RunbookVersion
from domain.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from domain.ids import uuid7
from domain.rbac import Permission
from domain.runbooks import (
    Platform,
    RunbookCategory,
    RunbookParameter,
    RunbookRisk,
    RunbookSpec,
    validate,
)

#: Most versions one `runbook.versions` read returns.
MAX_VERSIONS = 100


@dataclass(frozen=True, slots=True)
class RunbookCandidate:
    """A runbook's current version as `domain.runbooks.best_runbook` reads it."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    name: str
    platform: str
    risk: str
    signatures: list[str]
    signature_patterns: list[str]
    archived_at: Any
    version: int
    auto_approve: bool


def spec_of(version: RunbookVersion) -> RunbookSpec:
    """A stored version's content as the domain's value."""
    return RunbookSpec(
        name=version.name,
        description=version.description,
        category=RunbookCategory(version.category),
        platform=Platform(version.platform),
        commands=tuple(version.commands),
        signatures=tuple(version.signatures),
        signature_patterns=tuple(version.signature_patterns),
        risk=RunbookRisk(version.risk),
        parameters=tuple(RunbookParameter.from_json(p) for p in version.parameters),
        health_check=version.health_check,
        auto_approve=version.auto_approve,
        timeout_seconds=version.timeout_seconds,
    )


def _columns(spec: RunbookSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "category": spec.category.value,
        "signatures": list(spec.signatures),
        "signature_patterns": list(spec.signature_patterns),
        "risk": spec.risk.value,
        "platform": spec.platform.value,
        "commands": list(spec.commands),
        "parameters": [p.as_json() for p in spec.parameters],
        "health_check": spec.health_check,
        "auto_approve": spec.auto_approve,
        "timeout_seconds": spec.timeout_seconds,
    }


def _current() -> ColumnElement[bool]:
    return and_(RunbookVersion.runbook_id == Runbook.id, RunbookVersion.version == Runbook.version)


class RunbookRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    def _visible(self, column: Any) -> ColumnElement[bool]:
        # The global library (no company) plus the companies the caller may read runbooks of.
        scope = self.tenant_scope(Permission.RUNBOOK_READ)
        if not self._principal().can(Permission.RUNBOOK_READ):
            return scope_clause(scope, column)  # nothing
        return or_(column.is_(None), scope_clause(scope, column))

    def _readable(self) -> Select[Runbook]:
        return select(Runbook).where(self._visible(Runbook.company_id))

    async def get(self, runbook_id: uuid.UUID) -> Runbook | None:
        stmt = self._readable().where(Runbook.id == runbook_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_current(self, runbook_id: uuid.UUID) -> tuple[Runbook, RunbookVersion] | None:
        """A readable runbook with its current version."""
        runbook = await self.get(runbook_id)
        if runbook is None:
            return None
        return runbook, (await self.current_versions([runbook]))[runbook.id]

    async def get_many_current(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Runbook, RunbookVersion]]:
        """The readable runbooks among `ids` with their current versions, by id (two statements)."""
        if not ids:
            return {}
        rows = list((await self.session.execute(self._readable().where(Runbook.id.in_(ids)))).scalars())
        versions = await self.current_versions(rows)
        return {r.id: (r, versions[r.id]) for r in rows}

    async def current_versions(self, runbooks: list[Runbook]) -> dict[uuid.UUID, RunbookVersion]:
        """Each runbook's current version, by runbook id (one statement)."""
        if not runbooks:
            return {}
        keys = [(r.id, r.version) for r in runbooks]
        stmt = select(RunbookVersion).where(
            tuple_(RunbookVersion.runbook_id, RunbookVersion.version).in_(keys)
        )
        return {v.runbook_id: v for v in (await self.session.execute(stmt)).scalars()}

    async def versions(
        self, runbook_ids: list[uuid.UUID], first: int = 20
    ) -> dict[uuid.UUID, list[RunbookVersion]]:
        """Each readable runbook's versions, newest first (at most `first`, capped at `MAX_VERSIONS`),
        in one statement for the whole page."""
        limit = max(0, min(first, MAX_VERSIONS))
        out: dict[uuid.UUID, list[RunbookVersion]] = {i: [] for i in runbook_ids}
        if not runbook_ids or not limit:
            return out
        rank = (
            func.row_number()
            .over(partition_by=RunbookVersion.runbook_id, order_by=RunbookVersion.version.desc())
            .label("rank")
        )
        ranked = (
            select(RunbookVersion.runbook_id, RunbookVersion.version, rank)
            .join(Runbook, Runbook.id == RunbookVersion.runbook_id)
            .where(RunbookVersion.runbook_id.in_(runbook_ids), self._visible(Runbook.company_id))
            .subquery()
        )
        stmt = (
            select(RunbookVersion)
            .join(
                ranked,
                and_(
                    ranked.c.runbook_id == RunbookVersion.runbook_id,
                    ranked.c.version == RunbookVersion.version,
                ),
            )
            .where(ranked.c.rank <= limit)
            .order_by(RunbookVersion.runbook_id, RunbookVersion.version.desc())
        )
        for v in (await self.session.execute(stmt)).scalars():
            out[v.runbook_id].append(v)
        return out

    async def version(self, runbook_id: uuid.UUID, version: int) -> RunbookVersion | None:
        """One version of a readable runbook (what an execution ran)."""
        stmt = (
            select(RunbookVersion)
            .join(Runbook, Runbook.id == RunbookVersion.runbook_id)
            .where(
                RunbookVersion.runbook_id == runbook_id,
                RunbookVersion.version == version,
                self._visible(Runbook.company_id),
            )
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        *,
        company_id: uuid.UUID | None,
        unknown_company: bool = False,
        category: str | None = None,
        risk: str | None = None,
        platform: str | None = None,
        text: str | None = None,
        include_archived: bool = False,
        first: int | None,
        after: str | None,
    ) -> Page[Runbook]:
        """Runbooks by name. With `company_id`: the ones that company can use (its own and global)."""
        stmt = self._readable().join(RunbookVersion, _current())
        if unknown_company or (
            company_id is not None and not self.tenant_scope(Permission.RUNBOOK_READ).allows(company_id)
        ):
            stmt = stmt.where(false())
        elif company_id is not None:
            stmt = stmt.where(or_(Runbook.company_id.is_(None), Runbook.company_id == company_id))
        if not include_archived:
            stmt = stmt.where(Runbook.archived_at.is_(None))
        if category:
            stmt = stmt.where(Runbook.category == category)
        if risk:
            stmt = stmt.where(RunbookVersion.risk == risk)
        if platform:
            stmt = stmt.where(RunbookVersion.platform == platform)
        if text:
            needle = text.strip().lower()
            stmt = stmt.where(
                or_(
                    func.lower(RunbookVersion.name).contains(needle, autoescape=True),
                    func.lower(RunbookVersion.description).contains(needle, autoescape=True),
                    func.lower(func.array_to_string(RunbookVersion.signatures, " ")).contains(
                        needle, autoescape=True
                    ),
                )
            )
        return await paginate(
            self.session, stmt, [Runbook.name, Runbook.id], first=first, after=after, descending=False
        )

    async def candidates(self, company_id: uuid.UUID) -> list[RunbookCandidate]:
        """The live runbooks `company_id` can use (its own and global), current versions, for matching."""
        stmt = (
            select(Runbook, RunbookVersion)
            .join(RunbookVersion, _current())
            .where(
                self._visible(Runbook.company_id),
                or_(Runbook.company_id.is_(None), Runbook.company_id == company_id),
                Runbook.archived_at.is_(None),
            )
        )
        return [
            RunbookCandidate(
                id=r.id,
                company_id=r.company_id,
                name=v.name,
                platform=v.platform,
                risk=v.risk,
                signatures=list(v.signatures),
                signature_patterns=list(v.signature_patterns),
                archived_at=r.archived_at,
                version=v.version,
                auto_approve=v.auto_approve,
            )
            for r, v in (await self.session.execute(stmt)).all()
        ]

    # ---- writes ---------------------------------------------------------------------------------

    def _require_write(self, company_id: uuid.UUID | None) -> None:
        principal = self._principal()
        if company_id is None:
            if not principal.can(Permission.RUNBOOK_LIBRARY):
                raise PermissionDenied("only MSP admins manage the global runbook library")
            return
        self.require(Permission.RUNBOOK_WRITE, company_id)

    async def _flush(self) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("a runbook with this name already exists", field="name", code="DUPLICATE") from exc

    async def create(self, company_id: uuid.UUID | None, spec: RunbookSpec) -> tuple[Runbook, RunbookVersion]:
        if company_id is not None:
            found = await self.session.execute(
                self.scope(select(Company.id), Company.id).where(Company.id == company_id)
            )
            if found.first() is None:
                raise NotFound("company not found", field="companyId")
        self._require_write(company_id)
        spec = validate(spec)
        runbook = Runbook(
            id=uuid7(), company_id=company_id, name=spec.name, category=spec.category.value, version=1
        )
        self.session.add(runbook)
        await self._flush()
        version = RunbookVersion(
            runbook_id=runbook.id,
            version=1,
            company_id=company_id,
            created_by=self._author(),
            **_columns(spec),
        )
        self.session.add(version)
        await self.session.flush()
        await self.session.refresh(runbook)
        await self.session.refresh(version)
        await self.audit.record(
            "runbook.create", "runbook", runbook.id, company_id=company_id, after=self._snapshot(version)
        )
        return runbook, version

    async def _for_update(self, runbook_id: uuid.UUID) -> tuple[Runbook, RunbookVersion]:
        runbook = (
            await self.session.execute(self._readable().where(Runbook.id == runbook_id).with_for_update())
        ).scalar_one_or_none()
        if runbook is None:
            raise NotFound("runbook not found", field="id")
        self._require_write(runbook.company_id)
        current = (await self.current_versions([runbook]))[runbook.id]
        return runbook, current

    async def update(self, runbook_id: uuid.UUID, changes: dict[str, Any]) -> tuple[Runbook, RunbookVersion]:
        """Apply `changes` (RunbookSpec field names) as a new version; no change, no new version."""
        runbook, current = await self._for_update(runbook_id)
        if runbook.archived_at is not None:
            raise InvalidTransition("an archived runbook cannot be changed", field="id")
        before = spec_of(current)
        spec = validate(replace(before, **changes))
        if spec == validate(before):
            return runbook, current
        version = RunbookVersion(
            runbook_id=runbook.id,
            version=runbook.version + 1,
            company_id=runbook.company_id,
            created_by=self._author(),
            **_columns(spec),
        )
        runbook.version = version.version
        runbook.name = spec.name
        runbook.category = spec.category.value
        runbook.updated_at = func.now()
        self.session.add(version)
        await self._flush()
        await self.session.refresh(runbook)
        await self.session.refresh(version)
        await self.audit.record(
            "runbook.update",
            "runbook",
            runbook.id,
            company_id=runbook.company_id,
            before=self._snapshot(current),
            after=self._snapshot(version),
        )
        return runbook, version

    async def archive(self, runbook_id: uuid.UUID) -> tuple[Runbook, RunbookVersion]:
        """Take a runbook out of use (matching and the default list); its versions stay readable."""
        runbook, current = await self._for_update(runbook_id)
        if runbook.archived_at is not None:
            raise InvalidTransition("the runbook is already archived", field="id")
        runbook.archived_at = func.now()
        runbook.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(runbook)
        await self.audit.record(
            "runbook.archive",
            "runbook",
            runbook.id,
            company_id=runbook.company_id,
            before={"version": runbook.version, "archived": False},
            after={"version": runbook.version, "archived": True},
        )
        return runbook, current

    def _author(self) -> uuid.UUID | None:
        principal = self._principal()
        return None if principal.is_system else principal.user_id

    @staticmethod
    def _snapshot(version: RunbookVersion) -> dict[str, Any]:
        return {"version": version.version, **_columns(spec_of(version))}
