"""SLA maths: a company's policy (targets per severity, business hours, holidays, when to warn) and
the clocks of one incident measured against it.

Clocks count business time only: inside the company's business hours (every hour when it has none),
outside its holidays (a country's public holidays from the `holidays` package plus its own dates),
read in its IANA time zone, so a day that gains or loses an hour to DST counts the hours it really
has. The time an incident waits on the client is paused time, counted in business seconds too, and
pushes its deadlines back by as much. Everything here is pure: "now" is always an argument.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.alerts import Severity
from domain.errors import InvalidInput

MIN_TARGET_MINUTES = 1
MAX_TARGET_MINUTES = 365 * 24 * 60
DEFAULT_WARN_PERCENT = 80
MAX_OWN_HOLIDAYS = 366
# A deadline is looked for this many days ahead at most: a calendar with almost no business time
# left (every working day a holiday) gives no deadline rather than an endless search.
SEARCH_DAYS = 3 * 366


class Weekday(enum.IntEnum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class SlaKind(enum.StrEnum):
    """Which of an incident's two clocks."""

    RESPONSE = "response"
    RESOLUTION = "resolution"


class SlaEventKind(enum.StrEnum):
    """What the monitor does once per incident, clock and deadline."""

    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """How long a severity's response and resolution may take, in business minutes."""

    response_minutes: int
    resolution_minutes: int

    def minutes(self, kind: SlaKind) -> int:
        return self.response_minutes if kind is SlaKind.RESPONSE else self.resolution_minutes


DEFAULT_TARGETS: Mapping[Severity, SlaTarget] = {
    Severity.CRITICAL: SlaTarget(30, 4 * 60),
    Severity.HIGH: SlaTarget(2 * 60, 8 * 60),
    Severity.MEDIUM: SlaTarget(8 * 60, 24 * 60),
    Severity.LOW: SlaTarget(24 * 60, 48 * 60),
}


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When the clocks run: `days`, from `start_minute` to `end_minute` (minutes after local
    midnight; 1440 is the end of the day), in `timezone`."""

    timezone: str
    days: frozenset[Weekday]
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class Holidays:
    """Days the clocks stand still: `country`'s public holidays (ISO 3166 code, optional
    `subdivision`) and the company's own `dates`."""

    country: str | None = None
    subdivision: str | None = None
    dates: frozenset[date] = frozenset()


@dataclass(frozen=True)  # no slots: `calendar` is cached on the instance
class SlaPolicy:
    """A company's SLA: targets per severity, business hours (None: around the clock), holidays, and
    the share of a deadline at which the monitor warns."""

    targets: Mapping[Severity, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    business_hours: BusinessHours | None = None
    holidays: Holidays = field(default_factory=Holidays)
    warn_percent: int = DEFAULT_WARN_PERCENT

    def target(self, severity: Severity | str) -> SlaTarget:
        return self.targets[Severity(severity)]

    @functools.cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.business_hours, self.holidays)

    # ---- stored form (companies.sla_policy) ----

    def to_dict(self) -> dict[str, Any]:
        hours = self.business_hours
        return {
            "targets": {
                s.value: [t.response_minutes, t.resolution_minutes] for s, t in sorted(self.targets.items())
            },
            "business_hours": None
            if hours is None
            else {
                "timezone": hours.timezone,
                "days": sorted(int(d) for d in hours.days),
                "start": hours.start_minute,
                "end": hours.end_minute,
            },
            "holidays": {
                "country": self.holidays.country,
                "subdivision": self.holidays.subdivision,
                "dates": sorted(d.isoformat() for d in self.holidays.dates),
            },
            "warn_percent": self.warn_percent,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SlaPolicy:
        """The stored policy; `{}` (a company that never set one) is the defaults."""
        raw = raw or {}
        targets = dict(DEFAULT_TARGETS)
        for severity, (response, resolution) in (raw.get("targets") or {}).items():
            targets[Severity(severity)] = SlaTarget(int(response), int(resolution))
        hours = raw.get("business_hours")
        days = raw.get("holidays") or {}
        return cls(
            targets=targets,
            business_hours=None
            if not hours
            else BusinessHours(
                hours["timezone"], frozenset(Weekday(d) for d in hours["days"]), hours["start"], hours["end"]
            ),
            holidays=Holidays(
                days.get("country"),
                days.get("subdivision"),
                frozenset(date.fromisoformat(d) for d in days.get("dates") or ()),
            ),
            warn_percent=int(raw.get("warn_percent", DEFAULT_WARN_PERCENT)),
        )


# ---- validation (what slaPolicyUpdate refuses) ---------------------------------------------------


def check_target(severity: Severity, response: int, resolution: int, at: str) -> SlaTarget:
    for value, name in ((response, "responseMinutes"), (resolution, "resolutionMinutes")):
        if value < MIN_TARGET_MINUTES:
            raise InvalidInput(
                f"must be at least {MIN_TARGET_MINUTES} minute",
                field=f"{at}.{name}",
                code="TARGET_OUT_OF_RANGE",
            )
        if value > MAX_TARGET_MINUTES:
            raise InvalidInput(
                f"must be at most {MAX_TARGET_MINUTES} minutes (a year)",
                field=f"{at}.{name}",
                code="TARGET_OUT_OF_RANGE",
            )
    return SlaTarget(response, resolution)


def check_timezone(name: str, at: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name[:64]!r} (an IANA name such as Europe/Berlin)",
            field=at,
            code="UNKNOWN_TIME_ZONE",
        ) from None


