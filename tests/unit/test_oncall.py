"""On-call rules: weekly shifts in local wall time (DST, midnight), rotations, overrides, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInput
from domain.oncall import (
    Override,
    Rotation,
    Schedule,
    Source,
    WeeklyShift,
    on_call_at,
    parse_clock,
    shifts_between,
    validate_override,
    validate_range,
    validate_schedule,
)

SAM, DANA, ALEX, KIM = (uuid.UUID(int=i) for i in range(1, 5))
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
MON, SAT = 0, 5


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def night(user: uuid.UUID, weekday: int) -> WeeklyShift:
    return WeeklyShift(user, weekday, parse_clock("22:00", "s"), parse_clock("06:00", "e", end=True))


def all_week(user: uuid.UUID) -> tuple[WeeklyShift, ...]:
    return tuple(WeeklyShift(user, d, 0, 1440) for d in range(7))


@pytest.mark.parametrize(
    ("zone", "saturday", "hours", "starts"),
    [
        ("Europe/Berlin", date(2026, 3, 28), 7, utc(2026, 3, 28, 21)),  # clocks go forward
        ("Europe/Berlin", date(2026, 10, 24), 9, utc(2026, 10, 24, 20)),  # clocks go back
        ("America/New_York", date(2026, 3, 7), 7, utc(2026, 3, 8, 3)),
        ("America/New_York", date(2026, 10, 31), 9, utc(2026, 11, 1, 2)),
        ("Europe/Berlin", date(2026, 12, 5), 8, utc(2026, 12, 5, 21)),  # an ordinary night
    ],
)
def test_a_night_shift_on_the_night_the_clocks_change_lasts_seven_or_nine_hours(
    zone, saturday, hours, starts
):
    # given a Saturday 22:00-06:00 shift in the schedule's zone
    schedule = Schedule(zone, shifts=(night(SAM, SAT),))

    # when the night's interval is computed
    (interval,) = shifts_between(schedule, starts, starts + timedelta(minutes=1))

    # then it runs from 22:00 to 06:00 local wall time, 7 or 9 hours when the clocks change
    assert interval.start == starts
    assert interval.end - interval.start == timedelta(hours=hours)
    local_zone = ZoneInfo(zone)
    assert interval.start.astimezone(local_zone).strftime("%a %H:%M") == "Sat 22:00"
    assert interval.end.astimezone(local_zone).strftime("%a %H:%M") == "Sun 06:00"
    assert interval.end.astimezone(local_zone).date() == saturday + timedelta(days=1)


def test_a_shift_crossing_midnight_is_on_call_on_both_sides_of_it():
    # given a Monday 22:00-06:00 shift in Berlin (winter: UTC+1)
    schedule = Schedule("Europe/Berlin", shifts=(night(SAM, MON),))

    # then Sam is on call Monday 23:30 and Tuesday 05:59 local, not at 06:00 nor Monday 21:59
    assert on_call_at(schedule, datetime(2026, 12, 7, 23, 30, tzinfo=BERLIN)) == {SAM}
    assert on_call_at(schedule, datetime(2026, 12, 8, 5, 59, tzinfo=BERLIN)) == {SAM}
    assert on_call_at(schedule, datetime(2026, 12, 8, 6, 0, tzinfo=BERLIN)) == set()
    assert on_call_at(schedule, datetime(2026, 12, 7, 21, 59, tzinfo=BERLIN)) == set()


def test_a_sunday_night_shift_wraps_into_monday_of_the_next_week():
    schedule = Schedule("UTC", shifts=(night(SAM, 6),))

    assert on_call_at(schedule, utc(2026, 12, 14, 3)) == {SAM}  # Monday 03:00
    assert on_call_at(schedule, utc(2026, 12, 13, 3)) == set()  # Sunday 03:00


def test_a_day_shift_follows_local_time_across_the_change():
    # given 09:00-17:00 every Monday in New York
    schedule = Schedule("America/New_York", shifts=(WeeklyShift(SAM, MON, 9 * 60, 17 * 60),))

    # when the intervals of the weeks around the March change are listed
    found = shifts_between(schedule, utc(2026, 3, 1), utc(2026, 3, 17))

    # then each starts at 09:00 local: 14:00Z before the change, 13:00Z after
    assert [i.start for i in found] == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13), utc(2026, 3, 16, 13)]
    assert all(i.end - i.start == timedelta(hours=8) for i in found)
    assert {i.source for i in found} == {Source.SHIFT}


def test_a_rotation_hands_over_at_the_set_local_time():
    # given Sam, Dana, Alex taking weekly turns from Monday 09:00 Berlin, starting Wednesday 2 Dec
    rotation = Rotation((SAM, DANA, ALEX), MON, 9 * 60, 7, date(2026, 12, 2))
    schedule = Schedule("Europe/Berlin", rotations=(rotation,))

    def at(day: int, hour: int, minute: int = 0) -> set[uuid.UUID]:
        return on_call_at(schedule, datetime(2026, 12, day, hour, minute, tzinfo=BERLIN))

    # then nobody holds it before the first Monday's handover; then each for a week, in order
    assert at(7, 8, 59) == set()
    assert at(7, 9) == {SAM}
    assert at(14, 8, 59) == {SAM}
    assert at(14, 9) == {DANA}
    assert at(21, 9) == {ALEX}
    assert at(28, 9) == {SAM}


def test_a_rotation_hands_over_at_nine_local_on_both_sides_of_a_dst_change():
    rotation = Rotation((SAM, DANA), MON, 9 * 60, 7, date(2026, 3, 23))
    schedule = Schedule("Europe/Berlin", rotations=(rotation,))

    turns = shifts_between(schedule, utc(2026, 3, 24), utc(2026, 4, 1))

    # Sam's turn: Monday 23 March 09:00 CET (08:00Z) to Monday 30 March 09:00 CEST (07:00Z)
    assert [(t.user_id, t.start, t.end, t.source) for t in turns] == [
        (SAM, utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), Source.ROTATION),
        (DANA, utc(2026, 3, 30, 7), utc(2026, 4, 6, 7), Source.ROTATION),
    ]


def test_a_daily_rotation_turns_every_day():
    rotation = Rotation((SAM, DANA), MON, 8 * 60, 1, date(2026, 12, 7))
    schedule = Schedule("UTC", rotations=(rotation,))

    assert on_call_at(schedule, utc(2026, 12, 7, 12)) == {SAM}
    assert on_call_at(schedule, utc(2026, 12, 8, 12)) == {DANA}
    assert on_call_at(schedule, utc(2026, 12, 9, 7, 59)) == {DANA}
    assert on_call_at(schedule, utc(2026, 12, 9, 8)) == {SAM}


def test_an_override_wins_over_the_shift_of_the_person_it_covers():
    # given Sam on call all week in Berlin, and Dana covering Sam on 24 Dec 18:00-08:00 local
    cover = Override(
        DANA,
        datetime(2026, 12, 24, 18, tzinfo=BERLIN),
        datetime(2026, 12, 25, 8, tzinfo=BERLIN),
        covers=SAM,
    )
    schedule = Schedule("Europe/Berlin", shifts=all_week(SAM), overrides=(cover,))
    validate_override(schedule, cover)

    # then Dana, not Sam, is on call in that time; Sam before and after it
    assert on_call_at(schedule, utc(2026, 12, 24, 16, 59)) == {SAM}
    assert on_call_at(schedule, utc(2026, 12, 24, 17)) == {DANA}
    assert on_call_at(schedule, utc(2026, 12, 25, 6, 59)) == {DANA}
    assert on_call_at(schedule, utc(2026, 12, 25, 7)) == {SAM}

    # and the intervals show Sam's days cut around Dana's override
    found = shifts_between(schedule, utc(2026, 12, 24), utc(2026, 12, 26))
    assert [(i.user_id, i.source, i.start, i.end) for i in found] == [
        (SAM, Source.SHIFT, utc(2026, 12, 23, 23), utc(2026, 12, 24, 17)),
        (DANA, Source.OVERRIDE, utc(2026, 12, 24, 17), utc(2026, 12, 25, 7)),
        (SAM, Source.SHIFT, utc(2026, 12, 25, 7), utc(2026, 12, 25, 23)),
        (SAM, Source.SHIFT, utc(2026, 12, 25, 23), utc(2026, 12, 26, 23)),
    ]
    assert found[1].covers == SAM


def test_an_override_also_wins_over_a_rotation_turn_and_one_covering_nobody_adds_a_person():
    rotation = Rotation((SAM, DANA), MON, 9 * 60, 7, date(2026, 12, 7))
    cover = Override(ALEX, utc(2026, 12, 8), utc(2026, 12, 9), covers=SAM)
    extra = Override(KIM, utc(2026, 12, 8, 12), utc(2026, 12, 8, 13))
    schedule = Schedule("UTC", rotations=(rotation,), overrides=(cover, extra))

    assert on_call_at(schedule, utc(2026, 12, 8, 12, 30)) == {ALEX, KIM}
    assert on_call_at(schedule, utc(2026, 12, 9, 0)) == {SAM}


def test_several_people_can_be_on_call_at_once():
    schedule = Schedule("UTC", shifts=(WeeklyShift(SAM, MON, 0, 720), WeeklyShift(DANA, MON, 360, 1080)))

    assert on_call_at(schedule, utc(2026, 12, 7, 8)) == {SAM, DANA}
    assert on_call_at(schedule, utc(2026, 12, 7, 13)) == {DANA}


# ---- bad input ----------------------------------------------------------------------------------


def _refused(call, field: str, code: str = "INVALID_INPUT") -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as caught:
        call()
    assert (caught.value.field, caught.value.code) == (field, code)
    return caught.value.message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "/etc/localtime", "CET+1", "europe/berlin"])
def test_an_unknown_time_zone_is_refused(zone):
    message = _refused(lambda: validate_schedule(Schedule(zone)), "timeZone")
    assert message.startswith("unknown time zone")


def test_a_zero_length_shift_is_refused():
    message = _refused(
        lambda: validate_schedule(Schedule("UTC", shifts=(WeeklyShift(SAM, MON, 600, 600),))),
        "endTime",
        "ZERO_LENGTH",
    )
    assert message == "a shift must not end when it starts (24 hours: 00:00 to 24:00)"


@pytest.mark.parametrize(
    ("text", "end"), [("24:00", False), ("24:01", True), ("9:00", False), ("09:60", False), ("ab:cd", False)]
)
def test_a_malformed_time_is_refused(text, end):
    _refused(lambda: parse_clock(text, "startTime", end=end), "startTime")


def test_overlapping_shifts_of_the_same_person_are_refused_but_not_of_different_people():
    # Sam's Monday night reaches Tuesday 06:00; a Tuesday 05:00 shift of Sam overlaps it
    clash = Schedule("UTC", shifts=(night(SAM, MON), WeeklyShift(SAM, 1, 300, 600)))
    message = _refused(lambda: validate_schedule(clash), "startTime", "CONFLICT")
    assert message == "overlaps another shift of this person (Monday 22:00-06:00)"

    # a Sunday night shift wraps into Monday 00:00-06:00
    wrap = Schedule("UTC", shifts=(night(SAM, 6), WeeklyShift(SAM, MON, 0, 60)))
    _refused(lambda: validate_schedule(wrap), "startTime", "CONFLICT")

    validate_schedule(Schedule("UTC", shifts=(night(SAM, MON), WeeklyShift(DANA, 1, 300, 600))))
    validate_schedule(Schedule("UTC", shifts=(night(SAM, MON), WeeklyShift(SAM, 1, 360, 600))))
    validate_schedule(Schedule("UTC", shifts=all_week(SAM)))


def test_an_override_for_someone_not_in_the_schedule_is_refused():
    schedule = Schedule("UTC", shifts=(night(SAM, MON),))

    message = _refused(
        lambda: validate_override(schedule, Override(DANA, utc(2026, 12, 7), utc(2026, 12, 8), covers=ALEX)),
        "coversUserId",
        "NOT_FOUND",
    )
    assert message == "this person has no shift or rotation turn in the schedule"


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (utc(2026, 12, 8), utc(2026, 12, 7), "endsAt"),
        (utc(2026, 12, 8), utc(2026, 12, 8), "endsAt"),
        (utc(2026, 12, 1), utc(2027, 3, 1), "endsAt"),
        (datetime(2026, 12, 8), utc(2026, 12, 9), "startsAt"),  # noqa: DTZ001 (the point)
    ],
)
def test_an_inverted_empty_or_naive_override_is_refused(starts, ends, field):
    schedule = Schedule("UTC", shifts=(night(SAM, MON),))
    _refused(lambda: validate_override(schedule, Override(DANA, starts, ends, covers=SAM)), field)


def test_a_range_must_be_forward_and_at_most_63_days():
    _refused(lambda: validate_range(utc(2026, 12, 8), utc(2026, 12, 7)), "to")
    message = _refused(lambda: validate_range(utc(2026, 1, 1), utc(2026, 3, 6)), "to", "RANGE_TOO_LONG")
    assert message == "a range spans at most 63 days"
    validate_range(utc(2026, 1, 1), utc(2026, 3, 5))


@pytest.mark.parametrize(
    ("rotation", "field", "code"),
    [
        (Rotation((), MON, 540, 7, date(2026, 12, 7)), "members", "INVALID_INPUT"),
        (Rotation((SAM, SAM), MON, 540, 7, date(2026, 12, 7)), "members", "DUPLICATE"),
        (Rotation((SAM,), MON, 540, 0, date(2026, 12, 7)), "length", "INVALID_INPUT"),
        (Rotation((SAM,), 7, 540, 7, date(2026, 12, 7)), "handoverWeekday", "INVALID_INPUT"),
    ],
)
def test_a_broken_rotation_is_refused(rotation, field, code):
    _refused(lambda: validate_schedule(Schedule("UTC", rotations=(rotation,))), field, code)
