"""The append-only audit log: every accepted change, with who, what, when, before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, or_, select

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.tables import AuditEntry
from domain.rbac import Permission


class AuditRepository(ScopedRepository):
    request_id: str | None = None

    async def record(
        self,
        action: str,
        entity_type: str,
        entity_id: Any,
        *,
        company_id: uuid.UUID | None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        p = self.principal
        await self.session.execute(
            insert(AuditEntry).values(
                company_id=company_id,
                actor_id=p.user_id if p and p.user_id.int else None,
                actor_email=p.email if p else None,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id) if entity_id is not None else None,
                before=before,
                after=after,
                request_id=self.request_id,
            )
        )

    def _filtered(
        self,
        company_id: uuid.UUID | None,
        action: str | None,
        actor_id: uuid.UUID | None,
        entity_type: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[tuple[AuditEntry]]:
        principal = self._principal()
        stmt = select(AuditEntry)
        if not principal.all_companies:
            # Company admins read their companies' entries; MSP-level entries stay with MSP admins.
            allowed = [c for c in principal.company_ids if principal.can(Permission.AUDIT_READ, c)]
            stmt = stmt.where(AuditEntry.company_id.in_(allowed))
        elif not principal.can(Permission.AUDIT_READ, None):
            stmt = stmt.where(or_(False))
        if company_id is not None:
            stmt = stmt.where(AuditEntry.company_id == company_id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if actor_id:
            stmt = stmt.where(AuditEntry.actor_id == actor_id)
        if entity_type:
            stmt = stmt.where(AuditEntry.entity_type == entity_type)
        if since:
            stmt = stmt.where(AuditEntry.at >= since)
        if until:
            stmt = stmt.where(AuditEntry.at < until)
        return stmt

    async def page(self, *, first: int | None, after: str | None, **filters: Any) -> Page[AuditEntry]:
        stmt = self._filtered(**filters)
        return await paginate(self.session, stmt, [AuditEntry.at, AuditEntry.id], first=first, after=after)

    async def export(self, limit: int = 50_000, **filters: Any) -> list[AuditEntry]:
        stmt = self._filtered(**filters).order_by(AuditEntry.at, AuditEntry.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())
