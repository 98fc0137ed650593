"""The API's SLA reads and writes: incidents' clocks and companies' policies, in the caller's scope."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select

from db.events import COMPANY_SETTINGS, company_changed
from db.publishing import publish
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, IncidentSla, SlaEvent
from domain.errors import NotFound
from domain.rbac import Permission, Principal
from domain.sla import SlaPolicy


class SlaClockRepository(ScopedRepository):
    """Incidents' clocks, within the caller's tenant scope."""

    async def clocks(self, incident_ids: Sequence[uuid.UUID]) -> list[IncidentSla]:
        stmt = self.scope(select(IncidentSla), IncidentSla.company_id).where(
            IncidentSla.incident_id.in_(list(incident_ids))
        )
        return list((await self.session.execute(stmt)).scalars())

    async def events(self, ids: Sequence[int]) -> list[SlaEvent]:
        """Warnings and breaches by id (what `slaBreached` hears of), in id order."""
        stmt = self.scope(select(SlaEvent), SlaEvent.company_id).where(SlaEvent.id.in_(list(ids)))
        return list((await self.session.execute(stmt.order_by(SlaEvent.id))).scalars())


class SlaPolicyRepository(ScopedRepository):
    """Companies' SLA policies (`companies.sla_policy`): read within the caller's scope, changed by
    those who hold `company:settings` on the company (its admins, MSP admins), audited, and announced
    as a settings change of the company."""

    def __init__(self, session: Any, principal: Principal | None, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def get(self, company_id: uuid.UUID) -> SlaPolicy | None:
        stmt = self.scope(select(Company.sla_policy), Company.id).where(Company.id == company_id)
        raw = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if raw is None else SlaPolicy.from_dict(raw)

    async def update(self, company_id: uuid.UUID, change: Callable[[SlaPolicy], SlaPolicy]) -> SlaPolicy:
        """Apply `change` (validated by the caller) to the company's policy."""
        try:
            self.require(Permission.COMPANY_SETTINGS, company_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="companyId") from None
        stmt = select(Company).where(Company.id == company_id, Company.deleted_at.is_(None)).with_for_update()
        company = (await self.session.execute(stmt)).scalar_one_or_none()
        if company is None:
            raise NotFound("company not found", field="companyId")
        before = SlaPolicy.from_dict(company.sla_policy)
        after = change(before)
        company.sla_policy = after.to_dict()
        company.updated_at = func.now()
        await self.session.flush()
        await self.audit.record(
            "company.sla_policy_update",
            "company",
            company_id,
            company_id=company_id,
            before=before.to_dict(),
            after=after.to_dict(),
        )
        await publish(self.session, company_changed(company_id, COMPANY_SETTINGS))
        return after
