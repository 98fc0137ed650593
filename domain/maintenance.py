"""Maintenance windows: periods when a company's alerts are stored as suppressed and open no incident.

A one-off window covers the half-open span [starts_at, ends_at). A recurring window repeats the local
wall-clock span of [starts_at, ends_at), read in the recurrence's IANA time zone, every day (DAILY) or
on the listed weekdays (WEEKLY, 0 = Monday), starting on the local date of `starts_at`. "Sunday 22:00 to
Monday 02:00 Europe/Berlin" therefore stays 22:00 to 02:00 local across DST changes; a span that crosses
a DST change is shorter or longer in real time by the hour. An occurrence whose local start falls into
a spring-forward gap starts at the same instant as the local time one hour later (zoneinfo's fold=0).
`until` is inclusive, as in iCalendar: the last occurrence is the one starting at or before it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidInput
from domain.signatures import canonical_signature

MAX_RECURRING_DURATION = timedelta(days=7)
MAX_NAMES = 100
MAX_NAME_LENGTH = 255


class RecurrenceFrequency(enum.StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


@dataclass(frozen=True, slots=True)
class Recurrence:
    """How a window repeats. `days_of_week` (0 = Monday .. 6 = Sunday) is for WEEKLY only."""

    frequency: RecurrenceFrequency
    days_of_week: frozenset[int] = frozenset()
    timezone: str = "UTC"
    until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored (JSON) form."""
        return {
            "frequency": self.frequency.value,
            "days_of_week": sorted(self.days_of_week),
            "timezone": self.timezone,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recurrence:
        """Back from the stored form."""
        until = data.get("until")
        return cls(
            frequency=RecurrenceFrequency(data["frequency"]),
            days_of_week=frozenset(data.get("days_of_week") or ()),
            timezone=data.get("timezone") or "UTC",
            until=datetime.fromisoformat(until) if until else None,
        )


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A maintenance window; empty `asset_names` / `signatures` mean every asset / signature.

    Names are matched trimmed and case-insensitively. A named signature also covers every alert whose
    canonical signature (`domain.signatures.canonical_signature`, as correlation keys it) is the named
    one's canonical form (`canonical_names`): a window for "disk_full" holds back Datadog's "Disk usage
    high" too. Call `validate_window` on anything a user entered.
    """

    id: UUID
    starts_at: datetime
    ends_at: datetime
    recurrence: Recurrence | None = None
    asset_names: frozenset[str] = frozenset()
    signatures: frozenset[str] = frozenset()

    def canonical_names(self, aliases: Mapping[str, str] | None = None) -> frozenset[str]:
        """The canonical forms of the named signatures under the company's alias rules, folded without
        an asset name (a window names problems, its assets are named apart)."""
        return frozenset(canonical_signature(name.strip(), "", aliases) for name in self.signatures)

    def applies_to(
        self,
        asset_name: str,
        signature: str,
        canonical: str = "",
        canonical_names: frozenset[str] = frozenset(),
    ) -> bool:
        """Whether the window covers the asset and the signature: `signature` is a named one, or its
        `canonical` form is in `canonical_names` (this window's `canonical_names(aliases)`)."""
        if not _matches(self.asset_names, asset_name):
            return False
        return _matches(self.signatures, signature) or (bool(canonical) and canonical in canonical_names)

    def is_active(self, at: datetime) -> bool:
        """Whether `at` (aware) falls inside the window or one of its occurrences."""
        if self.recurrence is None:
            return _utc(self.starts_at) <= _utc(at) < _utc(self.ends_at)
        return _recurring_active(self, self.recurrence, at)

    def suppresses(
        self,
        asset_name: str,
        signature: str,
        at: datetime,
        canonical: str = "",
        canonical_names: frozenset[str] = frozenset(),
    ) -> bool:
        return self.applies_to(asset_name, signature, canonical, canonical_names) and self.is_active(at)


def suppressing_window(
    windows: Iterable[MaintenanceWindow],
    asset_name: str,
    signature: str,
    at: datetime,
    canonical: str = "",
    aliases: Mapping[str, str] | None = None,
) -> MaintenanceWindow | None:
    """The first window, in the order given, that suppresses this alert at `at`; None if none does.

    `canonical` is the alert's canonical signature, `aliases` the company's rules the windows' named
    signatures are folded under (see `exempt_for_maintenance` for a batch, which folds them once).
    """
    for window in windows:
        names = window.canonical_names(aliases) if canonical and window.signatures else frozenset()
        if window.suppresses(asset_name, signature, at, canonical, names):
            return window
    return None


def validate_window(window: MaintenanceWindow) -> MaintenanceWindow:
    """Return the window, or raise InvalidInput naming the GraphQL input field that is wrong."""
    if window.starts_at.utcoffset() is None:
        raise InvalidInput("must include a time zone offset", field="startsAt")
    if window.ends_at.utcoffset() is None:
        raise InvalidInput("must include a time zone offset", field="endsAt")
    if window.ends_at <= window.starts_at:
        raise InvalidInput("must be after startsAt", field="endsAt")
    recurrence = window.recurrence
    if recurrence is not None:
        if window.ends_at - window.starts_at > MAX_RECURRING_DURATION:
            raise InvalidInput("a recurring window lasts at most 7 days", field="endsAt")
        if not _known_zone(recurrence.timezone):
            raise InvalidInput("is not a known IANA time zone", field="recurrence.timezone")
        if any(not 0 <= day <= 6 for day in recurrence.days_of_week):
            raise InvalidInput("days must be 0 (Monday) to 6 (Sunday)", field="recurrence.daysOfWeek")
        if recurrence.frequency == RecurrenceFrequency.WEEKLY and not recurrence.days_of_week:
            raise InvalidInput("a weekly window needs at least one day", field="recurrence.daysOfWeek")
        if recurrence.frequency == RecurrenceFrequency.DAILY and recurrence.days_of_week:
            raise InvalidInput("only weekly windows take days", field="recurrence.daysOfWeek")
        if recurrence.until is not None:
            if recurrence.until.utcoffset() is None:
                raise InvalidInput("must include a time zone offset", field="recurrence.until")
            if recurrence.until < window.starts_at:
                raise InvalidInput("must not be before startsAt", field="recurrence.until")
    for names, field in ((window.asset_names, "assetNames"), (window.signatures, "signatures")):
        if len(names) > MAX_NAMES:
            raise InvalidInput(f"at most {MAX_NAMES} names", field=field)
        if any(not 1 <= len(name.strip()) <= MAX_NAME_LENGTH for name in names):
            raise InvalidInput(f"each name must be 1 to {MAX_NAME_LENGTH} characters", field=field)
    return window


def _recurring_active(window: MaintenanceWindow, recurrence: Recurrence, at: datetime) -> bool:
    zone = ZoneInfo(recurrence.timezone)
    start_local = window.starts_at.astimezone(zone)
    end_local = window.ends_at.astimezone(zone)
    start_wall = start_local.replace(tzinfo=None)
    wall_span = end_local.replace(tzinfo=None) - start_wall
    if wall_span <= timedelta(0):
        # Only possible inside a fall-back hour; use the real duration.
        wall_span = window.ends_at - window.starts_at
    at_utc = _utc(at)
    until_utc = None if recurrence.until is None else _utc(recurrence.until)
    at_date = at.astimezone(zone).date()
    first_date = start_local.date()
    # Occurrences that started up to the span (plus a DST hour) before `at`'s local date can cover it.
    for days_back in range(wall_span.days + 2):
        day = at_date - timedelta(days=days_back)
        if day < first_date:
            break
        if (
            recurrence.frequency == RecurrenceFrequency.WEEKLY
            and day.weekday() not in recurrence.days_of_week
        ):
            continue
        occurrence_wall = datetime.combine(day, start_wall.time())
        occurrence_start = _utc(occurrence_wall.replace(tzinfo=zone))
        if until_utc is not None and occurrence_start > until_utc:
            continue
        occurrence_end = _utc((occurrence_wall + wall_span).replace(tzinfo=zone))
        if occurrence_start <= at_utc < occurrence_end:
            return True
    return False


def _utc(moment: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare by wall clock, which is wrong across DST: compare in UTC.
    return moment.astimezone(UTC)


def _matches(names: frozenset[str], value: str) -> bool:
    return not names or value.strip().lower() in _normalized(names)


@functools.lru_cache(maxsize=1024)
def _normalized(names: frozenset[str]) -> frozenset[str]:
    return frozenset(name.strip().lower() for name in names)


def _known_zone(key: str) -> bool:
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
