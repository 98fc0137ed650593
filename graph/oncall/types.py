"""GraphQL types of on-call schedules: weekly shifts, a rotation, overrides, concrete intervals."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import strawberry

from db import tables
from db.repositories.oncall import OnCallRepository, ScheduleDetails
from domain.oncall import Interval, format_clock
from graph.core import Node, to_global_id
from graph.incidents.loaders import loaders_for
from graph.platform.types import Company, User, company_type, user_type
from graph.sla.types import Weekday  # one day-of-week enum for business hours and schedules


async def oncall_repository(info: strawberry.Info) -> OnCallRepository:
    """The operation's read-side on-call repository."""
    uow: Any = (await loaders_for(info)).uow
    repo: OnCallRepository = uow.oncall
    return repo


@strawberry.enum(description="Which rule put a person on call for an interval.")
class OnCallSource(enum.Enum):
    SHIFT = strawberry.enum_value("SHIFT", description="A weekly shift.")
    ROTATION = strawberry.enum_value("ROTATION", description="A turn of the schedule's rotation.")
    OVERRIDE = strawberry.enum_value("OVERRIDE", description="A one-off override.")


@strawberry.enum(description="The unit of a rotation turn's length.")
class RotationUnit(enum.Enum):
    DAYS = strawberry.enum_value("DAYS", description="Days of local wall time.")
    WEEKS = strawberry.enum_value("WEEKS", description="Weeks (7 days).")


@strawberry.type(description="Every week on `weekday`, from `startTime` to `endTime` local wall time.")
class OnCallShift(Node):
    user: User = strawberry.field(description="Who is on call.")
    weekday: Weekday = strawberry.field(description="The day it starts.")
    start_time: str = strawberry.field(description="Start, HH:MM local.")
    end_time: str = strawberry.field(
        description="End, HH:MM local (24:00: midnight); at or before the start: on the next day."
    )
    crosses_midnight: bool = strawberry.field(description="Whether it ends on the next day.")


@strawberry.type(description="Members take turns, each holding the schedule for one turn, all day.")
class OnCallRotation:
    members: list[User] = strawberry.field(description="In turn order.")
    handover_weekday: Weekday = strawberry.field(description="The weekday of the handover.")
    handover_time: str = strawberry.field(description="The handover's time, HH:MM local.")
    length_days: int = strawberry.field(description="How long one turn lasts, in days.")
    start_date: date = strawberry.field(
        description="The first handover is the first `handoverWeekday` on or after this date."
    )


@strawberry.type(description="A one-off change: `user` is on call in place of `covers` (or as well).")
class OnCallOverride(Node):
    user: User = strawberry.field(description="Who is on call.")
    covers: User | None = strawberry.field(description="Whose shifts and turns give way; null: nobody's.")
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")


@strawberry.type(description="A concrete stretch of one person on call.")
class OnCallInterval:
    user: User = strawberry.field(description="Who is on call.")
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")
    source: OnCallSource = strawberry.field(description="The rule it comes from.")
    covers: User | None = strawberry.field(description="Whom an override covers.")


async def _company(root: OnCallSchedule, info: strawberry.Info) -> Company | None:
    if root._row.company_id is None:
        return None
    row = await (await loaders_for(info)).company.load(root._row.company_id)
    return company_type(row) if row is not None else None


async def _covers(root: OnCallSchedule, info: strawberry.Info) -> list[Company]:
    rows = await (await loaders_for(info)).company.load_many(list(root._row.covers or []))
    return [company_type(r) for r in rows if r is not None]