def parse_clock_time(value: str, at: str, *, end: bool = False) -> int:
    """`HH:MM` as minutes after midnight; `24:00` only as an end."""
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        h, m = int(hours), int(minutes)
    except ValueError:
        raise InvalidInput("must be a time as HH:MM", field=at) from None
    if (h, m) == (24, 0) and end:
        return 24 * 60
    if not (0 <= h < 24 and 0 <= m < 60):
        raise InvalidInput(
            "must be a time between 00:00 and 23:59" + (" (or 24:00)" if end else ""), field=at
        )
    return h * 60 + m


def check_business_hours(timezone: str, days: list[Weekday], start: str, end: str, at: str) -> BusinessHours:
    check_timezone(timezone, f"{at}.timezone")
    if not days:
        raise InvalidInput("must name at least one day", field=f"{at}.days", code="INVALID_BUSINESS_HOURS")
    first = parse_clock_time(start, f"{at}.start")
    last = parse_clock_time(end, f"{at}.end", end=True)
    if last <= first:
        raise InvalidInput(
            "must be after the start (business hours cannot cross midnight)",
            field=f"{at}.end",
            code="INVALID_BUSINESS_HOURS",
        )
    return BusinessHours(timezone, frozenset(days), first, last)


def check_holidays(country: str | None, subdivision: str | None, dates: list[date], at: str) -> Holidays:
    if country is not None:
        import holidays as holiday_calendars  # a large package: loaded when a policy names a country

        country = country.strip().upper()
        supported = holiday_calendars.list_supported_countries()
        if country not in supported:
            raise InvalidInput(
                f"unknown country {country[:8]!r} (an ISO 3166 code such as DE)",
                field=f"{at}.country",
                code="UNKNOWN_COUNTRY",
            )
        if subdivision is not None and subdivision.upper() not in supported[country]:
            raise InvalidInput(
                f"unknown subdivision {subdivision[:16]!r} of {country}",
                field=f"{at}.subdivision",
                code="UNKNOWN_COUNTRY",
            )
    elif subdivision is not None:
        raise InvalidInput("needs a country", field=f"{at}.subdivision")
    if len(dates) > MAX_OWN_HOLIDAYS:
        raise InvalidInput(f"at most {MAX_OWN_HOLIDAYS} dates", field=f"{at}.dates")
    return Holidays(country, subdivision.upper() if subdivision else None, frozenset(dates))


if TYPE_CHECKING:
    from holidays import HolidayBase


# ---- business time -------------------------------------------------------------------------------


class BusinessCalendar:
    """The periods the clocks run in: each day's business window, less weekends and holidays."""

    def __init__(self, hours: BusinessHours | None, days_off: Holidays | None = None) -> None:
        self.hours = hours
        self.zone: tzinfo = ZoneInfo(hours.timezone) if hours else UTC
        self.days_off = days_off or Holidays()
        self._public: HolidayBase | None = None
        if self.days_off.country:
            import holidays as holiday_calendars  # only for a company whose policy names a country

            self._public = holiday_calendars.country_holidays(
                self.days_off.country, subdiv=self.days_off.subdivision
            )

    def is_holiday(self, day: date) -> bool:
        return day in self.days_off.dates or (self._public is not None and day in self._public)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The business period of local `day` in UTC, or None when the clocks do not run that day."""
        if self.is_holiday(day):
            return None
        midnight = datetime.combine(day, time(), tzinfo=self.zone)
        if self.hours is None:
            start, end = midnight, datetime.combine(day + timedelta(days=1), time(), tzinfo=self.zone)
        else:
            if Weekday(day.weekday()) not in self.hours.days:
                return None
            # Wall-clock arithmetic (aware datetimes in one zone): 09:00 is 09:00 on a DST day too.
            start = _wall(day, self.hours.start_minute, self.zone)
            end = _wall(day, self.hours.end_minute, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The business periods that end after `start`, in order (the first clipped to it)."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)  # a window may begin the day before
        for offset in range(SEARCH_DAYS + 2):
            found = self.window(day + timedelta(days=offset))
            if found is None or found[1] <= start:
                continue
            yield max(found[0], start), found[1]

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end) (0 when end is not after start)."""
        total = 0.0
        if end <= start:
            return total
        for a, b in self.windows(start):
            if a >= end:
                break
            total += (min(b, end) - a).total_seconds()
        return total

    def add(self, start: datetime, seconds: float) -> datetime | None:
        """The instant `seconds` of business time after `start` (None past the search horizon)."""
        left = seconds
        for a, b in self.windows(start):
            span = (b - a).total_seconds()
            if left <= span:
                return a + timedelta(seconds=left)
            left -= span
        return None


