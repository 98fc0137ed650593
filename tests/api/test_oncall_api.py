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
NOW = "query($c: ID!, $k: Category) { onCallNow(companyId: $c, category: $k) { email } }"


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
    assert (await gql(NOW, {"c": a.gid, "k": "DATABASE"}, token=tech.token))["data"]["onCallNow"] == [
        {"email": tech.email}
    ]
    assert (await gql(NOW, {"c": a.gid, "k": "NETWORK"}, token=tech.token))["data"]["onCallNow"] == []
    assert (await gql(NOW, {"c": a.gid}, token=other.token))["data"]["onCallNow"] == []
    seen = await gql(
        "query($id: ID!) { onCallSchedule(id: $id) { name } }", {"id": schedule}, token=other.token
    )
    assert seen["data"]["onCallSchedule"] is None


MUTATIONS = {
    "onCallScheduleUpdate": ("OnCallScheduleUpdateInput", "schedule { id }"),
    "onCallScheduleDelete": ("OnCallScheduleDeleteInput", "deletedId"),
    "onCallShiftAdd": ("OnCallShiftAddInput", "schedule { id }"),
    "onCallShiftRemove": ("OnCallShiftRemoveInput", "schedule { id }"),
    "onCallRotationSet": ("OnCallRotationSetInput", "schedule { id }"),
    "onCallOverrideCreate": ("OnCallOverrideCreateInput", "schedule { id }"),
    "onCallOverrideDelete": ("OnCallOverrideDeleteInput", "schedule { id }"),
}


async def _mutate(gql, name: str, values: dict[str, Any], token: str) -> list[dict[str, Any]]:
    kind, selection = MUTATIONS[name]
    body = await gql(
        f"mutation($i: {kind}!) {{ {name}(input: $i) {{ {selection} userErrors {{ field code }} }} }}",
        {"i": values},
        token=token,
    )
    assert "errors" not in body, body
    return list(body["data"][name]["userErrors"])


async def _oncall_state(services: Any, schedule: uuid.UUID) -> list[Any]:
    """Everything stored about a schedule, to show a refused change changed nothing."""
    return [
        await services.pool.fetchrow(
            "SELECT name, timezone, updated_at FROM oncall_schedules WHERE id = $1", schedule
        ),
        *[
            sorted(
                tuple(r)
                for r in await services.pool.fetch(f"SELECT * FROM {t} WHERE schedule_id = $1", schedule)
            )
            for t in ("oncall_shifts", "oncall_rotations", "oncall_overrides")
        ],
    ]


def _writes(schedule: str, shift: str, override: str, person: str) -> dict[str, dict[str, Any]]:
    """One attempt at every on-call mutation on `schedule` and its rows."""
    later = (MONDAY_NOON + timedelta(days=1)).isoformat()
    end = (MONDAY_NOON + timedelta(days=1, hours=2)).isoformat()
    return {
        "onCallScheduleUpdate": {"id": schedule, "name": "taken over"},
        "onCallScheduleDelete": {"id": schedule},
        "onCallShiftAdd": {
            "scheduleId": schedule,
            "userId": person,
            "weekday": "FRIDAY",
            "startTime": "08:00",
            "endTime": "12:00",
        },
        "onCallShiftRemove": {"id": shift},
        "onCallRotationSet": {"scheduleId": schedule, "members": [person]},
        "onCallOverrideCreate": {"scheduleId": schedule, "userId": person, "startsAt": later, "endsAt": end},
        "onCallOverrideDelete": {"id": override},
    }


async def _built_schedule(
    services: Any, company_id: uuid.UUID, user: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A company's schedule with a Monday shift, a rotation and an override of `user`."""
    schedule = await _schedule(services, company_id, "Europe/Berlin")
    await _shift(services, schedule, company_id, user, 0, 8 * 60, 16 * 60)
    shift = await services.pool.fetchval("SELECT id FROM oncall_shifts WHERE schedule_id = $1", schedule)
    await services.pool.execute(
        "INSERT INTO oncall_rotations (id, schedule_id, company_id, members, handover_weekday, handover_minute,"
        " length_days, start_date) VALUES ($1, $2, $3, $4, 0, 540, 7, $5)",
        uuid7(),
        schedule,
        company_id,
        [user],
        date(2026, 11, 30),
    )
    override = await services.pool.fetchval(
        "INSERT INTO oncall_overrides (id, schedule_id, company_id, user_id, covers_user_id, starts_at, ends_at)"
        " VALUES ($1, $2, $3, $4, NULL, $5, $6) RETURNING id",
        uuid7(),
        schedule,
        company_id,
        user,
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, 2, tzinfo=UTC),
    )
    return schedule, shift, override