@strawberry.type(description="An on-call schedule: a company's, or MSP-wide for the companies it covers.")
class OnCallSchedule(Node):
    name: str = strawberry.field(description="Display name.")
    time_zone: str = strawberry.field(description="IANA time zone its shifts and handovers are in.")
    msp_wide: bool = strawberry.field(description="An MSP-wide schedule (no company; see `covers`).")
    shifts: list[OnCallShift] = strawberry.field(description="Weekly shifts, by weekday and start.")
    rotation: OnCallRotation | None = strawberry.field(description="Its rotation, if any.")
    overrides: list[OnCallOverride] = strawberry.field(description="Overrides not over yet, by start.")
    updated_at: datetime = strawberry.field(description="Last change to it or its rules.")
    _row: strawberry.Private[Any]

    company: Company | None = strawberry.field(
        resolver=_company, description="The owning company (null for MSP-wide schedules)."
    )
    covers: list[Company] = strawberry.field(
        resolver=_covers, description="The companies an MSP-wide schedule covers (empty for a company's own)."
    )


def _user(users: dict[uuid.UUID, tables.User], user_id: uuid.UUID) -> User:
    return user_type(users[user_id])


def people_of(details: ScheduleDetails) -> set[uuid.UUID]:
    ids = {s.user_id for s in details.shifts} | {o.user_id for o in details.overrides}
    ids |= {o.covers_user_id for o in details.overrides if o.covers_user_id is not None}
    if details.rotation is not None:
        ids |= set(details.rotation.members)
    return ids


def shift_type(row: tables.OnCallShift, users: dict[uuid.UUID, tables.User]) -> OnCallShift:
    return OnCallShift(
        id=to_global_id("OnCallShift", row.id),
        user=_user(users, row.user_id),
        weekday=Weekday(row.weekday),
        start_time=format_clock(row.start_minute),
        end_time=format_clock(row.end_minute),
        crosses_midnight=row.end_minute <= row.start_minute,
    )


def override_type(row: tables.OnCallOverride, users: dict[uuid.UUID, tables.User]) -> OnCallOverride:
    return OnCallOverride(
        id=to_global_id("OnCallOverride", row.id),
        user=_user(users, row.user_id),
        covers=_user(users, row.covers_user_id) if row.covers_user_id is not None else None,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


def schedule_type(
    row: tables.OnCallSchedule, details: ScheduleDetails, users: dict[uuid.UUID, tables.User]
) -> OnCallSchedule:
    rotation = details.rotation
    return OnCallSchedule(
        id=to_global_id("OnCallSchedule", row.id),
        name=row.name,
        time_zone=row.timezone,
        msp_wide=row.company_id is None,
        shifts=[shift_type(s, users) for s in details.shifts],
        rotation=None
        if rotation is None
        else OnCallRotation(
            members=[_user(users, m) for m in rotation.members if m in users],
            handover_weekday=Weekday(rotation.handover_weekday),
            handover_time=format_clock(rotation.handover_minute),
            length_days=rotation.length_days,
            start_date=rotation.start_date,
        ),
        overrides=[override_type(o, users) for o in details.overrides],
        updated_at=row.updated_at,
        _row=row,
    )


async def schedule_types(
    repo: OnCallRepository, rows: list[tables.OnCallSchedule], now: datetime
) -> list[OnCallSchedule]:
    """`rows` as GraphQL objects, their rules and people loaded for all of them at once."""
    details = await repo.details([r.id for r in rows], overrides_from=now)
    users = await repo.users(set().union(*(people_of(d) for d in details.values())) if details else set())
    return [schedule_type(r, details[r.id], users) for r in rows]


def interval_type(interval: Interval, users: dict[uuid.UUID, tables.User]) -> OnCallInterval:
    return OnCallInterval(
        user=_user(users, interval.user_id),
        starts_at=interval.start,
        ends_at=interval.end,
        source=OnCallSource(interval.source.value),
        covers=_user(users, interval.covers) if interval.covers is not None else None,
    )


@strawberry.type(description="Your personal iCalendar feed of your on-call shifts.")
class CalendarFeed:
    enabled: bool = strawberry.field(
        description="Whether you have a feed URL (`calendarFeedRotate` makes one and shows it once)."
    )
    created_at: datetime | None = strawberry.field(description="When the current URL was made.")
