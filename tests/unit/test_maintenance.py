"""Maintenance windows: one-off and recurring spans, DST, until, asset/signature narrowing, validation."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInput
from domain.maintenance import (
    MaintenanceWindow,
    Recurrence,
    RecurrenceFrequency,
    suppressing_window,
    validate_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
DAILY, WEEKLY = RecurrenceFrequency.DAILY, RecurrenceFrequency.WEEKLY
US = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def window(
    starts_at: datetime,
    ends_at: datetime,
    recurrence: Recurrence | None = None,
    *,
    assets: frozenset[str] = frozenset(),
    signatures: frozenset[str] = frozenset(),
    number: int = 1,
) -> MaintenanceWindow:
    return MaintenanceWindow(UUID(int=number), starts_at, ends_at, recurrence, assets, signatures)


def suppressed(
    w: MaintenanceWindow, at: datetime, asset: str = "web-01", signature: str = "High CPU"
) -> bool:
    return suppressing_window([w], asset, signature, at) is w


# -- one-off ------------------------------------------------------------------------------------


def test_one_off_window_is_half_open() -> None:
    # given 10:00 to 12:00 UTC
    w = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12))
    # then the start is inside and the end is not
    assert suppressed(w, utc(2026, 3, 2, 10)) is True
    assert suppressed(w, utc(2026, 3, 2, 12) - US) is True
    assert suppressed(w, utc(2026, 3, 2, 12)) is False
    assert suppressed(w, utc(2026, 3, 2, 10) - US) is False


def test_one_off_window_compares_instants_across_offsets() -> None:
    # given a window entered in +02:00 / when checked with UTC times
    plus2 = timezone(timedelta(hours=2))
    w = window(datetime(2026, 6, 1, 10, tzinfo=plus2), datetime(2026, 6, 1, 11, tzinfo=plus2))
    assert suppressed(w, utc(2026, 6, 1, 8)) is True
    assert suppressed(w, utc(2026, 6, 1, 9)) is False


def test_a_named_signature_covers_the_alerts_whose_canonical_signature_is_its_canonical_form() -> None:
    # given a window for Alertmanager's "DiskFull" only
    w = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), signatures=frozenset({"DiskFull"}))
    at = utc(2026, 3, 2, 11)
    # then Datadog's name for the problem (its canonical signature disk_full) is held back too
    assert suppressing_window([w], "web-01", "Disk usage high", at, canonical="disk_full") is w
    # and the raw name still matches exactly (trimmed, any case), with or without a canonical one
    assert suppressing_window([w], "web-01", " diskfull ", at) is w
    # but another problem is not, nor the same one outside the window
    assert suppressing_window([w], "web-01", "Disk IO high", at, canonical="disk_high_io") is None
    assert (
        suppressing_window([w], "web-01", "Disk usage high", utc(2026, 3, 2, 12), canonical="disk_full")
        is None
    )
    # a company rule folds the named signature as correlation folds the alert's
    queue = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), signatures=frozenset({"Worker backlog"}))
    rules = {"backlog worker": "queue_stuck"}
    assert suppressing_window([queue], "web-01", "AppQueueStuck", at, "queue_stuck", rules) is queue
    assert suppressing_window([queue], "web-01", "AppQueueStuck", at, "queue_stuck") is None


def test_no_window_suppresses_nothing() -> None:
    assert suppressing_window([], "web-01", "High CPU", utc(2026, 3, 2)) is None


# -- daily and weekly ---------------------------------------------------------------------------


def test_daily_window_across_midnight() -> None:
    # given 22:00 to 02:00 UTC every day from 2 March
    w = window(utc(2026, 3, 2, 22), utc(2026, 3, 3, 2), Recurrence(DAILY, timezone="UTC"))
    # then every night is covered, half-open
    assert suppressed(w, utc(2026, 3, 10, 22)) is True
    assert suppressed(w, utc(2026, 3, 10, 23, 30)) is True
    assert suppressed(w, utc(2026, 3, 11, 1, 59)) is True
    assert suppressed(w, utc(2026, 3, 11, 2)) is False
    assert suppressed(w, utc(2026, 3, 10, 22) - US) is False
    assert suppressed(w, utc(2026, 3, 11, 12)) is False
    # and nothing before the first occurrence
    assert suppressed(w, utc(2026, 3, 2, 1)) is False
    assert suppressed(w, utc(2026, 3, 2, 21, 59)) is False


def test_weekly_window_only_on_listed_days() -> None:
    # given Monday and Wednesday 09:00 to 10:00 Berlin time (08:00 UTC in winter), from Monday 2 March
    starts = datetime(2026, 3, 2, 9, tzinfo=BERLIN)
    w = window(starts, starts + timedelta(hours=1), Recurrence(WEEKLY, frozenset({0, 2}), "Europe/Berlin"))
    assert suppressed(w, utc(2026, 3, 4, 8, 30)) is True  # Wednesday
    assert suppressed(w, utc(2026, 3, 3, 8, 30)) is False  # Tuesday
    assert suppressed(w, utc(2026, 3, 9, 8)) is True  # next Monday, start
    assert suppressed(w, utc(2026, 3, 9, 9)) is False  # next Monday, end
    assert suppressed(w, utc(2026, 3, 9, 7, 59)) is False


def test_weekly_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    # given Saturdays 23:00 to 01:00 UTC
    w = window(utc(2026, 3, 7, 23), utc(2026, 3, 8, 1), Recurrence(WEEKLY, frozenset({5}), "UTC"))
    assert suppressed(w, utc(2026, 3, 15, 0, 30)) is True  # Sunday morning, from Saturday's occurrence
    assert suppressed(w, utc(2026, 3, 14, 0, 30)) is False  # Saturday morning: Friday is not listed
    assert suppressed(w, utc(2026, 3, 14, 23, 30)) is True


def test_daily_window_keeps_local_time_across_the_spring_dst_change() -> None:
    # given 22:00 to 06:00 Berlin time every night from Monday 23 March; DST starts Sunday 29 March 2026
    starts = datetime(2026, 3, 23, 22, tzinfo=BERLIN)
    w = window(starts, datetime(2026, 3, 24, 6, tzinfo=BERLIN), Recurrence(DAILY, timezone="Europe/Berlin"))
    # then before the change it is 21:00 to 05:00 UTC
    assert suppressed(w, utc(2026, 3, 27, 21)) is True
    assert suppressed(w, utc(2026, 3, 27, 21) - US) is False
    assert suppressed(w, utc(2026, 3, 28, 4, 59)) is True
    assert suppressed(w, utc(2026, 3, 28, 5)) is False
    # the night of the change is an hour shorter: 21:00 UTC to 04:00 UTC (06:00 CEST)
    assert suppressed(w, utc(2026, 3, 29, 3, 59)) is True
    assert suppressed(w, utc(2026, 3, 29, 4)) is False
    # and after it, 22:00 CEST is 20:00 UTC
    assert suppressed(w, utc(2026, 3, 29, 20)) is True
    assert suppressed(w, utc(2026, 3, 29, 20) - US) is False


def test_daily_window_keeps_local_time_across_the_autumn_dst_change() -> None:
    # given 22:00 to 06:00 Berlin time; DST ends Sunday 25 October 2026 (03:00 CEST -> 02:00 CET)
    starts = datetime(2026, 10, 19, 22, tzinfo=BERLIN)
    w = window(starts, datetime(2026, 10, 20, 6, tzinfo=BERLIN), Recurrence(DAILY, timezone="Europe/Berlin"))
    # then the night of the change runs 20:00 UTC (22:00 CEST) to 05:00 UTC (06:00 CET), nine hours
    assert suppressed(w, utc(2026, 10, 24, 20)) is True
    assert suppressed(w, utc(2026, 10, 25, 4, 59)) is True
    assert suppressed(w, utc(2026, 10, 25, 5)) is False
    assert suppressed(w, utc(2026, 10, 25, 21)) is True  # 22:00 CET
    assert suppressed(w, utc(2026, 10, 25, 20, 59)) is False


def test_until_is_the_last_occurrence_start_inclusive() -> None:
    # given 09:00 to 10:00 UTC daily until 5 March 09:00
    rec = Recurrence(DAILY, timezone="UTC", until=utc(2026, 3, 5, 9))
    w = window(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), rec)
    assert suppressed(w, utc(2026, 3, 5, 9, 30)) is True
    assert suppressed(w, utc(2026, 3, 6, 9, 30)) is False
    # and with until a minute earlier the 5 March occurrence is gone
    earlier = window(
        utc(2026, 3, 2, 9),
        utc(2026, 3, 2, 10),
        Recurrence(DAILY, timezone="UTC", until=utc(2026, 3, 5, 8, 59)),
    )
    assert suppressed(earlier, utc(2026, 3, 5, 9, 30)) is False
    assert suppressed(earlier, utc(2026, 3, 4, 9, 30)) is True


# -- narrowing ----------------------------------------------------------------------------------


def test_asset_names_narrow_the_window_case_insensitively() -> None:
    w = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), assets=frozenset({"WEB-01", "db-01"}))
    at = utc(2026, 3, 2, 11)
    assert suppressed(w, at, asset=" web-01 ") is True
    assert suppressed(w, at, asset="DB-01") is True
    assert suppressed(w, at, asset="web-02") is False


def test_signatures_narrow_the_window() -> None:
    w = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), signatures=frozenset({"Disk Full"}))
    at = utc(2026, 3, 2, 11)
    assert suppressed(w, at, signature="disk full") is True
    assert suppressed(w, at, signature="High CPU") is False


def test_first_matching_window_is_returned() -> None:
    # given a narrow window that does not match and two that do
    at = utc(2026, 3, 2, 11)
    narrow = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), assets=frozenset({"db-01"}), number=1)
    first = window(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), number=2)
    second = window(utc(2026, 3, 2, 11), utc(2026, 3, 2, 12), number=3)
    assert suppressing_window([narrow, first, second], "web-01", "High CPU", at) is first


# -- validation ---------------------------------------------------------------------------------


def test_valid_window_is_returned() -> None:
    w = window(
        utc(2026, 3, 2, 22), utc(2026, 3, 3, 2), Recurrence(WEEKLY, frozenset({0, 6}), "Europe/Berlin")
    )
    assert validate_window(w) is w


START = utc(2026, 3, 2, 10)
NAIVE = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - a client forgetting the offset


@pytest.mark.parametrize(
    ("w", "field", "message"),
    [
        (window(NAIVE, START + timedelta(hours=1)), "startsAt", "must include a time zone offset"),
        (window(START, NAIVE + timedelta(hours=1)), "endsAt", "must include a time zone offset"),
        (window(START, START), "endsAt", "must be after startsAt"),
        (window(START, START - timedelta(hours=1)), "endsAt", "must be after startsAt"),
        (
            window(START, START + timedelta(days=7, microseconds=1), Recurrence(DAILY)),
            "endsAt",
            "a recurring window lasts at most 7 days",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(DAILY, timezone="Mars/Olympus")),
            "recurrence.timezone",
            "is not a known IANA time zone",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(DAILY, timezone="../etc/passwd")),
            "recurrence.timezone",
            "is not a known IANA time zone",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(WEEKLY, frozenset({0, 7}))),
            "recurrence.daysOfWeek",
            "days must be 0 (Monday) to 6 (Sunday)",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(WEEKLY)),
            "recurrence.daysOfWeek",
            "a weekly window needs at least one day",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(DAILY, frozenset({1}))),
            "recurrence.daysOfWeek",
            "only weekly windows take days",
        ),
        (
            window(START, START + timedelta(hours=1), Recurrence(DAILY, until=START - US)),
            "recurrence.until",
            "must not be before startsAt",
        ),
        (
            window(START, START + timedelta(hours=1), assets=frozenset(f"host-{i}" for i in range(101))),
            "assetNames",
            "at most 100 names",
        ),
        (
            window(START, START + timedelta(hours=1), signatures=frozenset({"  "})),
            "signatures",
            "each name must be 1 to 255 characters",
        ),
    ],
)
def test_invalid_window_names_the_field(w: MaintenanceWindow, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_window(w)
    assert (caught.value.code, caught.value.field, caught.value.message) == ("INVALID_INPUT", field, message)


def test_recurring_window_of_exactly_7_days_and_100_names_is_valid() -> None:
    w = window(
        START,
        START + timedelta(days=7),
        Recurrence(WEEKLY, frozenset({0}), "UTC", until=START),
        assets=frozenset(f"host-{i}" for i in range(100)),
    )
    assert validate_window(w) is w


def test_a_recurrence_survives_its_stored_form():
    from datetime import UTC, datetime

    from domain.maintenance import Recurrence, RecurrenceFrequency

    weekly = Recurrence(
        RecurrenceFrequency.WEEKLY, frozenset({4, 0}), "Europe/Berlin", datetime(2027, 1, 1, tzinfo=UTC)
    )
    stored = weekly.to_dict()
    assert stored == {
        "frequency": "WEEKLY",
        "days_of_week": [0, 4],
        "timezone": "Europe/Berlin",
        "until": "2027-01-01T00:00:00+00:00",
    }
    assert Recurrence.from_dict(stored) == weekly
    assert Recurrence.from_dict({"frequency": "DAILY"}) == Recurrence(RecurrenceFrequency.DAILY)