READ_ALL = """query($s: ID!, $c: ID!, $sh: ID!, $o: ID!, $from: DateTime!, $to: DateTime!) {
  onCallSchedule(id: $s) { id shifts { id } rotation { lengthDays } overrides { id } }
  onCallSchedules(companyId: $c, first: 10) { nodes { id } }
  onCallShifts(scheduleId: $s, from: $from, to: $to) { startsAt }
  schedule: node(id: $s) { id } shift: node(id: $sh) { id } override: node(id: $o) { id } }"""


async def test_another_companys_admin_neither_reads_nor_changes_its_schedules_and_its_technicians_only_read(
    gql, factory, services
):
    # given company B's schedule with a shift, a rotation and an override of its technician, A's admin,
    # and B's technician (who may read B's schedules, not change them)
    from tests.helpers import gid

    a, b = await factory.company(), await factory.company()
    admin_a = await factory.user(Role.COMPANY_ADMIN, [a])
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    tech_b = await factory.user(Role.TECHNICIAN, [b])
    schedule, shift, override = await _built_schedule(services, b.id, tech_b.id)
    ids = {
        "s": gid("OnCallSchedule", schedule),
        "sh": gid("OnCallShift", shift),
        "o": gid("OnCallOverride", override),
    }
    window = {"c": b.gid, "from": "2026-12-07T00:00:00Z", "to": "2026-12-14T00:00:00Z"}
    before = await _oncall_state(services, schedule)

    # when A's admin reads it every way there is
    seen = await gql(READ_ALL, ids | window, token=admin_a.token)

    # then nothing of it is there
    assert "errors" not in seen, seen
    assert seen["data"] == {
        "onCallSchedule": None,
        "onCallSchedules": {"nodes": []},
        "onCallShifts": [],
        "schedule": None,
        "shift": None,
        "override": None,
    }

    # and B's technician reads it all
    theirs = await gql(READ_ALL, ids | window, token=tech_b.token)
    assert theirs["data"]["onCallSchedule"]["shifts"] == [{"id": ids["sh"]}]
    assert theirs["data"]["onCallSchedule"]["overrides"] == [{"id": ids["o"]}]
    assert theirs["data"]["onCallSchedules"] == {"nodes": [{"id": ids["s"]}]}
    assert theirs["data"]["onCallShifts"]
    assert (theirs["data"]["schedule"], theirs["data"]["shift"], theirs["data"]["override"]) == (
        {"id": ids["s"]},
        {"id": ids["sh"]},
        {"id": ids["o"]},
    )

    # when A's admin (naming their own technician) and B's technician try every change
    foreign = _writes(ids["s"], ids["sh"], ids["o"], gid("User", tech_a.id))
    own = _writes(ids["s"], ids["sh"], ids["o"], gid("User", tech_b.id))
    refused = {name: await _mutate(gql, name, values, admin_a.token) for name, values in foreign.items()}
    denied = {name: await _mutate(gql, name, values, tech_b.token) for name, values in own.items()}

    # then A's admin is told it does not exist, B's technician that they may not, and nothing changed
    field = {
        "onCallShiftRemove": "id",
        "onCallOverrideDelete": "id",
        "onCallScheduleUpdate": "id",
        "onCallScheduleDelete": "id",
    }
    assert {n: [e["code"] for e in errs] for n, errs in refused.items()} == {
        n: ["NOT_FOUND"] for n in MUTATIONS
    }
    assert all(errs[0]["field"] == field.get(n, "scheduleId") for n, errs in refused.items()), refused
    assert {n: [e["code"] for e in errs] for n, errs in denied.items()} == {
        n: ["PERMISSION_DENIED"] for n in MUTATIONS
    }
    assert await _oncall_state(services, schedule) == before
    assert (
        await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", str(schedule))
        == 0
    )


