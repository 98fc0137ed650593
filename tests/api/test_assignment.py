"""Assignment against real PostgreSQL: the automatic choice when an incident is escalated (timeline,
notification, fairness, the maximum under concurrency, nobody), and the admins' `incidentAssign` /
`incidentReassign`, `incidentComment` and `technicianUpdate` with their refusals."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from db.assignment import AutoAssignment, assign_best
from db.incident_writer import apply_action
from db.reactions import ReactionRunner
from domain.incidents import ASSIGNMENT_ACTOR, DECISION_ACTOR, IncidentAction
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

ASSIGN = """
mutation($id: ID!, $user: ID!, $note: String) { incidentAssign(input: {id: $id, userId: $user, note: $note}) {
  incident { id assignee { id name } assignedAt } userErrors { field code message } } }"""
REASSIGN = ASSIGN.replace("incidentAssign", "incidentReassign")
COMMENT = """
mutation($id: ID!, $body: String!) { incidentComment(input: {id: $id, body: $body}) {
  incident { id timeline(first: 50) { nodes { kind data } } } userErrors { field code } } }"""
UPDATE = """
mutation($id: ID!, $skills: [Category!], $tz: String, $max: Int, $assignable: Boolean) {
  technicianUpdate(input: {id: $id, skills: $skills, timezone: $tz, maxConcurrentIncidents: $max,
                           assignable: $assignable}) {
    user { skills timezone maxConcurrentIncidents assignable category } userErrors { field code } } }"""


async def technician(
    factory: Any, services: Any, company: Any, name: str, *skills: str, **fields: Any
) -> Any:
    user = await factory.user(Role.TECHNICIAN, [company])
    if fields.pop("on_call", True):
        await on_call_always(services, company, user.id)
    await services.pool.execute(
        "UPDATE users SET name = $2, skills = $3, max_concurrent_incidents = $4 WHERE id = $1",
        user.id,
        name,
        list(skills),
        fields.pop("max_", 5),
    )
    return user


async def on_call_always(services: Any, company: Any, user_id: uuid.UUID) -> None:
    """Put the user on call around the clock in a schedule of the company's own."""
    schedule = await services.pool.fetchval(
        "INSERT INTO oncall_schedules (id, company_id, name, timezone)"
        " VALUES (gen_random_uuid(), $1, $2, 'UTC') RETURNING id",
        company.id,
        f"24x7 {user_id}",
    )
    await services.pool.execute(
        "INSERT INTO oncall_shifts (id, schedule_id, company_id, user_id, weekday, start_minute, end_minute)"
        " SELECT gen_random_uuid(), $1, $2, $3, d, 0, 1440 FROM generate_series(0, 6) d",
        schedule,
        company.id,
        user_id,
    )


async def escalate(services: Any, incident: uuid.UUID) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(
            conn,
            incident,
            IncidentAction.ESCALATE,
            DECISION_ACTOR,
            datetime.now(UTC),
            data={"reason": "no runbook"},
        )


async def drain(runner: ReactionRunner) -> None:
    while await runner.run_once():
        pass


async def test_an_escalated_incident_goes_to_the_best_technician_who_hears_of_it(services, factory):
    company = await factory.company()
    dana = await technician(factory, services, company, "Dana", "Database")
    sam = await technician(factory, services, company, "Sam", "Database")
    await technician(factory, services, company, "Nia", "Network")
    busy = await rows.incident(services, company.id, category="Database", assigned_to=sam.id)
    incident = await rows.incident(
        services, company.id, category="Database", signature="ReplicationLag", asset_name="db-01"
    )
    runner = ReactionRunner(services.pool, AutoAssignment())
    await runner.register()

    await escalate(services, incident)
    await drain(runner)

    row = await services.pool.fetchrow(
        "SELECT assigned_to, assigned_at, version FROM incidents WHERE id = $1", incident
    )
    assert row["assigned_to"] == dana.id
    assert row["assigned_at"] is not None
    event = await services.pool.fetchrow(
        "SELECT data::text AS data FROM incident_events WHERE incident_id = $1 AND kind = 'ASSIGNED'",
        incident,
    )
    assert '"reason": "assigned to Dana: on call, Database, 0 open incidents"' in event["data"]
    assert '"actor": "system:assignment"' in event["data"]
    change = await services.pool.fetchrow(
        "SELECT actor, after_status FROM incident_changes WHERE incident_id = $1 AND version = $2",
        incident,
        row["version"],
    )
    assert tuple(change) == (ASSIGNMENT_ACTOR, "ESCALATED")
    note = await services.pool.fetchrow(
        "SELECT user_id, kind, subject FROM notifications WHERE incident_id = $1 AND kind = 'ASSIGNED'",
        incident,
    )
    assert tuple(note) == (dana.id, "ASSIGNED", "Assigned to you: ReplicationLag on db-01")
    assert (
        await services.pool.fetchval("SELECT last_assigned_at FROM users WHERE id = $1", dana.id) is not None
    )
    # An incident already assigned keeps its assignee.
    await escalate(services, busy)
    await drain(runner)
    assert await services.pool.fetchval("SELECT assigned_to FROM incidents WHERE id = $1", busy) == sam.id


