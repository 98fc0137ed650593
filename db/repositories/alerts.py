"""Stored alerts: scoped reads and searches, closing an incident's open alerts, the ingest gate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.tables import Alert, Company
from domain.errors import NotFound
from domain.rbac import Permission

TEXT_SEARCH_MAX = 200  # longer search text is cut: a substring search needs no more


@dataclass(frozen=True, slots=True)
class AlertSearch:
    """What `alerts(...)` asks for; None or empty means "any". Values are the stored (lowercase) ones."""

    company_id: uuid.UUID | None = None
    # True when the caller named a company that could not be decoded: the answer is empty.
    unknown_company: bool = False
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    asset_id: uuid.UUID | None = None
    asset_name: str | None = None
    tool: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


def bounded_text(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[:TEXT_SEARCH_MAX].lower() if text else None


class AlertRepository(ScopedRepository):
    async def get(self, alert_id: uuid.UUID) -> Alert | None:
        stmt = self.readable(Alert).where(Alert.id == alert_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_many(self, ids: list[uuid.UUID]) -> list[Alert]:
        """The visible alerts among `ids`, in the order of `ids`."""
        if not ids:
            return []
        stmt = self.readable(Alert).where(Alert.id.in_(ids))
        found = {a.id: a for a in (await self.session.execute(stmt)).scalars()}
        return [found[i] for i in ids if i in found]

    async def page(self, search: AlertSearch, *, first: int | None, after: str | None) -> Page[Alert]:
        """Newest first: (received_at, id) descending."""
        stmt = self.in_company(
            self.readable(Alert), Alert.company_id, search.company_id, search.unknown_company, Permission.ALERT_READ
        )
        if search.statuses:
            stmt = stmt.where(Alert.status.in_(search.statuses))
        if search.severities:
            stmt = stmt.where(Alert.severity.in_(search.severities))
        if search.asset_id is not None:
            stmt = stmt.where(Alert.asset_id == search.asset_id)
        if search.asset_name:
            stmt = stmt.where(
                func.lower(Alert.asset_name).contains(bounded_text(search.asset_name), autoescape=True)
            )
        if search.tool:
            stmt = stmt.where(Alert.tool == search.tool)
        if search.since is not None:
            stmt = stmt.where(Alert.event_time >= search.since)
        if search.until is not None:
            stmt = stmt.where(Alert.event_time < search.until)
        text = bounded_text(search.text)
        if text:
            stmt = stmt.where(
                or_(
                    func.lower(Alert.message).contains(text, autoescape=True),
                    func.lower(Alert.signature).contains(text, autoescape=True),
                    func.lower(Alert.asset_name).contains(text, autoescape=True),
                )
            )
        return await paginate(self.session, stmt, [Alert.received_at, Alert.id], first=first, after=after)

    async def for_incident(
        self, incident_id: uuid.UUID, *, first: int | None, after: str | None
    ) -> Page[Alert]:
        """An incident's alerts in event-time order (oldest first)."""
        stmt = self.readable(Alert).where(Alert.incident_id == incident_id)
        return await paginate(
            self.session, stmt, [Alert.event_time, Alert.id], first=first, after=after, descending=False
        )

    async def close_open_for_incident(
        self, incident_id: uuid.UUID, company_id: uuid.UUID, at: datetime
    ) -> int:
        """Mark the incident's still-open firing alerts resolved at `at`; returns how many."""
        self.require(Permission.INCIDENT_WORK, company_id, what="incident")
        result = await self.session.execute(
            update(Alert)
            .where(
                Alert.company_id == company_id,
                Alert.incident_id == incident_id,
                Alert.status == "firing",
                Alert.resolved_at.is_(None),
            )
            .values(resolved_at=at)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def ingest_company(self, company_id: uuid.UUID) -> Company:
        """The company alerts are ingested for, if the caller may ingest for it (else NotFound / denied)."""
        stmt = self.scope(select(Company), Company.id).where(Company.id == company_id)
        company = (await self.session.execute(stmt)).scalar_one_or_none()
        if company is None:
            raise NotFound("company not found", field="companyId")
        self.require(Permission.ALERT_INGEST, company_id)
        return company
