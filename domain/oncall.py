"""On-call schedules: who is on call at an instant, and the concrete intervals over a range.

A schedule lives in one IANA time zone. Three kinds of rule put people on call:

- weekly shifts: a weekday, a start and an end in the schedule's local wall time. An end at or before
  the start ends the next day (22:00-06:00 crosses midnight); an end of `00:00` or `24:00` is the
  midnight closing the day. Local
  wall time is what people agree on, so a 22:00-06:00 shift on the night the clocks change lasts
  7 or 9 hours. A local start that does not exist (02:30 on a spring-forward night) is read with
  the offset before the change, one that happens twice as its first occurrence (Python's `fold=0`).
- a rotation: ordered members, each holding it for `length_days` from a handover at the set local
  weekday and time; the first handover is the first such weekday on or after the start date. The
  holder is on call the whole turn.
- one-off overrides, in UTC instants: `user` is on call from `starts_at` to `ends_at`; when it
  covers someone, that person's shifts and rotation turns give way for that time (overrides win).

Everything here is pure: the rules are evaluated in Python from the stored rows, so the database
answers with one or two statements whatever the schedule looks like.
"""

from __future__ import annotations

import enum
import functools
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain.errors import InvalidInput

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
#: The longest range `shifts_between` answers: the calendar feed's week back and eight ahead.
MAX_RANGE = timedelta(days=63)
#: The longest one override may last.
MAX_OVERRIDE = timedelta(days=62)
MAX_ROTATION_MEMBERS = 50
MAX_ROTATION_DAYS = 8 * 7
MAX_SHIFTS = 200
NAME_MAX = 120


class Source(enum.StrEnum):
    """Which rule put a person on call for an interval."""

    SHIFT = "SHIFT"
    ROTATION = "ROTATION"
    OVERRIDE = "OVERRIDE"


@dataclass(frozen=True, slots=True)
class WeeklyShift:
    """Every `weekday` (0 = Monday) from `start_minute` to `end_minute` local (minutes since midnight;
    an end at or before the start is on the next day)."""

    user_id: uuid.UUID
    weekday: int
    start_minute: int
    end_minute: int
    id: uuid.UUID | None = None

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    @property
    def length_minutes(self) -> int:
        end = self.end_minute + (MINUTES_PER_DAY if self.crosses_midnight else 0)
        return end - self.start_minute


@dataclass(frozen=True, slots=True)
class Rotation:
    """`members` take turns of `length_days`, handing over at `handover_minute` local on
    `handover_weekday`, the first time on or after `start_date`."""

    members: tuple[uuid.UUID, ...]
    handover_weekday: int
    handover_minute: int
    length_days: int
    start_date: date

    def first_handover_date(self) -> date:
        return self.start_date + timedelta(days=(self.handover_weekday - self.start_date.weekday()) % 7)


@dataclass(frozen=True, slots=True)
class Override:
    """`user_id` is on call from `starts_at` to `ends_at` (UTC), in place of `covers` when given."""

    user_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    covers: uuid.UUID | None = None
    id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    timezone: str
    shifts: tuple[WeeklyShift, ...] = ()
    rotations: tuple[Rotation, ...] = ()
    overrides: tuple[Override, ...] = ()
    id: uuid.UUID | None = None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zone_of(self.timezone)

    def people(self) -> set[uuid.UUID]:
        """Everyone the schedule's shifts and rotations name (overrides add no one to it)."""
        return {s.user_id for s in self.shifts} | {m for r in self.rotations for m in r.members}


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A concrete stretch of one person on call, in UTC."""

    start: datetime
    end: datetime
    user_id: uuid.UUID = field(compare=True)
    source: Source = field(compare=True)
    #: who an override's interval covers
    covers: uuid.UUID | None = field(default=None, compare=False)
    schedule_id: uuid.UUID | None = field(default=None, compare=False)


# ---- validation --------------------------------------------------------------------------------


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`; anything else (a file path, a POSIX TZ string, a typo) is refused."""
    if name not in _zone_names():
        raise InvalidInput(
            f"unknown time zone {name[:64]!r}: use an IANA name such as Europe/Berlin", field="timeZone"
        )
    return zoneinfo.ZoneInfo(name)


