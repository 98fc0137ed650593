"""In-app notifications over GraphQL: each user's own list, read marks, preferences, the admins' view
of failed emails, the escalation notices, and `notificationReceived` over a real websocket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from db.escalation_notices import EscalationNotices
from db.incident_writer import apply_action
from db.notifications import enqueue
from db.reactions import ReactionRunner
from domain.incidents import DECISION_ACTOR, IncidentAction
from domain.notifications import NotificationKind
from domain.rbac import Role
from tests import incident_rows as rows
from tests.api.test_subscriptions import connect
from tests.helpers import gid
from tests.live import live_servers

LIST = """
query($unread: Boolean!, $first: Int, $after: String) {
  unreadNotificationCount
  notifications(unreadOnly: $unread, first: $first, after: $after) {
    nodes { id kind subject body read readAt incident { id signature } company { name } email { state } }
    pageInfo { hasNextPage endCursor }
  }
}"""
MARK = """
mutation($ids: [ID!]!) { notificationMarkRead(input: {ids: $ids}) {
  notifications { id read } unreadCount userErrors { field code message } } }"""
MARK_ALL = "mutation { notificationMarkAllRead { marked userErrors { code } } }"
PREFS = "query { notificationPreferences { emailKinds emailEnabled } }"
SET_PREFS = """
mutation($kinds: [NotificationKind!]!) { notificationPreferencesUpdate(input: {emailKinds: $kinds}) {
  preferences { emailKinds } userErrors { code } } }"""
FAILURES = """
query($c: ID) { notificationEmailFailures(companyId: $c) {
  nodes { id kind recipient { email } email { state attempts error } } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Notification { id subject } } }"


async def notify(services: Any, company_id: uuid.UUID, users: list[uuid.UUID], **fields: Any) -> list[int]:
    async with services.pool.acquire() as conn, conn.transaction():
        return await enqueue(
            conn,
            company_id=company_id,
            user_ids=users,
            kind=fields.pop("kind", NotificationKind.ASSIGNED),
            subject=fields.pop("subject", "Assigned: DiskFull on db-01"),
            body=fields.pop("body", "You were assigned DiskFull on db-01."),
            now=fields.pop("now", datetime.now(UTC)),
            **fields,
        )


def nodes(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in answer, answer
    return answer["data"]["notifications"]["nodes"]


async def test_a_user_reads_only_their_own_notifications_newest_first(services, factory, gql):
    company = await factory.company()
    me = await factory.user(Role.TECHNICIAN, [company])
    other = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id, signature="DiskFull")
    older = await notify(services, company.id, [me.id, other.id], subject="first", incident_id=incident)
    newer = await notify(services, company.id, [me.id], subject="second", kind=NotificationKind.SLA_WARNING)

    answer = await gql(LIST, {"unread": False}, token=me.token)

    found = nodes(answer)
    assert [n["id"] for n in found] == [gid("Notification", newer[0]), gid("Notification", older[0])]
    assert [n["kind"] for n in found] == ["SLA_WARNING", "ASSIGNED"]
    assert found[1]["incident"] == {"id": gid("Incident", incident), "signature": "DiskFull"}
    assert found[1]["company"] == {"name": company.name}
    assert found[1]["email"] == {"state": "PENDING"}
    assert answer["data"]["unreadNotificationCount"] == 2
    # The other user's copy is not mine: node(id:) answers null.
    mine = await gql(NODE, {"id": gid("Notification", older[0])}, token=me.token)
    theirs = await gql(NODE, {"id": gid("Notification", older[1])}, token=me.token)
    assert mine["data"]["node"] == {"id": gid("Notification", older[0]), "subject": "first"}
    assert theirs["data"]["node"] is None