def _wall(day: date, minute: int, zone: tzinfo) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)


def deadline(
    start: datetime, minutes: float, calendar: BusinessCalendar, paused_seconds: float = 0.0
) -> datetime | None:
    """When a clock started at `start` with a target of `minutes` runs out, given `paused_seconds`
    of business time spent waiting on the client."""
    return calendar.add(start, minutes * 60 + paused_seconds)


def elapsed_seconds(
    start: datetime, now: datetime, calendar: BusinessCalendar, paused_seconds: float = 0.0
) -> float:
    """Business seconds the clock has run between `start` and `now`, less the paused time."""
    return max(0.0, calendar.seconds_between(start, now) - paused_seconds)


# ---- one incident's clocks -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockDeadlines:
    """Where one clock runs out and when the monitor warns of it (None: past the search horizon)."""

    warn_at: datetime | None
    deadline: datetime | None


def clock_deadlines(
    policy: SlaPolicy, severity: Severity | str, kind: SlaKind, start: datetime, paused_seconds: float
) -> ClockDeadlines:
    minutes = policy.target(severity).minutes(kind)
    calendar = policy.calendar
    return ClockDeadlines(
        warn_at=deadline(start, minutes * policy.warn_percent / 100, calendar, paused_seconds),
        deadline=deadline(start, minutes, calendar, paused_seconds),
    )


def response_met(after_status: str, actor: str) -> bool:
    """Whether a change stops the response clock: a person took the incident (acknowledged it or
    started work on it), or it resolved. An automated step (an escalation, an automatic assignment)
    does not."""
    if after_status == "RESOLVED":
        return True
    return actor.startswith("user:") and after_status in ("ACKNOWLEDGED", "IN_PROGRESS", "WAITING_ON_CLIENT")


def escalation_level(previous_breaches: int) -> int:
    """The escalation a resolution breach makes: 1 (the company's admins) for the first, 2 (the MSP
    admins) for any later one."""
    return min(2, previous_breaches + 1)


def remaining_seconds(deadline_at: datetime | None, now: datetime) -> float | None:
    return None if deadline_at is None else (deadline_at - now).total_seconds()


@dataclass(frozen=True, slots=True)
class IncidentClocks:
    """One incident's response and resolution clocks, as `incident_sla` stores them.

    A met clock keeps its deadline (a clock met late stays breached); a paused one has none and keeps
    the business seconds it had left. `*_warned` / `*_breached`: the monitor acted on the current
    warning time / deadline.
    """

    severity: str
    response_started_at: datetime
    resolution_started_at: datetime
    response_deadline: datetime | None = None
    resolution_deadline: datetime | None = None
    response_warn_at: datetime | None = None
    resolution_warn_at: datetime | None = None
    response_met_at: datetime | None = None
    resolution_met_at: datetime | None = None
    response_left_seconds: float | None = None
    resolution_left_seconds: float | None = None
    paused_since: datetime | None = None
    paused_seconds: float = 0.0
    response_warned: bool = False
    resolution_warned: bool = False
    response_breached: bool = False
    resolution_breached: bool = False

    def get(self, kind: SlaKind, name: str) -> Any:
        return getattr(self, f"{kind.value}_{name}")

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def running(self, kind: SlaKind) -> bool:
        return self.get(kind, "met_at") is None and not self.paused

    def next_due_at(self) -> datetime | None:
        """The earliest warning or breach still to come of a running clock: what the monitor's index
        orders by (None: nothing left to watch)."""
        due = []
        for kind in SlaKind:
            if not self.running(kind):
                continue
            if not self.get(kind, "warned") and self.get(kind, "warn_at") is not None:
                due.append(self.get(kind, "warn_at"))
            if not self.get(kind, "breached") and self.get(kind, "deadline") is not None:
                due.append(self.get(kind, "deadline"))
        return min(due, default=None)