def parse_clock(text: str, field: str, *, end: bool = False) -> int:
    """`HH:MM` (24-hour) as minutes since midnight; `24:00` only as an end."""
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise InvalidInput("must be a time as HH:MM", field=field)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY or (value == MINUTES_PER_DAY and not end):
        raise InvalidInput("must be a time from 00:00 to 23:59" + (" (or 24:00)" if end else ""), field=field)
    # An end of 00:00 is the midnight that closes the day (22:00-00:00 is two hours).
    return MINUTES_PER_DAY if end and value == 0 else value


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def validate_shift(shift: WeeklyShift, field_prefix: str = "") -> None:
    if not 0 <= shift.weekday <= 6:
        raise InvalidInput("must be a weekday, 0 (Monday) to 6", field=f"{field_prefix}weekday")
    if not 0 <= shift.start_minute < MINUTES_PER_DAY:
        raise InvalidInput("must be a time from 00:00 to 23:59", field=f"{field_prefix}startTime")
    if not 0 < shift.end_minute <= MINUTES_PER_DAY:
        raise InvalidInput("must be a time from 00:01 to 24:00", field=f"{field_prefix}endTime")
    if shift.end_minute == shift.start_minute:
        raise InvalidInput(
            "a shift must not end when it starts (24 hours: 00:00 to 24:00)",
            field=f"{field_prefix}endTime",
            code="ZERO_LENGTH",
        )


def _week_spans(shift: WeeklyShift) -> list[tuple[int, int]]:
    """The shift as minute-of-week spans (split where it wraps from Sunday into Monday)."""
    start = shift.weekday * MINUTES_PER_DAY + shift.start_minute
    end = start + shift.length_minutes
    if end <= MINUTES_PER_WEEK:
        return [(start, end)]
    return [(start, MINUTES_PER_WEEK), (0, end - MINUTES_PER_WEEK)]


def overlapping_shift(shifts: Iterable[WeeklyShift]) -> tuple[WeeklyShift, WeeklyShift] | None:
    """Two shifts of the same person that overlap in the weekly pattern, if any."""
    by_user: dict[uuid.UUID, list[tuple[int, int, WeeklyShift]]] = defaultdict(list)
    for shift in shifts:
        by_user[shift.user_id].extend((a, b, shift) for a, b in _week_spans(shift))
    for spans in by_user.values():
        spans.sort(key=lambda s: (s[0], s[1]))
        for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
            if start < end and first is not second:
                return first, second
    return None


def validate_rotation(rotation: Rotation) -> None:
    if not rotation.members:
        raise InvalidInput("a rotation needs at least one member", field="members")
    if len(rotation.members) > MAX_ROTATION_MEMBERS:
        raise InvalidInput(f"at most {MAX_ROTATION_MEMBERS} members", field="members")
    if len(set(rotation.members)) != len(rotation.members):
        raise InvalidInput("each member at most once", field="members", code="DUPLICATE")
    if not 0 <= rotation.handover_weekday <= 6:
        raise InvalidInput("must be a weekday, 0 (Monday) to 6", field="handoverWeekday")
    if not 0 <= rotation.handover_minute < MINUTES_PER_DAY:
        raise InvalidInput("must be a time from 00:00 to 23:59", field="handoverTime")
    if not 1 <= rotation.length_days <= MAX_ROTATION_DAYS:
        raise InvalidInput(f"a turn lasts 1 day to {MAX_ROTATION_DAYS // 7} weeks", field="length")


def validate_schedule(schedule: Schedule) -> None:
    """The whole schedule holds together: a known zone, sane shifts that do not overlap per person,
    sane rotations. Overrides are checked when they are made (`validate_override`)."""
    zone_of(schedule.timezone)
    if len(schedule.shifts) > MAX_SHIFTS:
        raise InvalidInput(f"a schedule holds at most {MAX_SHIFTS} shifts", field="scheduleId")
    for shift in schedule.shifts:
        validate_shift(shift)
    clash = overlapping_shift(schedule.shifts)
    if clash is not None:
        a = clash[0]
        raise InvalidInput(
            f"overlaps another shift of this person ({WEEKDAYS[a.weekday]} "
            f"{format_clock(a.start_minute)}-{format_clock(a.end_minute)})",
            field="startTime",
            code="CONFLICT",
        )
    for rotation in schedule.rotations:
        validate_rotation(rotation)


def validate_override(schedule: Schedule, override: Override) -> None:
    for name, value in (("startsAt", override.starts_at), ("endsAt", override.ends_at)):
        if value.tzinfo is None:
            raise InvalidInput("must carry a time zone offset", field=name)
    if override.ends_at <= override.starts_at:
        raise InvalidInput("must be after startsAt", field="endsAt")
    if override.ends_at - override.starts_at > MAX_OVERRIDE:
        raise InvalidInput(f"an override lasts at most {MAX_OVERRIDE.days} days", field="endsAt")
    if override.covers is not None:
        if override.covers == override.user_id:
            raise InvalidInput("a person cannot cover themselves", field="coversUserId")
        if override.covers not in schedule.people():
            raise InvalidInput(
                "this person has no shift or rotation turn in the schedule",
                field="coversUserId",
                code="NOT_FOUND",
            )


