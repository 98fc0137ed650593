"""Incidents and their timelines: scoped reads and searches, and the manual status transitions."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Numeric,
    Select,
    SQLColumnExpression,
    UnaryExpression,
    and_,
    any_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from db.incident_writer import apply_action
from db.pagination import Page, check_first, decode_cursor, encode_cursor, first_pages, paginate
from db.repositories.alerts import AlertSearch, search_clauses
from db.repositories.audit import AuditRepository
from db.repositories.base import RawRowsById, ScopedRepository
from db.tables import Incident, IncidentEvent
from domain.errors import InvalidInput, NotFound
from domain.incidents import IncidentAction, IncidentStatus, ManualChange
from domain.priority import AGE_DECAY_CAP_HOURS, RESOLVED_SCORE
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


class ScoredIncident(NamedTuple):
    """An incident with its priority score at the time its list was read (the list's sort key)."""

    incident: Incident
    priority_score: float


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

    def _searched(self, search: IncidentSearch) -> Select[Any]:
        """The incidents `search` asks for, among those the caller may read."""
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
        return stmt

    async def page(
        self,
        search: IncidentSearch,
        *,
        sort: IncidentSort = IncidentSort.CREATED_AT,
        descending: bool = True,
        first: int | None,
        after: str | None,
    ) -> Page[Incident]:
        """By creation or last alert (then id); by priority, see `page_by_priority`."""
        if sort is IncidentSort.PRIORITY:
            raise ValueError("incidents by priority come from page_by_priority")
        key = getattr(Incident, sort.value)
        if after:
            _check_cursor_kind(after, sort)
        return await paginate(
            self.session,
            self._searched(search),
            [key, Incident.id],
            first=first,
            after=after,
            descending=descending,
        )

    async def page_by_priority(
        self,
        search: IncidentSearch,
        *,
        descending: bool = True,
        first: int | None,
        after: str | None,
        now: datetime,
    ) -> Page[ScoredIncident]:
        """By the live priority score, then id; each incident with the score it was sorted by.

        The score decays with age, so the order changes with time: a list is read as of one moment,
        `now` for its first page, and its cursors carry that moment so every later page continues the
        same order (no incident skipped or repeated because it decayed between two pages) and shows
        the scores it was sorted by.

        The score is `priority_base` minus min(age, cap) hours. Incidents older than the cap have decayed
        fully: they sort by `priority_base` alone, read in order from (company_id, priority_base, id).
        Younger ones, a few hours of incidents, are found by creation time and sorted. Each part stops
        at the page size; the page is the best of both.
        """
        limit = check_first(first)
        cursor: tuple[float, uuid.UUID] | None = None
        if after:
            as_of, cursor_score, last_id = _priority_cursor(after)
            cursor = (cursor_score, last_id)
        else:
            as_of = now
        at = literal(as_of, DateTime(timezone=True))
        score = _score_at(at).label("score")
        decayed_before = literal(as_of - timedelta(hours=AGE_DECAY_CAP_HOURS), DateTime(timezone=True))
        base = self._searched(search).add_columns(score)

        def beyond(sort_key: Any, cap: float) -> ColumnElement[bool]:
            """After the cursor in the order of `sort_key` (the score plus `cap`, index-usable)."""
            assert cursor is not None
            value, last_id = cursor
            after_score = score < value if descending else score > value
            near = sort_key <= value + cap if descending else sort_key >= value + cap
            return and_(near, or_(after_score, and_(score == value, _id_after(last_id, descending))))

        def order(column: SQLColumnExpression[Any]) -> UnaryExpression[Any]:
            return column.desc() if descending else column.asc()

        decayed = base.where(Incident.created_at <= decayed_before)
        decaying = base.where(Incident.created_at > decayed_before)
        if cursor is not None:
            decayed = decayed.where(beyond(Incident.priority_base, AGE_DECAY_CAP_HOURS))
            decaying = decaying.where(beyond(score, 0.0))
        parts = union_all(
            decayed.order_by(order(Incident.priority_base), order(Incident.id)).limit(limit + 1),
            decaying.order_by(order(score), order(Incident.id)).limit(limit + 1),
        ).subquery()
        incident = aliased(Incident, parts)
        stmt = (
            select(incident, parts.c.score).order_by(order(parts.c.score), order(parts.c.id)).limit(limit + 1)
        )
        found = [ScoredIncident(row, value) for row, value in (await self.session.execute(stmt)).all()]
        items = found[:limit]
        return Page(
            items=items,
            cursors=[encode_cursor([as_of, i.priority_score, i.incident.id]) for i in items],
            has_next=len(found) > limit,
            has_previous=after is not None,
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
    ) -> tuple[Incident, ManualChange]:
        """A person's action on an incident (`domain.incidents.manual_change`), applied as a whole by
        the one incident writer (`db.incident_writer.apply_action`: fields, timeline entries with the
        actor, the outbox row, closing the open alerts, the bus event), plus the audit entry."""
        note = check_note(note)
        stmt = self.scope(select(Incident.company_id), Incident.company_id).where(Incident.id == incident_id)
        company_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if company_id is None:
            raise NotFound("incident not found", field="id")
        self.require(Permission.INCIDENT_WORK, company_id, what="incident")
        principal = self._principal()
        raw = await (await self.session.connection()).get_raw_connection()
        # SQLAlchemy's None is for an invalidated connection; the session's, checked out here, is not.
        assert raw.driver_connection is not None
        applied = await apply_action(
            raw.driver_connection,
            incident_id,
            action,
            principal.actor,
            now,
            note=note,
            actor_id=None if principal.is_system else principal.user_id,
            strict=True,
        )
        if applied is None:  # deleted between the read and the lock
            raise NotFound("incident not found", field="id")
        change = applied.change
        incident = await self.session.get(Incident, incident_id, populate_existing=True)
        assert incident is not None
        await self.audit.record(
            f"incident.{action.value}",
            "incident",
            incident.id,
            company_id=incident.company_id,
            before={"status": change.before.value},
            after={"status": change.status.value, "note": note},
        )
        return incident, change


def _check_cursor_kind(after: str, sort: IncidentSort) -> None:
    """A cursor from another sort order would compare a number with a time: refuse it cleanly."""
    if not isinstance(decode_cursor(after, 2)[0], datetime):
        raise InvalidInput("is not a valid cursor", field="after", code="INVALID_CURSOR")


def _priority_cursor(after: str) -> tuple[datetime, float, uuid.UUID]:
    """(the list's moment, score, id) of a priority cursor; anything else is refused cleanly."""
    as_of, score, last_id = decode_cursor(after, 3)
    if (
        not isinstance(as_of, datetime)
        or as_of.tzinfo is None
        or not isinstance(score, (int, float))
        or isinstance(score, bool)
        or not isinstance(last_id, uuid.UUID)
    ):
        raise InvalidInput("is not a valid cursor", field="after", code="INVALID_CURSOR")
    return as_of, float(score), last_id


def _score_at(at: Any) -> ColumnElement[float]:
    """`domain.priority.priority_score` at `at`, in SQL: the base minus one point per hour of age
    (never negative, at most the cap), rounded to 2 decimals as the domain rounds; 0 once resolved.

    A resolved incident's base is the cap, so past the cap its score is `priority_base - cap` like
    every other incident's, which `page_by_priority` relies on to read those by the index alone."""
    age_hours = func.extract("epoch", at - Incident.created_at) / 3600
    decay = func.least(func.greatest(age_hours, 0), AGE_DECAY_CAP_HOURS)
    live = cast(func.round(cast(Incident.priority_base - decay, Numeric), 2), Float)
    resolved = Incident.status == IncidentStatus.RESOLVED.value
    return case((resolved, literal(RESOLVED_SCORE, Float)), else_=live)


def _id_after(last_id: uuid.UUID, descending: bool) -> ColumnElement[bool]:
    return Incident.id < last_id if descending else Incident.id > last_id
