"""Incidents and their timelines: scoped reads and searches, and the manual status transitions."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, literal

from db.pagination import Page, decode_cursor, first_pages, paginate
from db.repositories.alerts import AlertSearch, search_clauses
from db.repositories.audit import AuditRepository
from db.repositories.base import RawRowsById, ScopedRepository
from db.tables import Incident, IncidentEvent
from domain.errors import InvalidInput, NotFound
from domain.incidents import TRANSITIONS, IncidentAction, IncidentEventKind, IncidentStatus, transition
from domain.rbac import Permission

NOTE_MAX = 2000


# Incidents by id for the incidentChanged subscription (see RawRowsById).
incident_rows = RawRowsById(Incident)


class IncidentSort(enum.StrEnum):
    CREATED_AT = "created_at"
    PRIORITY = "priority_score"
    LAST_ALERT_AT = "last_alert_at"


@dataclass(frozen=True, slots=True)
class IncidentSearch(AlertSearch):
    """What `incidents(...)` asks for: the alert filters plus flapping; None or empty means "any"."""

    flapping: bool | None = None


def check_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"must be at most {NOTE_MAX} characters", field="note")
    return note or None


class IncidentRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        stmt = self.readable(Incident).where(Incident.id == incident_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_many(self, ids: list[uuid.UUID]) -> list[Incident]:
        if not ids:
            return []
        return list(
            (await self.session.execute(self.readable(Incident).where(Incident.id.in_(ids)))).scalars()
        )

    async def page(
        self,
        search: IncidentSearch,
        *,
        sort: IncidentSort = IncidentSort.CREATED_AT,
        descending: bool = True,
        first: int | None,
        after: str | None,
    ) -> Page[Incident]:
        stmt = self.in_company(
            self.readable(Incident),
            Incident.company_id,
            search.company_id,
            search.unknown_company,
            Permission.INCIDENT_READ,
        )
        stmt = stmt.where(
            *search_clauses(
                search,
                status=Incident.status,
                severity=Incident.severity,
                asset_id=Incident.asset_id,
                asset_name=Incident.asset_name,
                tool=lambda tool: literal(tool) == any_(Incident.tool_sources),
                time=Incident.created_at,
                text=(Incident.signature, Incident.asset_name),
            )
        )
        if search.flapping is not None:
            stmt = stmt.where(Incident.flapping.is_(search.flapping))
        key = getattr(Incident, sort.value)
        if after:
            _check_cursor_kind(after, sort)
        return await paginate(
            self.session, stmt, [key, Incident.id], first=first, after=after, descending=descending
        )

    async def timeline(
        self, incident_id: uuid.UUID, *, first: int | None, after: str | None
    ) -> Page[IncidentEvent]:
        """The incident's events, oldest first."""
        stmt = self.readable(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
        return await paginate(
            self.session, stmt, [IncidentEvent.id], first=first, after=after, descending=False
        )

    async def first_timelines(
        self, incident_ids: list[uuid.UUID], *, first: int | None
    ) -> dict[uuid.UUID, Page[IncidentEvent]]:
        """The first page of each incident's timeline (as `timeline`), in one statement."""
        return await first_pages(
            self.session,
            self.readable(IncidentEvent),
            IncidentEvent.incident_id,
            incident_ids,
            [IncidentEvent.id],
            first=first,
        )

    async def get_event(self, event_id: int) -> IncidentEvent | None:
        stmt = self.readable(IncidentEvent).where(IncidentEvent.id == event_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def apply(
        self, incident_id: uuid.UUID, action: IncidentAction, note: str | None, now: datetime
    ) -> Incident:
        """A technician's acknowledge / resolve / reopen: status, timeline event with actor, audit entry.

        The caller closes the open alerts of a resolved incident and publishes the change.
        """
        note = check_note(note)
        stmt = self.readable(Incident).where(Incident.id == incident_id).with_for_update()
        incident = (await self.session.execute(stmt)).scalar_one_or_none()
        if incident is None:
            raise NotFound("incident not found", field="id")
        self.require(Permission.INCIDENT_WORK, incident.company_id, what="incident")
        before = IncidentStatus(incident.status)
        after = transition(before, action)
        actor = self._principal().user_id if self._principal().user_id.int else None
        data: dict[str, Any] = {"from": before.value, "to": after.value}
        if note:
            data["note"] = note
        events = [TRANSITIONS[action].event]
        if action is IncidentAction.ACKNOWLEDGE:
            incident.acknowledged_at = now
            incident.acknowledged_by = actor
        elif action is IncidentAction.RESOLVE:
            incident.resolved_at = now
            incident.active_fingerprints = []
            if incident.flapping:
                # As auto-resolve does: a closed incident is no longer flapping.
                incident.flapping = False
                events.append(IncidentEventKind.FLAPPING_STOPPED)
        else:
            incident.resolved_at = None
        incident.status = after.value
        incident.updated_at = now
        for kind in events:
            self.session.add(
                IncidentEvent(
                    company_id=incident.company_id,
                    incident_id=incident.id,
                    kind=kind.value,
                    at=now,
                    actor_id=actor,
                    data=data if kind is events[0] else {},
                )
            )
        await self.session.flush()
        await self.audit.record(
            f"incident.{action.value}",
            "incident",
            incident.id,
            company_id=incident.company_id,
            before={"status": before.value},
            after={"status": after.value, "note": note},
        )
        return incident


def _check_cursor_kind(after: str, sort: IncidentSort) -> None:
    """A cursor from another sort order would compare a number with a time: refuse it cleanly."""
    value = decode_cursor(after, 2)[0]
    expected: type | tuple[type, ...] = (int, float) if sort is IncidentSort.PRIORITY else datetime
    if not isinstance(value, expected) or isinstance(value, bool):
        raise InvalidInput("is not a valid cursor", field="after", code="INVALID_CURSOR")
