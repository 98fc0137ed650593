"""The append-only audit log: every accepted change, with who, what, when, before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.scope import scope_clause
from db.tables import AuditEntry
from domain.rbac import Permission

#: Most rows one export returns (the newest ones); `truncated` tells the caller to narrow the filter.
EXPORT_LIMIT = 10_000


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
                actor_id=p.user_id if p and not p.is_system else None,
                actor_email=p.email if p else None,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id) if entity_id is not None else None,
                before=before,
                after=after,
                request_id=self.request_id,
            )
        )

    def can_read(self) -> bool:
        """Whether the caller may read any of the audit log (technicians may not)."""
        return self._principal().can(Permission.AUDIT_READ)

    def _readable(self) -> Select[AuditEntry]:
        # Company admins read their companies' entries, technicians none; MSP admins read every entry,
        # the MSP-level ones (no company) and those of deleted companies (the log outlives them) too.
        scope = self.tenant_scope(Permission.AUDIT_READ)
        return select(AuditEntry).where(scope_clause(scope, AuditEntry.company_id, keep_deleted=True))

    def _filtered(
        self,
        company_id: uuid.UUID | None = None,
        action: str | None = None,
        actor_id: uuid.UUID | None = None,
        entity_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Select[AuditEntry]:
        stmt = self._readable()
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

    async def get(self, entry_id: int) -> AuditEntry | None:
        stmt = self._readable().where(AuditEntry.id == entry_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(self, *, first: int | None, after: str | None, **filters: Any) -> Page[AuditEntry]:
        """Newest first."""
        stmt = self._filtered(**filters)
        return await paginate(self.session, stmt, [AuditEntry.at, AuditEntry.id], first=first, after=after)

    async def export(self, limit: int = EXPORT_LIMIT, **filters: Any) -> tuple[list[AuditEntry], bool]:
        """The newest `limit` matching entries in chronological order, and whether more matched."""
        stmt = self._filtered(**filters).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1)
        rows = list((await self.session.execute(stmt)).scalars())
        return rows[:limit][::-1], len(rows) > limit