async def test_pages_of_notifications_follow_their_cursor(services, factory, gql):
    company = await factory.company()
    me = await factory.user(Role.COMPANY_ADMIN, [company])
    ids = [(await notify(services, company.id, [me.id], subject=f"n{i}"))[0] for i in range(5)]

    first = (await gql(LIST, {"unread": False, "first": 3}, token=me.token))["data"]["notifications"]
    rest = (
        await gql(
            LIST, {"unread": False, "first": 3, "after": first["pageInfo"]["endCursor"]}, token=me.token
        )
    )["data"]["notifications"]

    assert first["pageInfo"]["hasNextPage"] is True
    assert [n["id"] for n in first["nodes"] + rest["nodes"]] == [
        gid("Notification", i) for i in reversed(ids)
    ]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_marking_read_is_for_ones_own_notifications_only(services, factory, gql):
    company = await factory.company()
    me = await factory.user(Role.TECHNICIAN, [company])
    other = await factory.user(Role.TECHNICIAN, [company])
    mine = await notify(services, company.id, [me.id])
    mine += await notify(services, company.id, [me.id], subject="again")
    theirs = await notify(services, company.id, [other.id])

    refused = await gql(
        MARK, {"ids": [gid("Notification", mine[0]), gid("Notification", theirs[0])]}, token=me.token
    )

    assert refused["data"]["notificationMarkRead"]["userErrors"] == [
        {"field": "ids", "code": "NOT_FOUND", "message": "notification not found"}
    ]
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE id = ANY($1) AND read_at IS NOT NULL", mine + theirs
        )
        == 0
    )

    marked = (await gql(MARK, {"ids": [gid("Notification", mine[0])]}, token=me.token))["data"][
        "notificationMarkRead"
    ]

    assert marked == {
        "notifications": [{"id": gid("Notification", mine[0]), "read": True}],
        "unreadCount": 1,
        "userErrors": [],
    }
    unread = nodes(await gql(LIST, {"unread": True}, token=me.token))
    assert [n["id"] for n in unread] == [gid("Notification", mine[1])]

    bad = await gql(MARK, {"ids": ["not-an-id"]}, token=me.token)
    assert bad["data"]["notificationMarkRead"]["userErrors"][0]["code"] == "NOT_FOUND"

    all_read = await gql(MARK_ALL, token=me.token)
    assert all_read["data"]["notificationMarkAllRead"] == {"marked": 1, "userErrors": []}
    assert (await gql(LIST, {"unread": True}, token=me.token))["data"]["unreadNotificationCount"] == 0
    # The other user's stays unread.
    assert await services.pool.fetchval("SELECT read_at FROM notifications WHERE id = $1", theirs[0]) is None


async def test_a_company_the_user_left_takes_its_notifications_with_it(services, factory, gql):
    kept, left = await factory.company(), await factory.company()
    me = await factory.user(Role.TECHNICIAN, [kept, left])
    await notify(services, kept.id, [me.id], subject="kept")
    await notify(services, left.id, [me.id], subject="left")
    await services.pool.execute(
        "DELETE FROM memberships WHERE user_id = $1 AND company_id = $2", me.id, left.id
    )
    token = factory.services.tokens.issue(me.id, "technician")

    answer = await gql(LIST, {"unread": False}, token=token)

    assert [n["subject"] for n in nodes(answer)] == ["kept"]
    assert answer["data"]["unreadNotificationCount"] == 1


async def test_preferences_choose_which_kinds_email(services, factory, gql):
    company = await factory.company()
    me = await factory.user(Role.TECHNICIAN, [company])

    default = await gql(PREFS, token=me.token)
    assert default["data"]["notificationPreferences"] == {
        "emailKinds": [k.value for k in NotificationKind],
        "emailEnabled": False,  # the test server has no sender
    }

    changed = await gql(SET_PREFS, {"kinds": ["SLA_BREACHED", "ASSIGNED", "ASSIGNED"]}, token=me.token)

    assert changed["data"]["notificationPreferencesUpdate"] == {
        "preferences": {"emailKinds": ["ASSIGNED", "SLA_BREACHED"]},
        "userErrors": [],
    }
    stored = await services.pool.fetchval("SELECT notification_email_kinds FROM users WHERE id = $1", me.id)
    assert stored == ["ASSIGNED", "SLA_BREACHED"]
    none = await gql(SET_PREFS, {"kinds": []}, token=me.token)
    assert none["data"]["notificationPreferencesUpdate"]["preferences"] == {"emailKinds": []}
    unknown = await gql(SET_PREFS, {"kinds": ["BIRTHDAY"]}, token=me.token)
    assert unknown["errors"][0]["message"] == (
        "Variable '$kinds' has invalid value at [0]: Value 'BIRTHDAY' does not exist in 'NotificationKind' enum."
    )
    assert (
        await services.pool.fetchval("SELECT notification_email_kinds FROM users WHERE id = $1", me.id) == []
    )


