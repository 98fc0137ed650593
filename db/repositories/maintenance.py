"""Maintenance windows of a company: scoped reads, creation (validated by the domain) and deletion,
each change announced on `company:{id}:maintenance` in its own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from db.events import BusEvent, topic
from db.pagination import Page, paginate
from db.publishing import publish
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, MaintenanceWindow
from domain.errors import InvalidInput, NotFound
from domain.maintenance import MaintenanceWindow as WindowRule
from domain.maintenance import validate_window
from domain.rbac import Permission

NAME_MAX = 120


def window_snapshot(row: MaintenanceWindow) -> dict[str, Any]:
    return {
        "name": row.name,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "recurrence": row.recurrence,
        "asset_names": list(row.asset_names or []),
        "signatures": list(row.signatures or []),
    }


def _names(ordered: list[str]) -> list[str]:
    """The validated names, trimmed, first spelling kept, in the order given."""
    seen: set[str] = set()
    out = []
    for name in ordered:
        name = name.strip()
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


class MaintenanceRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def get(self, window_id: uuid.UUID) -> MaintenanceWindow | None:
        stmt = self.readable(MaintenanceWindow).where(MaintenanceWindow.id == window_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        company_id: uuid.UUID | None,
        *,
        unknown_company: bool = False,
        first: int | None,
        after: str | None,
    ) -> Page[MaintenanceWindow]:
        """Latest start first."""
        stmt = self.in_company(
            self.readable(MaintenanceWindow),
            MaintenanceWindow.company_id,
            company_id,
            unknown_company,
            Permission.COMPANY_READ,
        )
        return await paginate(
            self.session, stmt, [MaintenanceWindow.starts_at, MaintenanceWindow.id], first=first, after=after
        )

    async def _require_company(self, company_id: uuid.UUID) -> None:
        try:
            self.require(Permission.MAINTENANCE_MANAGE, company_id)
        except NotFound as exc:
            raise NotFound("company not found", field="companyId") from exc
        exists = await self.session.execute(
            select(Company.id).where(Company.id == company_id, Company.deleted_at.is_(None))
        )
        if exists.scalar_one_or_none() is None:
            raise NotFound("company not found", field="companyId")

    async def create(
        self,
        company_id: uuid.UUID,
        name: str,
        window: WindowRule,
        asset_names: list[str],
        signatures: list[str],
    ) -> MaintenanceWindow:
        """Store a window; `window` carries the times and recurrence and is validated here."""
        await self._require_company(company_id)
        name = name.strip()
        if not 1 <= len(name) <= NAME_MAX:
            raise InvalidInput(f"must be 1 to {NAME_MAX} characters", field="name")
        validate_window(window)
        recurrence = window.recurrence.to_dict() if window.recurrence is not None else None
        principal = self._principal()
        row = MaintenanceWindow(
            id=window.id,
            company_id=company_id,
            name=name,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            recurrence=recurrence,
            asset_names=_names(asset_names),
            signatures=_names(signatures),
            created_by=None if principal.is_system else principal.user_id,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        await self.audit.record(
            "maintenance_window.create",
            "maintenance_window",
            row.id,
            company_id=company_id,
            after=window_snapshot(row),
        )
        await publish(
            self.session, BusEvent(topic(company_id, "maintenance"), kind="CREATED", id=str(row.id))
        )
        return row

    async def delete(self, window_id: uuid.UUID) -> MaintenanceWindow:
        row = await self.get(window_id)
        if row is None:
            raise NotFound("maintenance window not found", field="id")
        self.require(Permission.MAINTENANCE_MANAGE, row.company_id, what="maintenance window")
        before = window_snapshot(row)
        await self.session.delete(row)
        await self.session.flush()
        await self.audit.record(
            "maintenance_window.delete",
            "maintenance_window",
            row.id,
            company_id=row.company_id,
            before=before,
        )
        await publish(
            self.session, BusEvent(topic(row.company_id, "maintenance"), kind="DELETED", id=str(row.id))
        )
        return row