def validate_range(start: datetime, end: datetime, limit: timedelta = MAX_RANGE) -> None:
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise InvalidInput("must carry a time zone offset", field=name)
    if end <= start:
        raise InvalidInput("must be after from", field="to")
    if end - start > limit:
        raise InvalidInput(f"a range spans at most {limit.days} days", field="to", code="RANGE_TOO_LONG")


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# ---- evaluation --------------------------------------------------------------------------------


def _local(day: date, minute: int, zone: zoneinfo.ZoneInfo) -> datetime:
    """`minute` of local `day` (1440: the next midnight) as a UTC instant."""
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=minute // MINUTES_PER_DAY), minute % MINUTES_PER_DAY
    return datetime.combine(day, time(minute // 60, minute % 60), zone).astimezone(UTC)


def _shift_intervals(schedule: Schedule, start: datetime, end: datetime) -> list[Interval]:
    zone = schedule.zone
    # Local dates whose shifts may reach the range: a shift starts on its day and lasts under 24h.
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    out = []
    day = first
    while day <= last:
        for shift in schedule.shifts:
            if shift.weekday != day.weekday():
                continue
            begins = _local(day, shift.start_minute, zone)
            ends = _local(day, shift.start_minute + shift.length_minutes, zone)
            if begins < end and ends > start and ends > begins:
                out.append(Interval(begins, ends, shift.user_id, Source.SHIFT, schedule_id=schedule.id))
        day += timedelta(days=1)
    return out


def _rotation_intervals(
    schedule: Schedule, rotation: Rotation, start: datetime, end: datetime
) -> list[Interval]:
    zone = schedule.zone
    epoch = rotation.first_handover_date()
    # The turn holding `start`, found on local dates (a turn is whole days of wall time).
    local_start = start.astimezone(zone)
    elapsed_days = (local_start.date() - epoch).days
    turn = max(0, elapsed_days // rotation.length_days - 1)
    out: list[Interval] = []
    while True:
        begins = _local(epoch + timedelta(days=turn * rotation.length_days), rotation.handover_minute, zone)
        ends = _local(
            epoch + timedelta(days=(turn + 1) * rotation.length_days), rotation.handover_minute, zone
        )
        if begins >= end:
            return out
        if ends > start:
            member = rotation.members[turn % len(rotation.members)]
            out.append(Interval(begins, ends, member, Source.ROTATION, schedule_id=schedule.id))
        turn += 1


def _minus(interval: Interval, start: datetime, end: datetime) -> list[Interval]:
    """`interval` without the stretch from `start` to `end` (zero, one or two pieces)."""
    if end <= interval.start or start >= interval.end:
        return [interval]
    pieces = []
    if interval.start < start:
        pieces.append(_with(interval, interval.start, start))
    if end < interval.end:
        pieces.append(_with(interval, end, interval.end))
    return pieces


def _with(interval: Interval, start: datetime, end: datetime) -> Interval:
    return Interval(start, end, interval.user_id, interval.source, interval.covers, interval.schedule_id)


def shifts_between(
    schedule: Schedule, start: datetime, end: datetime, *, limit: timedelta = MAX_RANGE
) -> list[Interval]:
    """Every interval of someone on call that overlaps `start`..`end`, in order of start (whole
    intervals, not cut at the range's edges); overrides applied."""
    validate_range(start, end, limit)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    intervals = _shift_intervals(schedule, start, end)
    for rotation in schedule.rotations:
        intervals.extend(_rotation_intervals(schedule, rotation, start, end))
    for override in sorted(schedule.overrides, key=lambda o: o.starts_at):
        if override.covers is None:
            continue
        intervals = [
            piece
            for i in intervals
            for piece in (
                _minus(i, override.starts_at, override.ends_at)
                if i.user_id == override.covers and i.source is not Source.OVERRIDE
                else [i]
            )
        ]
    for override in schedule.overrides:
        if override.starts_at < end and override.ends_at > start:
            intervals.append(
                Interval(
                    override.starts_at.astimezone(UTC),
                    override.ends_at.astimezone(UTC),
                    override.user_id,
                    Source.OVERRIDE,
                    override.covers,
                    schedule.id,
                )
            )
    return sorted(intervals)


def on_call_at(schedule: Schedule, at: datetime) -> set[uuid.UUID]:
    """The people on call at instant `at`."""
    if at.tzinfo is None:
        raise InvalidInput("must carry a time zone offset", field="at")
    return {
        i.user_id for i in shifts_between(schedule, at, at + timedelta(seconds=1)) if i.start <= at < i.end
    }
