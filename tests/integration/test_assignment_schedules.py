"""The automatic assignment against real schedules on an injected clock: weekly shifts in two time
zones across both DST changes, overrides, fairness (least recently assigned), and every fallback
(any on-call technician, anyone with the skill, nobody), through `db.assignment.assign_best` as the
`assignment` reaction calls it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from db.assignment import Assigned, assign_best
from domain.assignment import AssignmentRule
from domain.ids import uuid7
from domain.incidents import ASSIGNMENT_ACTOR
from domain.rbac import Role
from tests import incident_rows as rows

SATURDAY, SUNDAY = 5, 6


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def _technician(
    factory: Any, services: Any, company: Any, name: str, *skills: str, max_: int = 5
) -> Any:
    user = await factory.user(Role.TECHNICIAN, [company])
    await services.pool.execute(
        "UPDATE users SET name = $2, skills = $3, max_concurrent_incidents = $4 WHERE id = $1",
        user.id,
        name,
        list(skills),
        max_,
    )
    return user


async def _schedule(services: Any, company: Any, zone: str) -> uuid.UUID:
    return await services.pool.fetchval(
        "INSERT INTO oncall_schedules (id, company_id, name, timezone) VALUES ($1, $2, $3, $4) RETURNING id",
        uuid7(),
        company.id,
        f"{zone} {uuid.uuid4().hex[:6]}",
        zone,
    )


async def _shift(
    services: Any, schedule: uuid.UUID, company: Any, user: Any, day: int, start: str, end: str
) -> None:
    def minute(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    await services.pool.execute(
        "INSERT INTO oncall_shifts (id, schedule_id, company_id, user_id, weekday, start_minute, end_minute)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        uuid7(),
        schedule,
        company.id,
        user.id,
        day,
        minute(start),
        minute(end),
    )


async def _assign_at(services: Any, company: Any, at: datetime, category: str = "Database") -> Assigned:
    """A new incident of `category` assigned at `at`, then resolved and the fairness clock reset, so
    each instant is judged on the schedules alone."""
    incident = await rows.incident(services, company.id, category=category)
    async with services.pool.acquire() as conn, conn.transaction():
        result = await assign_best(conn, incident, at, ASSIGNMENT_ACTOR, "escalated")
    assert result is not None
    await services.pool.execute("UPDATE incidents SET status = 'RESOLVED' WHERE id = $1", incident)
    await services.pool.execute(
        "UPDATE users SET last_assigned_at = NULL WHERE id IN"
        " (SELECT user_id FROM memberships WHERE company_id = $1)",
        company.id,
    )
    return result


async def test_weekly_shifts_follow_local_time_in_two_zones_across_both_dst_changes(services, factory):
    # given Sam (Database) on a Berlin schedule, Saturday 22:00 to Sunday 06:00 local, and Nia
    # (Database) on a New York schedule, Sundays 08:00-10:00 local: Europe changes its clocks on the
    # last Sundays of March and October (28 Mar, 31 Oct 2027), the US on 14 Mar and 7 Nov 2027
    company = await factory.company()
    sam = await _technician(factory, services, company, "Sam", "Database")
    nia = await _technician(factory, services, company, "Nia", "Database")
    berlin = await _schedule(services, company, "Europe/Berlin")
    await _shift(services, berlin, company, sam, SATURDAY, "22:00", "06:00")
    new_york = await _schedule(services, company, "America/New_York")
    await _shift(services, new_york, company, nia, SUNDAY, "08:00", "10:00")

    async def who(at: datetime) -> tuple[uuid.UUID | None, AssignmentRule]:
        got = await _assign_at(services, company, at)
        return got.user_id, got.rule

    on_call = AssignmentRule.ON_CALL_WITH_SKILL
    # when incidents come at instants around the changes; then:
    # Berlin in winter (CET, UTC+1): the night shift is 21:00Z to 05:00Z
    assert await who(utc(2027, 3, 20, 21, 30)) == (sam.id, on_call)
    assert await who(utc(2027, 3, 21, 4, 30)) == (sam.id, on_call)  # 05:30 CET
    # the night the clocks go forward it starts at 21:00Z (CET) and ends at 04:00Z (06:00 CEST): 7 hours
    assert await who(utc(2027, 3, 27, 21, 30)) == (sam.id, on_call)
    assert await who(utc(2027, 3, 28, 3, 59)) == (sam.id, on_call)  # 05:59 CEST
    off = await _assign_at(services, company, utc(2027, 3, 28, 4, 30))  # 06:30 CEST: nobody on call
    assert off.rule == AssignmentRule.WITH_SKILL
    assert off.reason.endswith("Database, nobody on call was free, 0 open incidents")
    # in summer (CEST) it starts at 20:00Z
    assert await who(utc(2027, 4, 3, 20, 30)) == (sam.id, on_call)
    # the night the clocks go back it runs 20:00Z (22:00 CEST) to 05:00Z (06:00 CET): 9 hours
    assert await who(utc(2027, 10, 30, 20, 30)) == (sam.id, on_call)  # 22:30 CEST
    assert await who(utc(2027, 10, 31, 4, 30)) == (sam.id, on_call)  # 05:30 CET
    # a week before, still in summer time, 04:30Z is 06:30 CEST: over
    assert (await _assign_at(services, company, utc(2027, 10, 24, 4, 30))).rule == AssignmentRule.WITH_SKILL
    # New York: 08:00-10:00 EST is 13:00-15:00Z, EDT (from 14 Mar to 7 Nov) 12:00-14:00Z
    assert (await _assign_at(services, company, utc(2027, 3, 7, 12, 30))).rule == AssignmentRule.WITH_SKILL
    assert await who(utc(2027, 3, 14, 12, 30)) == (nia.id, on_call)
    assert await who(utc(2027, 10, 31, 12, 30)) == (nia.id, on_call)
    assert (await _assign_at(services, company, utc(2027, 11, 7, 12, 30))).rule == AssignmentRule.WITH_SKILL
    assert await who(utc(2027, 11, 7, 13, 30)) == (nia.id, on_call)


async def test_an_override_puts_the_cover_on_call_in_place_of_the_person_it_covers(services, factory):
    # given Sam (Database) on call every day all day (Berlin), and an override: Dana covers Sam on
    # 24 Dec 18:00 to 25 Dec 08:00 Berlin; Kim added beside everyone on 26 Dec 10:00-12:00
    company = await factory.company()
    sam = await _technician(factory, services, company, "Sam", "Database")
    dana = await _technician(factory, services, company, "Dana", "Database")
    kim = await _technician(factory, services, company, "Kim", "Network")
    schedule = await _schedule(services, company, "Europe/Berlin")
    for day in range(7):
        await _shift(services, schedule, company, sam, day, "00:00", "24:00")
    overrides = [
        (dana.id, sam.id, utc(2027, 12, 24, 17), utc(2027, 12, 25, 7)),
        (kim.id, None, utc(2027, 12, 26, 9), utc(2027, 12, 26, 11)),
    ]
    for user, covers, starts, ends in overrides:
        await services.pool.execute(
            "INSERT INTO oncall_overrides (id, schedule_id, company_id, user_id, covers_user_id, starts_at,"
            " ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            uuid7(),
            schedule,
            company.id,
            user,
            covers,
            starts,
            ends,
        )

    # when Database incidents come before, during and after the cover, and a Network one with Kim added
    before = await _assign_at(services, company, utc(2027, 12, 24, 16, 59))
    during = await _assign_at(services, company, utc(2027, 12, 24, 19))
    end = await _assign_at(services, company, utc(2027, 12, 25, 6, 59))
    after = await _assign_at(services, company, utc(2027, 12, 25, 7))
    network = await _assign_at(services, company, utc(2027, 12, 26, 10), category="Network")
    network_later = await _assign_at(services, company, utc(2027, 12, 26, 11), category="Network")

    # then Sam, Dana while covering (Sam is not on call then), Sam again from 08:00 Berlin; Kim is on
    # call only within the added override: after it, the on-call Sam (without the skill) is the fallback
    assert [r.user_id for r in (before, during, end, after)] == [sam.id, dana.id, dana.id, sam.id]
    assert during.rule == AssignmentRule.ON_CALL_WITH_SKILL
    assert during.reason == "assigned to Dana: on call, Database, 0 open incidents"
    assert (network.user_id, network.rule) == (kim.id, AssignmentRule.ON_CALL_WITH_SKILL)
    assert (network_later.user_id, network_later.rule) == (sam.id, AssignmentRule.ON_CALL)


async def test_the_least_recently_assigned_of_equally_loaded_technicians_gets_the_next_one(services, factory):
    # given three Database technicians on call all day (UTC), equally loaded
    company = await factory.company()
    people = [await _technician(factory, services, company, name, "Database") for name in ("Ada", "Bo", "Cy")]
    schedule = await _schedule(services, company, "UTC")
    for person in people:
        for day in range(7):
            await _shift(services, schedule, company, person, day, "00:00", "24:00")

    # when six incidents come one after the other, each resolved before the next (equal load)
    chosen = []
    for minute in range(6):
        incident = await rows.incident(services, company.id, category="Database")
        async with services.pool.acquire() as conn, conn.transaction():
            got = await assign_best(conn, incident, utc(2027, 1, 4, 9, minute), ASSIGNMENT_ACTOR, "escalated")
        assert got is not None
        chosen.append(got.user_id)
        await services.pool.execute("UPDATE incidents SET status = 'RESOLVED' WHERE id = $1", incident)

    # then they take turns: never assigned first (by name), then least recently assigned
    ids = [p.id for p in people]
    assert chosen == ids + ids
    # and with one of them holding an open incident, the others go first even if assigned earlier
    open_one = await rows.incident(services, company.id, category="Database", assigned_to=ids[0])
    assert open_one
    incident = await rows.incident(services, company.id, category="Database")
    async with services.pool.acquire() as conn, conn.transaction():
        got = await assign_best(conn, incident, utc(2027, 1, 4, 10), ASSIGNMENT_ACTOR, "escalated")
    assert got is not None
    assert got.user_id == ids[1]


async def test_each_fallback_in_order_and_the_admins_told_when_nobody_fits(services, factory):
    # given Dana (Database) on call but at her maximum, Nia (Network) on call, Sam (Database) not on
    # call, and an admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    dana = await _technician(factory, services, company, "Dana", "Database", max_=1)
    nia = await _technician(factory, services, company, "Nia", "Network", max_=1)
    sam = await _technician(factory, services, company, "Sam", "Database", max_=1)
    schedule = await _schedule(services, company, "Europe/Berlin")
    for person in (dana, nia):
        for day in range(7):
            await _shift(services, schedule, company, person, day, "00:00", "24:00")
    await rows.incident(services, company.id, category="Database", assigned_to=dana.id)
    at = utc(2027, 6, 1, 12)

    async def assign() -> Assigned:
        incident = await rows.incident(services, company.id, category="Database", signature="DiskFull")
        async with services.pool.acquire() as conn, conn.transaction():
            got = await assign_best(conn, incident, at, ASSIGNMENT_ACTOR, "escalated")
        assert got is not None
        return got

    # when Database incidents keep coming (each stays open)
    first, second, third = await assign(), await assign(), await assign()

    # then the on-call Network technician (any on call), then Sam (anyone with the skill), then nobody,
    # and the company's admins are told
    assert (first.user_id, first.rule) == (nia.id, AssignmentRule.ON_CALL)
    assert first.reason == "assigned to Nia: on call, no on-call Database technician free, 0 open incidents"
    assert (second.user_id, second.rule) == (sam.id, AssignmentRule.WITH_SKILL)
    assert (third.user_id, third.rule) == (None, AssignmentRule.NOBODY)
    told = await services.pool.fetch(
        "SELECT user_id FROM notifications WHERE company_id = $1 AND kind = 'UNASSIGNED'", company.id
    )
    assert [r["user_id"] for r in told] == [admin.id]


async def test_a_rotation_hands_over_at_nine_berlin_time_in_winter_and_in_summer(services, factory):
    # given a Berlin schedule whose weekly rotation (Ada, then Bo) hands over on Mondays at 09:00,
    # from Monday 1 March 2027
    company = await factory.company()
    ada = await _technician(factory, services, company, "Ada", "Database")
    bo = await _technician(factory, services, company, "Bo", "Database")
    schedule = await _schedule(services, company, "Europe/Berlin")
    await services.pool.execute(
        "INSERT INTO oncall_rotations (id, schedule_id, company_id, members, handover_weekday,"
        " handover_minute, length_days, start_date) VALUES ($1, $2, $3, $4, 0, 540, 7, '2027-03-01')",
        uuid7(),
        schedule,
        company.id,
        [ada.id, bo.id],
    )

    async def who(at: datetime) -> uuid.UUID | None:
        got = await _assign_at(services, company, at)
        assert got.rule in (AssignmentRule.ON_CALL_WITH_SKILL, AssignmentRule.WITH_SKILL)
        return got.user_id if got.rule == AssignmentRule.ON_CALL_WITH_SKILL else None

    # then nobody is on call before the first handover, Ada from 09:00 CET (08:00Z), Bo a week later,
    # and after the clocks went forward the handover is at 09:00 CEST (07:00Z)
    assert await who(utc(2027, 3, 1, 7, 59)) is None
    assert await who(utc(2027, 3, 1, 8)) == ada.id
    assert await who(utc(2027, 3, 8, 7, 59)) == ada.id
    assert await who(utc(2027, 3, 8, 8)) == bo.id
    assert await who(utc(2027, 3, 29, 6, 59)) == bo.id  # 08:59 CEST, Bo's second turn
    assert await who(utc(2027, 3, 29, 7)) == ada.id