def start_clocks(policy: SlaPolicy, severity: str, start: datetime) -> IncidentClocks:
    """Both clocks of an incident opened at `start`, running."""
    return recompute(IncidentClocks(severity, start, start), policy, start)


def recompute(clocks: IncidentClocks, policy: SlaPolicy, now: datetime) -> IncidentClocks:
    """Deadlines for the clocks' severity and paused time. A warning or breach already acted on stays
    acted on while its new time is still past (a resume or a higher severity does not repeat it);
    a time moved into the future (a lower severity) can fall due again."""
    changes: dict[str, Any] = {}
    for kind in SlaKind:
        if clocks.get(kind, "met_at") is not None:
            continue
        start = clocks.get(kind, "started_at")
        if clocks.paused_since is not None:
            minutes = policy.target(clocks.severity).minutes(kind)
            ran = elapsed_seconds(start, clocks.paused_since, policy.calendar, clocks.paused_seconds)
            changes[f"{kind.value}_left_seconds"] = minutes * 60 - ran
            changes[f"{kind.value}_deadline"] = None
            changes[f"{kind.value}_warn_at"] = None
            continue
        times = clock_deadlines(policy, clocks.severity, kind, start, clocks.paused_seconds)
        changes[f"{kind.value}_left_seconds"] = None
        changes[f"{kind.value}_deadline"] = times.deadline
        changes[f"{kind.value}_warn_at"] = times.warn_at
        if times.deadline is None or times.deadline > now:
            changes[f"{kind.value}_breached"] = False
        if times.warn_at is None or times.warn_at > now:
            changes[f"{kind.value}_warned"] = False
    return replace(clocks, **changes)


def update_clocks(
    clocks: IncidentClocks,
    policy: SlaPolicy,
    *,
    severity: str,
    status: str,
    before_status: str | None,
    actor: str,
    now: datetime,
) -> IncidentClocks:
    """The clocks after a change that left the incident `status` with `severity` at `now`."""
    if before_status == "RESOLVED" and status != "RESOLVED":
        # Reopened: the resolution clock starts again; the response clock was met by the resolve.
        clocks = replace(
            clocks,
            resolution_started_at=now,
            resolution_met_at=None,
            resolution_warned=False,
            resolution_breached=False,
            paused_since=None,
            paused_seconds=0.0,
        )
    waiting = status == "WAITING_ON_CLIENT"
    if waiting and clocks.paused_since is None:
        clocks = replace(clocks, paused_since=now)
    elif not waiting and clocks.paused_since is not None:
        paused = policy.calendar.seconds_between(clocks.paused_since, now)
        clocks = replace(clocks, paused_since=None, paused_seconds=clocks.paused_seconds + paused)
    clocks = replace(clocks, severity=severity)
    if clocks.response_met_at is None and response_met(status, actor):
        clocks = replace(clocks, response_met_at=now)
    if clocks.resolution_met_at is None and status == "RESOLVED":
        clocks = replace(clocks, resolution_met_at=now)
    return recompute(clocks, policy, now)


@dataclass(frozen=True, slots=True)
class DueEvent:
    """A warning or breach the monitor has to act on; `deadline` names it (with the clock and kind)."""

    clock: SlaKind
    kind: SlaEventKind
    deadline: datetime


def due_events(clocks: IncidentClocks, now: datetime) -> list[DueEvent]:
    """What fell due by `now`: per running clock, its breach, or else its warning (a breach found
    before its warning was sent makes the warning pointless)."""
    found = []
    for kind in SlaKind:
        deadline_at = clocks.get(kind, "deadline")
        if not clocks.running(kind) or deadline_at is None:
            continue
        warn_at = clocks.get(kind, "warn_at")
        if not clocks.get(kind, "breached") and deadline_at <= now:
            found.append(DueEvent(kind, SlaEventKind.BREACH, deadline_at))
        elif not clocks.get(kind, "warned") and warn_at is not None and warn_at <= now:
            found.append(DueEvent(kind, SlaEventKind.WARNING, deadline_at))
    return found


def mark_done(clocks: IncidentClocks, events: list[DueEvent]) -> IncidentClocks:
    changes: dict[str, Any] = {}
    for event in events:
        changes[f"{event.clock.value}_warned"] = True
        if event.kind is SlaEventKind.BREACH:
            changes[f"{event.clock.value}_breached"] = True
    return replace(clocks, **changes)


def breached(clocks: IncidentClocks, kind: SlaKind, now: datetime) -> bool:
    """Whether the clock's deadline passed before it was met (or, unmet, by `now`)."""
    if clocks.get(kind, "breached"):
        return True
    deadline_at = clocks.get(kind, "deadline")
    if deadline_at is None:
        return False
    met = clocks.get(kind, "met_at")
    return bool((met or now) > deadline_at)