async def test_two_incidents_escalated_at_once_never_overfill_a_technician(services, factory):
    company = await factory.company()
    only = await technician(factory, services, company, "Dana", "Database", max_=1)
    incidents = [await rows.incident(services, company.id, category="Database") for _ in range(2)]

    async def assign(incident: uuid.UUID) -> Any:
        async with services.pool.acquire() as conn, conn.transaction():
            return await assign_best(conn, incident, datetime.now(UTC), ASSIGNMENT_ACTOR, "test")

    results = await asyncio.gather(*(assign(i) for i in incidents))

    assert sorted(str(r.user_id) for r in results) == sorted([str(only.id), "None"])
    nobody = next(r for r in results if r.user_id is None)
    assert nobody.reason == (
        "nobody assigned: every technician who could take it is at their maximum of open incidents or lacks Database"
    )


async def test_when_nobody_can_take_it_the_admins_are_told(services, factory):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await technician(factory, services, company, "Away", "Database", on_call=False)
    await services.pool.execute("UPDATE users SET assignable = false WHERE name = 'Away'")
    incident = await rows.incident(
        services, company.id, category="Database", signature="DiskFull", asset_name="db-01"
    )
    runner = ReactionRunner(services.pool, AutoAssignment())
    await runner.register()

    await escalate(services, incident)
    await drain(runner)

    assert await services.pool.fetchval("SELECT assigned_to FROM incidents WHERE id = $1", incident) is None
    kinds = [
        r["kind"]
        for r in await services.pool.fetch(
            "SELECT kind FROM incident_events WHERE incident_id = $1", incident
        )
    ]
    assert "UNASSIGNED" in kinds
    told = await services.pool.fetchrow(
        "SELECT user_id, subject, body FROM notifications WHERE incident_id = $1 AND kind = 'UNASSIGNED'",
        incident,
    )
    assert told["user_id"] == admin.id
    assert told["subject"] == "Nobody could take: DiskFull on db-01"
    assert (
        told["body"]
        == "DiskFull on db-01 needs a person and no technician of the company takes incidents now."
    )


async def test_an_admin_assigns_and_reassigns_by_hand(services, factory, gql):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    dana = await technician(factory, services, company, "Dana", "Database")
    sam = await technician(factory, services, company, "Sam", "Database")
    incident = await rows.incident(services, company.id)
    iid = gid("Incident", incident)

    done = (
        await gql(ASSIGN, {"id": iid, "user": gid("User", dana.id), "note": "knows it"}, token=admin.token)
    )["data"]["incidentAssign"]

    assert done["userErrors"] == []
    assert done["incident"]["assignee"] == {"id": gid("User", dana.id), "name": "Dana"}
    again = (await gql(ASSIGN, {"id": iid, "user": gid("User", sam.id)}, token=admin.token))["data"][
        "incidentAssign"
    ]
    assert again["userErrors"][0]["code"] == "CONFLICT"
    moved = (await gql(REASSIGN, {"id": iid, "user": gid("User", sam.id)}, token=admin.token))["data"][
        "incidentReassign"
    ]
    assert moved["incident"]["assignee"]["name"] == "Sam"
    events = await services.pool.fetch(
        "SELECT data::text AS data FROM incident_events WHERE incident_id = $1 AND kind = 'ASSIGNED' ORDER BY id",
        incident,
    )
    assert '"reason": "assigned to Dana by hand: knows it"' in events[0]["data"]
    assert f'"previous": "{dana.id}"' in events[1]["data"]
    audit = await services.pool.fetch(
        "SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY id", str(incident)
    )
    assert [a["action"] for a in audit] == ["incident.assign", "incident.reassign"]
    assigned_to_sam = await services.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE incident_id = $1 AND user_id = $2 AND kind = 'ASSIGNED'",
        incident,
        sam.id,
    )
    assert assigned_to_sam == 1


