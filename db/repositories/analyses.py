"""Incident analyses, read in the caller's tenant scope (the loaders of `Incident.analysis`,
`rootIncident` and `relatedIncidents`)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from db.repositories.base import ScopedRepository
from db.tables import IncidentAnalysis, IncidentLlmAnalysis, LlmUsage

MAX_RELATED = 100


class AnalysisRepository(ScopedRepository):
    async def for_incidents(self, ids: list[uuid.UUID]) -> list[IncidentAnalysis]:
        stmt = self.scope(select(IncidentAnalysis), IncidentAnalysis.company_id).where(
            IncidentAnalysis.incident_id.in_(ids)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def downstream_of(self, root_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """The incidents whose analysis names each root as theirs, oldest analysis first."""
        stmt = (
            self.scope(select(IncidentAnalysis), IncidentAnalysis.company_id)
            .where(IncidentAnalysis.root_incident_id.in_(root_ids))
            .order_by(IncidentAnalysis.analyzed_at, IncidentAnalysis.incident_id)
        )
        found: dict[uuid.UUID, list[uuid.UUID]] = {r: [] for r in root_ids}
        for row in (await self.session.execute(stmt)).scalars():
            root = row.root_incident_id
            if root is not None and len(found[root]) < MAX_RELATED:
                found[root].append(row.incident_id)
        return found

    async def llm_for_incidents(self, ids: list[uuid.UUID]) -> list[IncidentLlmAnalysis]:
        stmt = self.scope(select(IncidentLlmAnalysis), IncidentLlmAnalysis.company_id).where(
            IncidentLlmAnalysis.incident_id.in_(ids)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def tokens_used(self, company_id: uuid.UUID, month: date) -> int:
        """Tokens the company's LLM analyses used in `month` (0 outside the caller's companies)."""
        stmt = self.scope(select(LlmUsage.tokens), LlmUsage.company_id).where(
            LlmUsage.company_id == company_id, LlmUsage.month == month
        )
        return int((await self.session.execute(stmt)).scalar_one_or_none() or 0)
