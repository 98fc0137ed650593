"""SLA maths on an injected clock: business hours across days and DST, holidays, pauses, severity
changes, 1-minute targets, and the monitor's due events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.alerts import Severity
from domain.errors import InvalidInput
from domain.sla import (
    DEFAULT_TARGETS,
    BusinessCalendar,
    BusinessHours,
    Holidays,
    SlaEventKind,
    SlaKind,
    SlaPolicy,
    SlaTarget,
    Weekday,
    breached,
    check_business_hours,
    check_holidays,
    check_target,
    check_timezone,
    deadline,
    due_events,
    elapsed_seconds,
    mark_done,
    start_clocks,
    update_clocks,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday
WEEKDAYS = frozenset(Weekday(d) for d in range(5))
OFFICE = BusinessHours("Europe/Berlin", WEEKDAYS, 9 * 60, 17 * 60)
PERSON = "user:0190f3d2-0000-7000-8000-000000000001"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def change(clocks, policy, now, status, *, severity=None, before=None, actor=PERSON):
    return update_clocks(
        clocks,
        policy,
        severity=severity or clocks.severity,
        status=status,
        before_status=before,
        actor=actor,
        now=now,
    )


def test_the_defaults_are_the_spec_targets_around_the_clock():
    # given the default policy and a critical incident opened at T0
    policy = SlaPolicy()
    clocks = start_clocks(policy, "critical", T0)

    # then response is due 30 minutes later, resolution 4 hours later, warnings at 80%
    assert DEFAULT_TARGETS[Severity.LOW] == SlaTarget(24 * 60, 48 * 60)
    assert DEFAULT_TARGETS[Severity.MEDIUM] == SlaTarget(8 * 60, 24 * 60)
    assert DEFAULT_TARGETS[Severity.HIGH] == SlaTarget(2 * 60, 8 * 60)
    assert clocks.response_deadline == T0 + timedelta(minutes=30)
    assert clocks.resolution_deadline == T0 + timedelta(hours=4)
    assert clocks.response_warn_at == T0 + timedelta(minutes=24)
    assert clocks.resolution_warn_at == T0 + timedelta(minutes=192)
    assert clocks.next_due_at() == T0 + timedelta(minutes=24)


def test_business_hours_carry_a_deadline_over_the_weekend():
    # given office hours Monday to Friday 09:00-17:00 in Berlin
    calendar = BusinessCalendar(OFFICE)
    start = local(2026, 12, 4, 16, 30)  # a Friday, 30 minutes before close

    # when a 2-hour target starts
    due = deadline(start, 120, calendar)

    # then 30 minutes count on Friday and the other 90 on Monday morning
    assert due == local(2026, 12, 7, 10, 30)
    assert elapsed_seconds(start, due, calendar) == 7200
    # and an incident opened at night starts counting at 09:00
    assert deadline(local(2026, 12, 8, 3, 0), 1, calendar) == local(2026, 12, 8, 9, 1)


def test_business_hours_across_the_dst_changes_count_the_hours_the_days_really_have():
    # given business hours every day, 09:00-17:00 Berlin, and a 16-hour target started on the
    # Saturday before summer time begins (Sunday 29 March 2026)
    every_day = BusinessHours("Europe/Berlin", frozenset(Weekday), 9 * 60, 17 * 60)
    calendar = BusinessCalendar(every_day)
    start = local(2026, 3, 28, 9, 0)

    # when the deadline is computed
    due = deadline(start, 16 * 60, calendar)

    # then it is 17:00 Berlin time on Sunday (15:00 UTC, summer time), not 16:00 UTC
    assert due == local(2026, 3, 29, 17, 0)
    assert due is not None
    assert due.astimezone(UTC) == datetime(2026, 3, 29, 15, 0, tzinfo=UTC)

    # and around the clock, the spring day has 23 hours and the autumn day 25
    berlin_always = BusinessCalendar(BusinessHours("Europe/Berlin", frozenset(Weekday), 0, 24 * 60))
    assert berlin_always.seconds_between(local(2026, 3, 29, 0, 0), local(2026, 3, 30, 0, 0)) == 23 * 3600
    assert berlin_always.seconds_between(local(2026, 10, 25, 0, 0), local(2026, 10, 26, 0, 0)) == 25 * 3600
    # and a 24-hour target across the spring change ends at 01:00 the next wall-clock day
    assert deadline(local(2026, 3, 28, 12, 0), 24 * 60, berlin_always) == local(2026, 3, 29, 13, 0)


def test_public_and_own_holidays_stop_the_clocks():
    # given office hours with Germany's public holidays (25 and 26 December)
    calendar = BusinessCalendar(OFFICE, Holidays(country="DE"))
    start = local(2026, 12, 24, 16, 0)  # Thursday, one business hour left

    # when a 2-hour target starts, the rest falls on Monday 28th after Christmas and the weekend
    assert deadline(start, 120, calendar) == local(2026, 12, 28, 10, 0)

    # and with the company's own day off on Monday 28th, it moves to Tuesday
    own = BusinessCalendar(OFFICE, Holidays(country="DE", dates=frozenset({date(2026, 12, 28)})))
    assert deadline(start, 120, own) == local(2026, 12, 29, 10, 0)
    # and holidays also stop a calendar that runs around the clock
    always = BusinessCalendar(None, Holidays(dates=frozenset({date(2026, 12, 3)})))
    assert deadline(datetime(2026, 12, 2, 23, 0, tzinfo=UTC), 120, always) == datetime(
        2026, 12, 4, 1, 0, tzinfo=UTC
    )


def test_waiting_on_the_client_pauses_both_clocks_and_pushes_the_deadlines_back():
    # given a critical incident opened at T0, acknowledged by a person after 10 minutes
    policy = SlaPolicy()
    clocks = start_clocks(policy, "critical", T0)
    clocks = change(clocks, policy, T0 + timedelta(minutes=10), "ACKNOWLEDGED", before="NEW")
    assert clocks.response_met_at == T0 + timedelta(minutes=10)

    # when it waits on the client from minute 20 to minute 80
    paused = change(clocks, policy, T0 + timedelta(minutes=20), "WAITING_ON_CLIENT", before="ACKNOWLEDGED")

    # then the resolution clock has no deadline while paused, with the time it had left kept
    assert paused.paused
    assert paused.resolution_deadline is None
    assert paused.resolution_left_seconds == 4 * 3600 - 20 * 60
    assert paused.next_due_at() is None

    # and after the pause the resolution deadline is an hour later than before
    resumed = change(paused, policy, T0 + timedelta(minutes=80), "IN_PROGRESS", before="WAITING_ON_CLIENT")
    assert resumed.paused_seconds == 3600
    assert resumed.resolution_deadline == T0 + timedelta(hours=5)
    assert resumed.resolution_left_seconds is None


def test_a_pause_outside_business_hours_adds_only_the_business_time_it_covered():
    # given office hours, an incident that waits on the client from Friday 16:00 to Monday 10:00
    policy = SlaPolicy(business_hours=OFFICE)
    start = local(2026, 12, 4, 15, 0)
    clocks = start_clocks(policy, "high", start)
    clocks = change(clocks, policy, local(2026, 12, 4, 15, 30), "ACKNOWLEDGED", before="NEW")
    clocks = change(clocks, policy, local(2026, 12, 4, 16, 0), "WAITING_ON_CLIENT", before="ACKNOWLEDGED")
    clocks = change(clocks, policy, local(2026, 12, 7, 10, 0), "IN_PROGRESS", before="WAITING_ON_CLIENT")

    # then two business hours were paused (Friday 16-17, Monday 9-10)
    assert clocks.paused_seconds == 2 * 3600
    # and the 8-hour resolution target ends 8 + 2 business hours after Friday 15:00: Friday 15-17,
    # Monday 09-17
    assert clocks.resolution_deadline == local(2026, 12, 7, 17, 0)


def test_a_severity_change_recomputes_the_deadlines_from_the_start():
    # given a high incident opened at T0 (response due at T0 + 2 h)
    policy = SlaPolicy()
    clocks = start_clocks(policy, "high", T0)
    assert clocks.response_deadline == T0 + timedelta(hours=2)

    # when it is raised to critical after 10 minutes
    raised = change(clocks, policy, T0 + timedelta(minutes=10), "NEW", severity="critical", actor="system:x")

    # then its response is due 30 minutes after it opened, not after the change
    assert raised.severity == "critical"
    assert raised.response_deadline == T0 + timedelta(minutes=30)
    assert raised.resolution_deadline == T0 + timedelta(hours=4)


def test_a_breach_acted_on_is_not_repeated_when_the_deadline_moves_but_stays_past():
    # given a critical incident whose response breach the monitor handled
    policy = SlaPolicy()
    clocks = start_clocks(policy, "critical", T0)
    now = T0 + timedelta(minutes=31)
    events = due_events(clocks, now)
    assert [(e.clock, e.kind) for e in events] == [(SlaKind.RESPONSE, SlaEventKind.BREACH)]
    clocks = mark_done(clocks, events)
    assert due_events(clocks, now) == []
    assert clocks.response_warned
    assert clocks.response_breached

    # when its severity rises again later (the deadline still past), nothing is due anew
    raised = change(clocks, policy, T0 + timedelta(minutes=40), "NEW", severity="critical", actor="system:x")
    assert due_events(raised, T0 + timedelta(minutes=40)) == []
    assert breached(raised, SlaKind.RESPONSE, T0 + timedelta(minutes=40))

    # but lowered to low, its new deadline is in the future: it can warn and breach again
    lowered = change(raised, policy, T0 + timedelta(minutes=41), "NEW", severity="low", actor="system:x")
    assert not lowered.response_breached
    assert lowered.response_deadline == T0 + timedelta(hours=24)
    assert not breached(lowered, SlaKind.RESPONSE, T0 + timedelta(minutes=41))


def test_one_minute_targets():
    # given a policy where critical incidents must be answered and solved within a minute
    policy = SlaPolicy(
        targets={**DEFAULT_TARGETS, Severity.CRITICAL: check_target(Severity.CRITICAL, 1, 1, "t")}
    )
    clocks = start_clocks(policy, "critical", T0)

    # then both deadlines are one minute after the start, the warnings at 48 s
    assert clocks.response_deadline == clocks.resolution_deadline == T0 + timedelta(minutes=1)
    assert clocks.response_warn_at == T0 + timedelta(seconds=48)
    events = due_events(clocks, T0 + timedelta(seconds=50))
    assert [(e.clock, e.kind) for e in events] == [
        (SlaKind.RESPONSE, SlaEventKind.WARNING),
        (SlaKind.RESOLUTION, SlaEventKind.WARNING),
    ]
    # and the warning names the deadline it is about
    assert {e.deadline for e in events} == {T0 + timedelta(minutes=1)}


def test_response_is_met_by_a_person_or_a_resolve_never_by_an_automated_escalation():
    policy = SlaPolicy()
    clocks = start_clocks(policy, "high", T0)
    escalated = change(
        clocks, policy, T0 + timedelta(minutes=5), "ESCALATED", before="NEW", actor="system:sla"
    )
    assert escalated.response_met_at is None
    assert escalated.next_due_at() == T0 + timedelta(minutes=96)

    resolved = change(
        escalated,
        policy,
        T0 + timedelta(minutes=9),
        "RESOLVED",
        before="ESCALATED",
        actor="system:auto-resolve",
    )
    assert resolved.response_met_at == resolved.resolution_met_at == T0 + timedelta(minutes=9)
    assert resolved.next_due_at() is None
    assert not breached(resolved, SlaKind.RESOLUTION, T0 + timedelta(days=3))


def test_a_reopen_restarts_the_resolution_clock():
    # given an incident resolved after an hour (a remediation that later did not hold)
    policy = SlaPolicy()
    clocks = start_clocks(policy, "critical", T0)
    clocks = change(
        clocks, policy, T0 + timedelta(hours=1), "RESOLVED", before="NEW", actor="system:remediation"
    )

    # when it reopens two hours later
    reopened = change(
        clocks, policy, T0 + timedelta(hours=3), "NEW", before="RESOLVED", actor="system:correlation"
    )

    # then resolution runs again from the reopen; response stays met
    assert reopened.resolution_met_at is None
    assert reopened.resolution_started_at == T0 + timedelta(hours=3)
    assert reopened.resolution_deadline == T0 + timedelta(hours=7)
    assert reopened.response_met_at == T0 + timedelta(hours=1)


def test_a_policy_survives_its_stored_form():
    policy = SlaPolicy(
        targets={**DEFAULT_TARGETS, Severity.LOW: SlaTarget(60, 120)},
        business_hours=OFFICE,
        holidays=Holidays("DE", "BY", frozenset({date(2026, 12, 31)})),
        warn_percent=70,
    )
    assert SlaPolicy.from_dict(policy.to_dict()) == policy
    assert SlaPolicy.from_dict({}) == SlaPolicy()


@pytest.mark.parametrize(
    ("check", "field", "code", "message"),
    [
        (
            lambda: check_timezone("Mars/Olympus", "businessHours.timezone"),
            "businessHours.timezone",
            "UNKNOWN_TIME_ZONE",
            "unknown time zone 'Mars/Olympus' (an IANA name such as Europe/Berlin)",
        ),
        (
            lambda: check_business_hours(
                "Europe/Berlin", [Weekday.MONDAY], "17:00", "09:00", "businessHours"
            ),
            "businessHours.end",
            "INVALID_BUSINESS_HOURS",
            "must be after the start (business hours cannot cross midnight)",
        ),
        (
            lambda: check_business_hours("Europe/Berlin", [], "09:00", "17:00", "businessHours"),
            "businessHours.days",
            "INVALID_BUSINESS_HOURS",
            "must name at least one day",
        ),
        (
            lambda: check_business_hours("Europe/Berlin", [Weekday.MONDAY], "9h", "17:00", "businessHours"),
            "businessHours.start",
            "INVALID_INPUT",
            "must be a time as HH:MM",
        ),
        (
            lambda: check_target(Severity.LOW, 0, 10, "targets[0]"),
            "targets[0].responseMinutes",
            "TARGET_OUT_OF_RANGE",
            "must be at least 1 minute",
        ),
        (
            lambda: check_holidays("XX", None, [], "holidays"),
            "holidays.country",
            "UNKNOWN_COUNTRY",
            "unknown country 'XX' (an ISO 3166 code such as DE)",
        ),
        (
            lambda: check_holidays("DE", "ZZ", [], "holidays"),
            "holidays.subdivision",
            "UNKNOWN_COUNTRY",
            "unknown subdivision 'ZZ' of DE",
        ),
    ],
)
def test_what_a_policy_may_not_say(check, field, code, message):
    with pytest.raises(InvalidInput) as caught:
        check()
    assert (caught.value.field, caught.value.code, caught.value.message) == (field, code, message)


def test_business_hours_may_end_at_midnight():
    hours = check_business_hours("UTC", [Weekday.MONDAY], "20:00", "24:00", "businessHours")
    assert (hours.start_minute, hours.end_minute) == (20 * 60, 24 * 60)
    calendar = BusinessCalendar(hours)
    monday = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    assert deadline(monday, 120, calendar) == datetime(2026, 12, 14, 21, 0, tzinfo=UTC)