async def test_assignment_refusals_are_typed_and_write_nothing(services, factory, gql):
    company, other = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await technician(factory, services, company, "Dana", "Database")
    stranger = await technician(factory, services, other, "Olga", "Database")
    colleague_admin = await factory.user(Role.COMPANY_ADMIN, [company])
    inactive = await technician(factory, services, company, "Gone", "Database")
    await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", inactive.id)
    on_leave = await technician(factory, services, company, "Lee", "Database")
    await services.pool.execute("UPDATE users SET assignable = false WHERE id = $1", on_leave.id)
    incident = await rows.incident(services, company.id)
    resolved = await rows.incident(services, company.id, status="RESOLVED")
    iid = gid("Incident", incident)

    async def refused(token: str, incident_gid: str, user: Any) -> dict[str, Any]:
        answer = await gql(ASSIGN, {"id": incident_gid, "user": gid("User", user.id)}, token=token)
        return answer["data"]["incidentAssign"]["userErrors"][0]

    assert (await refused(admin.token, iid, stranger))[
        "message"
    ] == "is not a technician of this incident's company"
    assert (await refused(admin.token, iid, colleague_admin))["message"] == (
        "is not a technician: incidents are assigned to technicians"
    )
    assert (await refused(admin.token, iid, inactive))["message"] == "is deactivated"
    assert (await refused(admin.token, iid, on_leave))[
        "message"
    ] == "is not taking incidents (not assignable)"
    assert (await refused(tech.token, iid, tech))["code"] == "PERMISSION_DENIED"
    # nor may a technician hand it to a colleague
    colleague = await technician(factory, services, company, "Sam", "Database")
    assert (await refused(tech.token, iid, colleague))["code"] == "PERMISSION_DENIED"
    assert (await refused(admin.token, gid("Incident", resolved), tech))["code"] == "INVALID_TRANSITION"
    outsider = await factory.user(Role.COMPANY_ADMIN, [other])
    assert (await refused(outsider.token, iid, tech))["code"] == "NOT_FOUND"
    assert await services.pool.fetchval("SELECT assigned_to FROM incidents WHERE id = $1", incident) is None
    assert (
        await services.pool.fetchval("SELECT count(*) FROM incident_events WHERE incident_id = $1", incident)
        == 0
    )


async def test_a_technician_comments_on_an_incident(services, factory, gql):
    company = await factory.company()
    tech = await technician(factory, services, company, "Dana", "Database")
    incident = await rows.incident(services, company.id)

    answer = await gql(
        COMMENT, {"id": gid("Incident", incident), "body": "  disk at 97%, cleaning logs  "}, token=tech.token
    )

    payload = answer["data"]["incidentComment"]
    assert payload["userErrors"] == []
    assert payload["incident"]["timeline"]["nodes"][-1] == {
        "kind": "COMMENT",
        "data": {"body": "disk at 97%, cleaning logs"},
    }
    empty = await gql(COMMENT, {"id": gid("Incident", incident), "body": "   "}, token=tech.token)
    assert empty["data"]["incidentComment"]["userErrors"] == [{"field": "body", "code": "INVALID_INPUT"}]
    outsider = await factory.user(Role.TECHNICIAN, [await factory.company()])
    hidden = await gql(COMMENT, {"id": gid("Incident", incident), "body": "x"}, token=outsider.token)
    assert hidden["data"]["incidentComment"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_technician_profiles_are_set_by_their_admins(services, factory, gql):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await technician(factory, services, company, "Dana", "Database")
    tid = gid("User", tech.id)

    done = await gql(
        UPDATE,
        {"id": tid, "skills": ["NETWORK", "DATABASE"], "tz": "Europe/Berlin", "max": 3, "assignable": False},
        token=admin.token,
    )

    assert done["data"]["technicianUpdate"] == {
        "user": {
            "skills": ["NETWORK", "DATABASE"],
            "timezone": "Europe/Berlin",
            "maxConcurrentIncidents": 3,
            "assignable": False,
            "category": "NETWORK",
        },
        "userErrors": [],
    }
    unknown = await gql(UPDATE, {"id": tid, "skills": ["PLUMBING"]}, token=admin.token)
    assert unknown["errors"][0]["message"].endswith("Value 'PLUMBING' does not exist in 'Category' enum.")
    for variables, field in (
        ({"tz": "Mars/Olympus"}, "timezone"),
        ({"max": 0}, "maxConcurrentIncidents"),
    ):
        answer = await gql(UPDATE, {"id": tid, **variables}, token=admin.token)
        assert answer["data"]["technicianUpdate"]["userErrors"] == [{"field": field, "code": "INVALID_INPUT"}]
    # A technician sets their own time zone, nothing else.
    own = await gql(UPDATE, {"id": tid, "tz": "America/New_York"}, token=tech.token)
    assert own["data"]["technicianUpdate"]["user"]["timezone"] == "America/New_York"
    more = await gql(UPDATE, {"id": tid, "max": 50}, token=tech.token)
    assert more["data"]["technicianUpdate"]["userErrors"] == [{"field": None, "code": "PERMISSION_DENIED"}]
    row = await services.pool.fetchrow(
        "SELECT max_concurrent_incidents, timezone FROM users WHERE id = $1", tech.id
    )
    assert tuple(row) == (3, "America/New_York")
