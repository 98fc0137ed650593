"""The API's scoped reads of decisions (`Incident.decision`) and approval requests
(`remediationApprovals`), scoped like the incidents they belong to."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.tables import IncidentDecision, RemediationApproval
from domain.rbac import Permission


class DecisionRepository(ScopedRepository):
    async def for_incidents(self, incident_ids: list[uuid.UUID]) -> list[IncidentDecision]:
        """The latest decision of each readable incident among `incident_ids` (one statement)."""
        if not incident_ids:
            return []
        stmt = self.scope(
            select(IncidentDecision), IncidentDecision.company_id, Permission.INCIDENT_READ
        ).where(IncidentDecision.incident_id.in_(incident_ids))
        return list((await self.session.execute(stmt)).scalars())


class ApprovalRepository(ScopedRepository):
    def _readable(self) -> Any:
        return self.scope(
            select(RemediationApproval), RemediationApproval.company_id, Permission.INCIDENT_READ
        )

    async def get(self, approval_id: uuid.UUID) -> RemediationApproval | None:
        stmt = self._readable().where(RemediationApproval.id == approval_id)
        found: RemediationApproval | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def get_many(self, ids: list[uuid.UUID]) -> list[RemediationApproval]:
        if not ids:
            return []
        stmt = self._readable().where(RemediationApproval.id.in_(ids))
        return list((await self.session.execute(stmt)).scalars())

    async def page(
        self,
        company_id: uuid.UUID | None,
        *,
        unknown_company: bool = False,
        status: str | None = None,
        first: int | None,
        after: str | None,
    ) -> Page[RemediationApproval]:
        """Newest request first."""
        stmt = self.in_company(
            self._readable(),
            RemediationApproval.company_id,
            company_id,
            unknown_company,
            Permission.INCIDENT_READ,
        )
        if status is not None:
            stmt = stmt.where(RemediationApproval.status == status)
        return await paginate(
            self.session,
            stmt,
            [RemediationApproval.requested_at, RemediationApproval.id],
            first=first,
            after=after,
        )
