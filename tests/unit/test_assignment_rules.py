"""Who gets an incident: category, load, maximum, on call, fairness, and every fallback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.assignment import (
    AssignmentRule,
    Candidate,
    check_max_concurrent,
    check_skills,
    check_timezone,
    choose,
)
from domain.errors import InvalidInput

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def tech(name: str, *skills: str, on_call: bool = True, open_: int = 0, max_: int = 5, **kw) -> Candidate:
    return Candidate(
        user_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        name=name,
        skills=frozenset(skills),
        on_call=on_call,
        open_incidents=open_,
        max_concurrent=max_,
        last_assigned_at=kw.pop("last", None),
        **kw,
    )


def test_the_on_call_technician_with_the_skill_and_the_fewest_open_incidents_gets_it():
    dana = tech("Dana", "Database", open_=1)
    sam = tech("Sam", "Database", open_=3)
    net = tech("Nia", "Network", open_=0)

    choice = choose([sam, net, dana], "Database")

    assert choice.user_id == dana.user_id
    assert choice.rule is AssignmentRule.ON_CALL_WITH_SKILL
    assert choice.reason == "assigned to Dana: on call, Database, 1 open incident"


def test_a_tie_goes_to_who_was_assigned_least_recently_and_never_assigned_first():
    early = tech("Ann", "Database", last=NOW - timedelta(hours=5))
    late = tech("Bob", "Database", last=NOW - timedelta(minutes=5))
    never = tech("Cy", "Database")

    assert choose([late, early], "Database").user_id == early.user_id
    assert choose([late, early, never], "Database").user_id == never.user_id


def test_a_technician_at_their_maximum_is_skipped():
    full = tech("Dana", "Database", open_=2, max_=2)
    busy = tech("Sam", "Database", open_=4, max_=5)

    assert choose([full, busy], "Database").user_id == busy.user_id


def test_fallback_to_any_on_call_technician_then_to_anyone_with_the_skill():
    on_call_other = tech("Nia", "Network")
    skilled_off_duty = tech("Dana", "Database", on_call=False)

    first = choose([on_call_other, skilled_off_duty], "Database")
    assert (first.user_id, first.rule) == (on_call_other.user_id, AssignmentRule.ON_CALL)
    assert first.reason == "assigned to Nia: on call, no on-call Database technician free, 0 open incidents"

    second = choose([skilled_off_duty, tech("Off", "Network", on_call=False)], "Database")
    assert (second.user_id, second.rule) == (skilled_off_duty.user_id, AssignmentRule.WITH_SKILL)
    assert second.reason == "assigned to Dana: Database, nobody on call was free, 0 open incidents"


def test_nobody_when_nobody_fits_and_the_reason_says_why():
    assert choose([], "Database").reason == "nobody assigned: the company has no technicians"
    away = [tech("Dana", "Database", assignable=False), tech("Sam", "Database", active=False)]
    assert (
        choose(away, "Database").reason == "nobody assigned: no technician of the company takes incidents now"
    )
    full = [tech("Dana", "Database", open_=5), tech("Nia", "Network", on_call=False)]
    nobody = choose(full, "Database")
    assert (nobody.user_id, nobody.rule) == (None, AssignmentRule.NOBODY)
    assert nobody.reason == (
        "nobody assigned: every technician who could take it is at their maximum of open incidents or lacks Database"
    )


def test_an_incident_without_a_category_goes_to_anyone_on_call():
    assert choose([tech("Dana", "Database", on_call=False), tech("Nia")], None).rule is AssignmentRule.ON_CALL


def test_profiles_are_checked():
    assert check_skills(["database", "Network", "DATABASE"]) == ["Network", "Database"]
    with pytest.raises(InvalidInput) as bad:
        check_skills(["Plumbing"])
    assert bad.value.field == "skills"
    assert check_timezone("Europe/Berlin") == "Europe/Berlin"
    for zone in ("Mars/Olympus", "", "../../etc/passwd"):
        with pytest.raises(InvalidInput):
            check_timezone(zone)
    assert check_max_concurrent(1) == 1
    for n in (0, 101):
        with pytest.raises(InvalidInput):
            check_max_concurrent(n)