async def test_an_msp_wide_schedule_puts_its_people_on_call_for_every_company_it_covers_and_only_msp_admins_see_it(
    gql, factory, services
):
    # given an MSP admin's schedule covering companies A and B (Kim, an MSP admin, on call all day every
    # day), company C not covered, and the companies' admins
    a, b, c = await factory.company(), await factory.company(), await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    kim = await factory.user(Role.MSP_ADMIN)
    admins = {x.id: await factory.user(Role.COMPANY_ADMIN, [x]) for x in (a, b, c)}
    made = await gql(
        CREATE,
        {"i": {"covers": [a.gid, b.gid], "name": "Night desk", "timeZone": "America/New_York"}},
        token=msp.token,
    )
    assert made["data"]["onCallScheduleCreate"]["userErrors"] == []
    schedule = made["data"]["onCallScheduleCreate"]["schedule"]
    assert schedule["mspWide"] is True
    kim_id = await _gid(gql, kim.token)
    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"):
        values = {
            "scheduleId": schedule["id"],
            "userId": kim_id,
            "weekday": day,
            "startTime": "00:00",
            "endTime": "24:00",
        }
        assert (await gql(SHIFT, {"i": values}, token=msp.token))["data"]["onCallShiftAdd"][
            "userErrors"
        ] == []

    # when each company's admin asks who is on call, and reads the schedules of their company
    now = {
        x.id: (await gql(NOW, {"c": x.gid}, token=admins[x.id].token))["data"]["onCallNow"] for x in (a, b, c)
    }
    listed = await gql(
        "query($c: ID!) { onCallSchedules(companyId: $c, first: 10) { nodes { id } } }",
        {"c": a.gid},
        token=admins[a.id].token,
    )
    node = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": schedule["id"]}, token=admins[a.id].token
    )

    # then Kim is on call for A and B, not for C; A's admin does not see the schedule itself (it names
    # other companies) and may not change it
    assert now[a.id] == now[b.id] == [{"email": kim.email}]
    assert now[c.id] == []
    assert listed["data"]["onCallSchedules"]["nodes"] == []
    assert node["data"]["node"] is None
    errors = await _mutate(
        gql, "onCallScheduleUpdate", {"id": schedule["id"], "name": "mine"}, admins[a.id].token
    )
    assert [e["code"] for e in errors] == ["NOT_FOUND"]

    # and the MSP admin finds it under each company it covers, with both companies, but not under C
    query = """query($c: ID!) { onCallSchedules(companyId: $c, first: 10) {
      nodes { id name covers { id } company { id } } } }"""
    for x in (a, b):
        nodes = (await gql(query, {"c": x.gid}, token=msp.token))["data"]["onCallSchedules"]["nodes"]
        assert nodes == [
            {
                "id": schedule["id"],
                "name": "Night desk",
                "covers": [{"id": a.gid}, {"id": b.gid}],
                "company": None,
            }
        ]
    assert (await gql(query, {"c": c.gid}, token=msp.token))["data"]["onCallSchedules"]["nodes"] == []


async def test_on_call_now_with_shifts_a_rotation_and_a_future_override(gql, factory, services):
    # given a Berlin schedule: Dana weekdays 08:00-18:00, a weekly rotation of Dana and Sam, and Sam
    # covering Dana on a Christmas Eve years ahead
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    dana = await factory.user(Role.TECHNICIAN, [company], category="Database")
    sam = await factory.user(Role.TECHNICIAN, [company], category="Database")
    dana_id, sam_id = await _gid(gql, dana.token), await _gid(gql, sam.token)
    made = await gql(
        CREATE,
        {"i": {"companyId": company.gid, "name": "Primary", "timeZone": "Europe/Berlin"}},
        token=admin.token,
    )
    schedule = made["data"]["onCallScheduleCreate"]["schedule"]["id"]
    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"):
        values = {
            "scheduleId": schedule,
            "userId": dana_id,
            "weekday": day,
            "startTime": "08:00",
            "endTime": "18:00",
        }
        assert (await gql(SHIFT, {"i": values}, token=admin.token))["data"]["onCallShiftAdd"][
            "userErrors"
        ] == []
    rotation = await gql(
        "mutation($i: OnCallRotationSetInput!) { onCallRotationSet(input: $i) { userErrors { code message } } }",
        {
            "i": {
                "scheduleId": schedule,
                "members": [dana_id, sam_id],
                "handoverTime": "09:00",
                "startDate": "2026-11-30",
            }
        },
        token=admin.token,
    )
    assert rotation["data"]["onCallRotationSet"]["userErrors"] == []
    override = await _mutate(
        gql,
        "onCallOverrideCreate",
        {
            "scheduleId": schedule,
            "userId": sam_id,
            "coversUserId": dana_id,
            "startsAt": "2030-12-24T18:00:00+01:00",
            "endsAt": "2030-12-25T08:00:00+01:00",
        },
        admin.token,
    )
    assert override == []

    # when anyone asks who is on call now, with and without a category
    plain = await gql(NOW, {"c": company.gid}, token=admin.token)
    skilled = await gql(NOW, {"c": company.gid, "k": "DATABASE"}, token=admin.token)

    # then one of them at least (a rotation turn holds since its first handover), never an error
    assert "errors" not in plain, plain
    assert "errors" not in skilled, skilled
    assert plain["data"]["onCallNow"]
    assert skilled["data"]["onCallNow"] == plain["data"]["onCallNow"]


