"""On-call schedules end to end: the assignment's `on_call_user_ids`, the GraphQL schedules, shifts,
rotations and overrides, `onCallNow` and `onCallShifts`, who may do what, and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from db.oncall import on_call_user_ids
from domain.ids import uuid7
from domain.rbac import Role

MONDAY_NOON = datetime(2026, 12, 7, 12, tzinfo=UTC)


async def _schedule(services: Any, company_id: uuid.UUID | None, zone: str = "UTC", covers=()) -> uuid.UUID:
    return await services.pool.fetchval(
        "INSERT INTO oncall_schedules (id, company_id, covers, name, timezone) VALUES ($1, $2, $3, 'S', $4)"
        " RETURNING id",
        uuid7(),
        company_id,
        list(covers),
        zone,
    )


async def _shift(
    services: Any, schedule: uuid.UUID, company_id: Any, user: uuid.UUID, day: int, a: int, b: int
):
    await services.pool.execute(
        "INSERT INTO oncall_shifts (id, schedule_id, company_id, user_id, weekday, start_minute, end_minute)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        uuid7(),
        schedule,
        company_id,
        user,
        day,
        a,
        b,
    )


async def test_on_call_user_ids_reads_own_and_msp_wide_schedules_with_rotations_and_overrides(
    services, factory
):
    # given company A with Sam on Mondays 08:00-16:00 (Berlin), Dana covering Sam at noon, an MSP-wide
    # schedule covering A whose rotation Kim holds, an inactive technician, and company B's own schedule
    a, b = await factory.company(), await factory.company()
    sam, dana, gone = [await factory.user(Role.TECHNICIAN, [a]) for _ in range(3)]
    kim = await factory.user(Role.MSP_ADMIN)
    bob = await factory.user(Role.TECHNICIAN, [b])
    own = await _schedule(services, a.id, "Europe/Berlin")
    await _shift(services, own, a.id, sam.id, 0, 8 * 60, 16 * 60)
    await _shift(services, own, a.id, gone.id, 0, 0, 1440)
    await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", gone.id)
    wide = await _schedule(services, None, covers=[a.id])
    await services.pool.execute(
        "INSERT INTO oncall_rotations (id, schedule_id, company_id, members, handover_weekday, handover_minute,"
        " length_days, start_date) VALUES ($1, $2, NULL, $3, 0, 540, 7, $4)",
        uuid7(),
        wide,
        [kim.id],
        date(2026, 11, 30),
    )
    theirs = await _schedule(services, b.id)
    await _shift(services, theirs, b.id, bob.id, 0, 0, 1440)

    async with services.pool.acquire() as conn:
        # when A's on-call people are asked at Monday noon (13:00 Berlin)
        before = await on_call_user_ids(conn, a.id, MONDAY_NOON)
        await services.pool.execute(
            "INSERT INTO oncall_overrides (id, schedule_id, company_id, user_id, covers_user_id, starts_at,"
            " ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            uuid7(),
            own,
            a.id,
            dana.id,
            sam.id,
            MONDAY_NOON,
            MONDAY_NOON + timedelta(hours=1),
        )
        covered = await on_call_user_ids(conn, a.id, MONDAY_NOON)
        after = await on_call_user_ids(conn, a.id, MONDAY_NOON + timedelta(hours=1))
        late = await on_call_user_ids(conn, a.id, MONDAY_NOON + timedelta(hours=3))  # 16:00 Berlin

    # then Sam and Kim (the MSP-wide rotation), never the inactive one nor B's Bob; Dana in place of
    # Sam while covering; Sam again once the override ends, and not after the shift
    assert before == {sam.id, kim.id}
    assert covered == {dana.id, kim.id}
    assert after == {sam.id, kim.id}
    assert late == {kim.id}


CREATE = """mutation($i: OnCallScheduleCreateInput!) { onCallScheduleCreate(input: $i) {
  schedule { id name timeZone mspWide } userErrors { field code message } } }"""
SHIFT = """mutation($i: OnCallShiftAddInput!) { onCallShiftAdd(input: $i) {
  schedule { shifts { startTime endTime } } userErrors { field code message } } }"""
NOW = "query($c: ID!, $k: String) { onCallNow(companyId: $c, category: $k) { email } }"


async def _gid(gql, token):
    return (await gql("{ me { id } }", token=token))["data"]["me"]["id"]


async def test_admins_build_a_schedule_technicians_read_it_and_bad_input_writes_nothing(
    gql, factory, services
):
    # given company A's admin and technician, and company B's admin
    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    tech = await factory.user(Role.TECHNICIAN, [a], category="Database")
    other = await factory.user(Role.COMPANY_ADMIN, [b])
    tech_id = await _gid(gql, tech.token)
    new = {"companyId": a.gid, "name": "Primary", "timeZone": "Europe/Berlin"}

    # when a technician or another company's admin tries to create one, or with an unknown zone
    denied = await gql(CREATE, {"i": new}, token=tech.token)
    foreign = await gql(CREATE, {"i": new}, token=other.token)
    bad_zone = await gql(CREATE, {"i": new | {"timeZone": "Mars/Olympus"}}, token=admin.token)

    # then each is refused with a typed error and nothing is stored
    assert denied["data"]["onCallScheduleCreate"]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    assert foreign["data"]["onCallScheduleCreate"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert bad_zone["data"]["onCallScheduleCreate"]["userErrors"][0]["field"] == "timeZone"
    assert (
        await services.pool.fetchval("SELECT count(*) FROM oncall_schedules WHERE company_id = $1", a.id) == 0
    )

    # when the admin creates it and gives the technician an all-day shift every day
    made = (await gql(CREATE, {"i": new}, token=admin.token))["data"]["onCallScheduleCreate"]
    assert made["userErrors"] == []
    schedule = made["schedule"]["id"]
    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"):
        added = await gql(
            SHIFT,
            {
                "i": {
                    "scheduleId": schedule,
                    "userId": tech_id,
                    "weekday": day,
                    "startTime": "00:00",
                    "endTime": "24:00",
                }
            },
            token=admin.token,
        )
        assert added["data"]["onCallShiftAdd"]["userErrors"] == []

    # then an overlapping shift of the same person is refused, and nothing more is stored
    clash = await gql(
        SHIFT,
        {
            "i": {
                "scheduleId": schedule,
                "userId": tech_id,
                "weekday": "MONDAY",
                "startTime": "08:00",
                "endTime": "09:00",
            }
        },
        token=admin.token,
    )
    assert clash["data"]["onCallShiftAdd"]["userErrors"][0]["code"] == "CONFLICT"
    assert await services.pool.fetchval("SELECT count(*) FROM oncall_shifts WHERE company_id = $1", a.id) == 7

    # and the technician reads who is on call (by skill too); B's admin sees nobody of A's
    assert (await gql(NOW, {"c": a.gid}, token=tech.token))["data"]["onCallNow"] == [{"email": tech.email}]
    assert (await gql(NOW, {"c": a.gid, "k": "Database"}, token=tech.token))["data"]["onCallNow"] == [
        {"email": tech.email}
    ]
    assert (await gql(NOW, {"c": a.gid, "k": "Network"}, token=tech.token))["data"]["onCallNow"] == []
    assert (await gql(NOW, {"c": a.gid}, token=other.token))["data"]["onCallNow"] == []
    seen = await gql(
        "query($id: ID!) { onCallSchedule(id: $id) { name } }", {"id": schedule}, token=other.token
    )
    assert seen["data"]["onCallSchedule"] is None
