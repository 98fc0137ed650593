"""Stored alerts: scoped reads and searches, closing an incident's open alerts, the ingest gate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, or_, select

from db.pagination import Page, first_pages, paginate
from db.repositories.base import RawRowsById, ScopedRepository
from db.tables import Alert, Company
from domain.errors import NotFound
from domain.rbac import Permission

TEXT_SEARCH_MAX = 200  # longer search text is cut: a substring search needs no more

# Alerts by id for the alertReceived subscription (see RawRowsById).
alert_rows = RawRowsById(Alert, decode={"tags": orjson.loads, "raw": orjson.loads})


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


def search_clauses(
    search: AlertSearch,
    *,
    status: Any,
    severity: Any,
    asset_id: Any,
    asset_name: Any,
    tool: Callable[[str], ColumnElement[bool]],
    time: Any,
    text: tuple[Any, ...],
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the filters alert and incident searches share, on the given columns."""
    clauses: list[ColumnElement[bool]] = []
    if search.statuses:
        clauses.append(status.in_(search.statuses))
    if search.severities:
        clauses.append(severity.in_(search.severities))
    if search.asset_id is not None:
        clauses.append(asset_id == search.asset_id)
    if search.asset_name:
        clauses.append(func.lower(asset_name).contains(bounded_text(search.asset_name), autoescape=True))
    if search.tool:
        clauses.append(tool(search.tool))
    if search.since is not None:
        clauses.append(time >= search.since)
    if search.until is not None:
        clauses.append(time < search.until)
    needle = bounded_text(search.text)
    if needle:
        clauses.append(or_(*(func.lower(column).contains(needle, autoescape=True) for column in text)))
    return clauses


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
            self.readable(Alert),
            Alert.company_id,
            search.company_id,
            search.unknown_company,
            Permission.ALERT_READ,
        )
        stmt = stmt.where(
            *search_clauses(
                search,
                status=Alert.status,
                severity=Alert.severity,
                asset_id=Alert.asset_id,
                asset_name=Alert.asset_name,
                tool=lambda tool: Alert.tool == tool,
                time=Alert.event_time,
                text=(Alert.message, Alert.signature, Alert.asset_name),
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

    async def first_for_incidents(
        self, incident_ids: list[uuid.UUID], *, first: int | None
    ) -> dict[uuid.UUID, Page[Alert]]:
        """The first page of each incident's alerts (as `for_incident`), in one statement."""
        return await first_pages(
            self.session,
            self.readable(Alert),
            Alert.incident_id,
            incident_ids,
            [Alert.event_time, Alert.id],
            first=first,
        )

    async def ingest_company(self, company_id: uuid.UUID) -> Company:
        """The company alerts are ingested for, if the caller may ingest for it (else NotFound / denied)."""
        stmt = self.scope(select(Company), Company.id).where(Company.id == company_id)
        company = (await self.session.execute(stmt)).scalar_one_or_none()
        if company is None:
            raise NotFound("company not found", field="companyId")
        self.require(Permission.ALERT_INGEST, company_id)
        return company