async def test_bad_shifts_overrides_people_and_zones_are_refused_with_typed_errors_and_write_nothing(
    gql, factory, services
):
    # given A's schedule with Dana's Monday shift, A's admin, Sam of A (not in the schedule) and Olga
    # of company B
    from tests.helpers import gid

    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    dana = await factory.user(Role.TECHNICIAN, [a])
    sam = await factory.user(Role.TECHNICIAN, [a])
    olga = await factory.user(Role.TECHNICIAN, [b])
    schedule = await _schedule(services, a.id, "Europe/Berlin")
    await _shift(services, schedule, a.id, dana.id, 0, 8 * 60, 16 * 60)
    s, d, sm, o = (
        gid("OnCallSchedule", schedule),
        gid("User", dana.id),
        gid("User", sam.id),
        gid("User", olga.id),
    )
    before = await _oncall_state(services, schedule)
    shift = {"scheduleId": s, "userId": d, "weekday": "MONDAY", "startTime": "20:00", "endTime": "22:00"}
    override = {
        "scheduleId": s,
        "userId": sm,
        "startsAt": "2030-01-07T09:00:00+01:00",
        "endsAt": "2030-01-07T12:00:00+01:00",
    }
    cases = [
        # (mutation, input, field, code)
        ("onCallShiftAdd", shift | {"startTime": "12:00"}, None, "CONFLICT"),  # overlaps Dana's 08-16
        ("onCallShiftAdd", shift | {"startTime": "09:00", "endTime": "09:00"}, "endTime", "INVALID_INPUT"),
        ("onCallShiftAdd", shift | {"startTime": "25:00"}, "startTime", "INVALID_INPUT"),
        ("onCallShiftAdd", shift | {"userId": o}, "userId", "NOT_FOUND"),  # another company's
        (
            "onCallOverrideCreate",
            override | {"endsAt": "2030-01-07T08:00:00+01:00"},
            "endsAt",
            "INVALID_INPUT",
        ),
        ("onCallOverrideCreate", override | {"coversUserId": sm}, "coversUserId", "INVALID_INPUT"),
        ("onCallOverrideCreate", override | {"userId": d, "coversUserId": sm}, "coversUserId", "NOT_FOUND"),
        ("onCallOverrideCreate", override | {"userId": o}, "userId", "NOT_FOUND"),
        (
            "onCallOverrideCreate",
            override | {"endsAt": "2030-03-30T12:00:00+01:00"},
            "endsAt",
            "INVALID_INPUT",
        ),
        ("onCallRotationSet", {"scheduleId": s, "members": [d, o]}, "members", "NOT_FOUND"),
        (
            "onCallRotationSet",
            {"scheduleId": s, "members": [d], "handoverTime": "9am"},
            "handoverTime",
            "INVALID_INPUT",
        ),
        ("onCallScheduleUpdate", {"id": s, "timeZone": "Europe/Atlantis"}, "timeZone", "INVALID_INPUT"),
        ("onCallScheduleUpdate", {"id": s, "name": " "}, "name", "INVALID_INPUT"),
    ]

    # when A's admin tries each
    answers = [(name, await _mutate(gql, name, values, admin.token)) for name, values, _, _ in cases]

    # then each gets its typed error on the field at fault, and the schedule is as it was
    for (name, errors), (_, values, field, code) in zip(answers, cases, strict=True):
        assert [e["code"] for e in errors] == [code], (name, values, errors)
        if field is not None:
            assert errors[0]["field"] == field, (name, values, errors)
    assert await _oncall_state(services, schedule) == before