async def test_notifications_need_a_signed_in_person(gql):
    answer = await gql(LIST, {"unread": False})
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_failed_emails_are_shown_to_the_admins_of_their_company(services, factory, gql):
    a, b = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [a])
    admin_a = await factory.user(Role.COMPANY_ADMIN, [a])
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])
    msp = await factory.user(Role.MSP_ADMIN)
    [failed] = await notify(services, a.id, [tech.id])
    await notify(services, a.id, [tech.id], subject="fine")
    await services.pool.execute(
        "UPDATE notifications SET email_state = 'failed', email_attempts = 6,"
        " email_error = 'AWS_ERROR: Email address not verified' WHERE id = $1",
        failed,
    )
    expected = [
        {
            "id": gid("Notification", failed),
            "kind": "ASSIGNED",
            "recipient": {"email": tech.email},
            "email": {"state": "FAILED", "attempts": 6, "error": "AWS_ERROR: Email address not verified"},
        }
    ]

    assert (await gql(FAILURES, {"c": a.gid}, token=admin_a.token))["data"]["notificationEmailFailures"][
        "nodes"
    ] == expected
    assert (await gql(FAILURES, {"c": a.gid}, token=msp.token))["data"]["notificationEmailFailures"][
        "nodes"
    ] == expected
    assert (await gql(FAILURES, {"c": a.gid}, token=admin_b.token))["data"]["notificationEmailFailures"][
        "nodes"
    ] == []
    assert (await gql(FAILURES, {"c": "junk"}, token=admin_a.token))["data"]["notificationEmailFailures"][
        "nodes"
    ] == []
    refused = await gql(FAILURES, {"c": a.gid}, token=tech.token)
    assert refused["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_an_escalation_tells_the_company_admins_and_the_assignee_once(services, factory):
    company = await factory.company()
    admins = [await factory.user(Role.COMPANY_ADMIN, [company]) for _ in range(2)]
    assignee = await factory.user(Role.TECHNICIAN, [company])
    elsewhere = await factory.user(Role.COMPANY_ADMIN, [await factory.company()])
    incident = await rows.incident(
        services,
        company.id,
        signature="DiskFull",
        asset_name="db-01",
        severity="critical",
        assigned_to=assignee.id,
    )
    runner = ReactionRunner(services.pool, EscalationNotices())
    await runner.register()
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(
            conn,
            incident,
            IncidentAction.ESCALATE,
            DECISION_ACTOR,
            datetime.now(UTC),
            data={"reason": "no runbook matches"},
        )
        await apply_action(conn, incident, IncidentAction.ACKNOWLEDGE, DECISION_ACTOR, datetime.now(UTC))

    while await runner.run_once():
        pass

    found = await services.pool.fetch(
        "SELECT user_id, kind, subject, body, email_state FROM notifications WHERE incident_id = $1", incident
    )
    assert sorted(r["user_id"] for r in found) == sorted([a.id for a in admins] + [assignee.id])
    assert elsewhere.id not in {r["user_id"] for r in found}
    assert {r["kind"] for r in found} == {"ESCALATED"}
    assert {r["subject"] for r in found} == {"Escalated: DiskFull on db-01"}
    assert {r["body"] for r in found} == {
        "DiskFull on db-01 (critical) was escalated automatically: no runbook matches"
    }
    assert {r["email_state"] for r in found} == {"pending"}

    # The same change handled again (a retried attempt) adds nothing.
    change = await services.pool.fetchval(
        "SELECT id FROM incident_changes WHERE incident_id = $1 AND after_status = 'ESCALATED'", incident
    )
    await services.pool.execute(
        "INSERT INTO reaction_inbox (reaction, change_id, company_id) VALUES ($1, $2, $3)",
        runner.reaction.name,
        change,
        company.id,
    )
    while await runner.run_once():
        pass
    assert (
        await services.pool.fetchval("SELECT count(*) FROM notifications WHERE incident_id = $1", incident)
        == 3
    )


# ---- live: notificationReceived -----------------------------------------------------------------

RECEIVED = "subscription { notificationReceived { id kind subject incident { id status } } }"
ESCALATE = 'mutation($id: ID!) { incidentEscalate(input: {id: $id, note: "disk keeps filling"}) { userErrors { code } } }'


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with its workers (the escalation notices run there)."""
    with live_servers(database_url, tmp_path_factory.mktemp("notifications"), count=1, workers=True) as urls:
        yield urls[0]


async def test_an_escalation_reaches_the_admins_live_and_nobody_else(server, services, factory):
    import httpx

    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    other_company = await factory.company()
    other = await factory.user(Role.COMPANY_ADMIN, [other_company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id, signature="DiskFull", asset_name="db-01")

    async with connect(server, admin.token) as mine, connect(server, other.token) as theirs:
        await mine.subscribe("1", RECEIVED)
        await theirs.subscribe("1", RECEIVED)
        # Live once a notification written for each arrives (the protocol does not acknowledge).
        probe_mine = await _until_live(services, mine, company.id, admin.id)
        probe_theirs = await _until_live(services, theirs, other_company.id, other.id)
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.post(
                server + "/graphql",
                json={"query": ESCALATE, "variables": {"id": gid("Incident", incident)}},
                headers={"authorization": f"Bearer {tech.token}"},
            )
        assert resp.json()["data"]["incidentEscalate"]["userErrors"] == []

        # The escalation, and (the company has no technician who can take it) that nobody could be
        # assigned: both go to the admins, in the order their reactions commit.
        kinds: dict[str, dict[str, Any]] = {}
        while "ESCALATED" not in kinds:
            payload = await mine.next_data(
                skip=lambda p: p["data"]["notificationReceived"]["id"] in probe_mine
            )
            kinds[payload["data"]["notificationReceived"]["kind"]] = payload["data"]["notificationReceived"]

        assert set(kinds) <= {"ESCALATED", "UNASSIGNED"}
        assert kinds["ESCALATED"]["incident"] == {"id": gid("Incident", incident), "status": "ESCALATED"}
        # The other company's admin hears nothing but their own (late) probes.
        heard = await _heard_within(theirs, 1.0)
        assert heard <= probe_theirs


async def _heard_within(socket: Any, seconds: float) -> set[str]:
    """The ids of the notifications a socket receives within `seconds`."""
    heard: set[str] = set()
    try:
        while True:
            heard.add((await socket.next_data(wait=seconds))["data"]["notificationReceived"]["id"])
    except TimeoutError:
        return heard


async def _until_live(services: Any, socket: Any, company_id: uuid.UUID, user_id: uuid.UUID) -> set[str]:
    """Write probe notifications for the user until the subscription delivers one; their ids."""
    sent: set[str] = set()
    for n in range(50):
        [nid] = await notify(services, company_id, [user_id], subject=f"probe {n}", email=False)
        sent.add(gid("Notification", nid))
        try:
            payload = await socket.next_data(wait=0.2)
        except TimeoutError:
            continue
        assert payload["data"]["notificationReceived"]["id"] in sent
        return sent
    raise AssertionError("subscription never became live")
