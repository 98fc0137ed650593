"""The incident API end to end: queries, filters, keyset pages, the timeline, and working incidents."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from db.events import BusEvent, topic
from db.tables import Incident
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

INCIDENT_FIELDS = """
  id assetName signature status severity category alertCount duplicateCount toolSources
  firstAlertAt lastAlertAt priorityScore flapping criticalAsset acknowledgedAt resolvedAt createdAt
"""


def ids(body, field="incidents"):
    return [n["id"] for n in body["data"][field]["nodes"]]


async def list_incidents(gql, token, company, **args):
    body = await gql(
        "query($c: ID, $f: IncidentFilter, $o: IncidentOrder, $first: Int, $after: String) {"
        " incidents(companyId: $c, filter: $f, orderBy: $o, first: $first, after: $after) {"
        "  nodes { id } pageInfo { hasNextPage endCursor } } }",
        {"c": company.gid if company else None, **args},
        token=token,
    )
    assert "errors" not in body, body
    return body


# ---- queries ----------------------------------------------------------------------------------


async def test_incidents_filters_match_exactly(gql, factory, services):
    # given three incidents of one company that differ in every filtered field
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    db_asset = await factory.asset(company, "db-01")
    now = datetime.now(UTC)
    disk = await rows.incident(
        services,
        company.id,
        asset_id=db_asset,
        asset_name="db-01",
        signature="DiskFull",
        severity="critical",
        tool_sources=["datadog", "grafana"],
        created_at=now - timedelta(hours=3),
    )
    cpu = await rows.incident(
        services,
        company.id,
        asset_name="web-01",
        signature="HighCPU 100%_load",
        status="ACKNOWLEDGED",
        severity="high",
        flapping=True,
        created_at=now - timedelta(hours=2),
    )
    ping = await rows.incident(
        services,
        company.id,
        asset_name="web-02",
        signature="Ping loss",
        status="RESOLVED",
        severity="low",
        tool_sources=["zabbix"],
        created_at=now - timedelta(hours=1),
        resolved_at=now,
    )
    i_disk, i_cpu, i_ping = (gid("Incident", i) for i in (disk, cpu, ping))

    async def matching(f):
        return ids(await list_incidents(gql, admin.token, company, f=f))

    # when / then: each filter selects exactly its incidents (newest first)
    assert await matching(None) == [i_ping, i_cpu, i_disk]
    assert await matching({"status": ["NEW", "RESOLVED"]}) == [i_ping, i_disk]
    assert await matching({"severity": ["CRITICAL", "HIGH"]}) == [i_cpu, i_disk]
    assert await matching({"asset": "WEB-0"}) == [i_ping, i_cpu]
    assert await matching({"asset": gid("Asset", db_asset)}) == [i_disk]
    assert await matching({"tool": "GRAFANA"}) == [i_disk]
    assert await matching({"since": (now - timedelta(hours=2, minutes=30)).isoformat()}) == [i_ping, i_cpu]
    assert await matching({"until": (now - timedelta(hours=1, minutes=30)).isoformat()}) == [i_cpu, i_disk]
    assert await matching({"text": "diskf"}) == [i_disk]
    assert await matching({"text": "web-02"}) == [i_ping]
    # LIKE wildcards are literal characters
    assert await matching({"text": "%"}) == [i_cpu]
    assert await matching({"text": "0%_l"}) == [i_cpu]
    assert await matching({"text": "_"}) == [i_cpu]
    assert await matching({"flapping": True}) == [i_cpu]
    assert await matching({"flapping": False, "status": ["NEW"]}) == [i_disk]


async def test_incidents_pages_by_priority_then_id_without_gaps_or_repeats(gql, factory, services):
    # given five incidents, two sharing a priority (created 12 h ago: fully decayed, base - 10)
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    old = datetime.now(UTC) - timedelta(hours=12)
    kinds = {22.0: ("medium", 1), 82.0: ("critical", 1), 60.0: ("high", 5), 2.0: ("low", 1)}
    scores = [22.0, 82.0, 60.0, 60.0, 2.0]
    made = [
        await rows.incident(
            services, company.id, severity=kinds[s][0], alert_count=kinds[s][1], created_at=old
        )
        for s in scores
    ]
    by_priority = sorted(zip(scores, made, strict=True), key=lambda p: (p[0], p[1]), reverse=True)
    expected = [gid("Incident", i) for _, i in by_priority]

    # when the technician pages through them two at a time
    seen, after, pages = [], None, 0
    while True:
        body = await list_incidents(gql, tech.token, company, o={"field": "PRIORITY"}, first=2, after=after)
        seen += ids(body)
        pages += 1
        info = body["data"]["incidents"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]

    # then every incident came once, by priority descending, ties by id
    assert pages == 3
    assert seen == expected
    ascending = await list_incidents(
        gql, tech.token, company, o={"field": "PRIORITY", "direction": "ASC"}, first=10
    )
    assert ids(ascending) == list(reversed(expected))


async def test_incidents_sort_by_last_alert_and_reject_a_cursor_of_another_order(gql, factory, services):
    # given two incidents whose last alerts are in the opposite order of their creation
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    now = datetime.now(UTC)
    first = await rows.incident(services, company.id, created_at=now - timedelta(hours=2), last_alert_at=now)
    second = await rows.incident(
        services, company.id, created_at=now - timedelta(hours=1), last_alert_at=now - timedelta(minutes=30)
    )

    # when listing by last alert, then by creation with the last-alert cursor
    by_last = await list_incidents(gql, admin.token, company, o={"field": "LAST_ALERT_AT"}, first=1)
    cursor = by_last["data"]["incidents"]["pageInfo"]["endCursor"]
    priority_with_time_cursor = await gql(
        "query($c: ID, $a: String) { incidents(companyId: $c, orderBy: {field: PRIORITY}, after: $a) { nodes { id } } }",
        {"c": company.gid, "a": cursor},
        token=admin.token,
    )

    # then the order follows the last alert, and the foreign cursor is refused cleanly
    assert ids(by_last) == [gid("Incident", first)]
    assert ids(await list_incidents(gql, admin.token, company)) == [
        gid("Incident", second),
        gid("Incident", first),
    ]
    assert priority_with_time_cursor["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in priority_with_time_cursor["errors"]] == [
        ("is not a valid cursor", "INVALID_CURSOR")
    ]


async def test_incident_detail_has_live_priority_alerts_and_timeline(gql, factory, services):
    # given a critical-asset incident with three alerts and a timeline
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    asset = await factory.asset(company, "db-01", is_critical=True)
    created = datetime.now(UTC) - timedelta(hours=3)
    incident = await rows.incident(
        services,
        company.id,
        asset_id=asset,
        asset_name="db-01",
        severity="critical",
        critical_asset=True,
        alert_count=3,
        duplicate_count=1,
        tool_sources=["datadog", "grafana"],
        created_at=created,
    )
    times = [created + timedelta(minutes=m) for m in (0, 1, 2)]
    alert_ids = [
        await rows.alert(
            services, company.id, incident_id=incident, event_time=t, asset_id=asset, duplicate=(i == 2)
        )
        for i, t in enumerate(times)
    ]
    await rows.event(
        services,
        company.id,
        incident,
        "CREATED",
        times[0],
        alert_id=alert_ids[0],
        data={"severity": "critical"},
    )
    await rows.event(services, company.id, incident, "ALERT_ADDED", times[1], alert_id=alert_ids[1])

    # when the technician reads it
    body = await gql(
        "query($id: ID!) { incident(id: $id) { "
        + INCIDENT_FIELDS
        + " company { name } asset { name isCritical }"
        " alerts(first: 2) { nodes { id duplicate incident { id } } pageInfo { hasNextPage endCursor } }"
        " timeline { nodes { kind at alertId data actor { email } } } } }",
        {"id": gid("Incident", incident)},
        token=tech.token,
    )
    page2 = await gql(
        "query($id: ID!, $a: String) { incident(id: $id) { alerts(first: 2, after: $a) { nodes { id duplicate } "
        "pageInfo { hasNextPage } } } }",
        {"id": gid("Incident", incident), "a": body["data"]["incident"]["alerts"]["pageInfo"]["endCursor"]},
        token=tech.token,
    )

    # then every field is there; the score is computed now: 90 + 20 + 6 + 10, capped at 100, - 3 hours
    got = body["data"]["incident"]
    assert "errors" not in body
    assert got["priorityScore"] == pytest.approx(97.0, abs=0.02)
    assert (got["status"], got["severity"], got["category"], got["alertCount"], got["duplicateCount"]) == (
        "NEW",
        "CRITICAL",
        "SERVER",
        3,
        1,
    )
    assert got["toolSources"] == ["DATADOG", "GRAFANA"]
    assert (got["criticalAsset"], got["flapping"], got["acknowledgedAt"], got["resolvedAt"]) == (
        True,
        False,
        None,
        None,
    )
    assert got["company"] == {"name": company.name}
    assert got["asset"] == {"name": "db-01", "isCritical": True}
    assert got["alerts"]["nodes"] == [
        {"id": gid("Alert", alert_ids[0]), "duplicate": False, "incident": {"id": gid("Incident", incident)}},
        {"id": gid("Alert", alert_ids[1]), "duplicate": False, "incident": {"id": gid("Incident", incident)}},
    ]
    assert got["alerts"]["pageInfo"]["hasNextPage"] is True
    assert page2["data"]["incident"]["alerts"] == {
        "nodes": [{"id": gid("Alert", alert_ids[2]), "duplicate": True}],
        "pageInfo": {"hasNextPage": False},
    }
    assert [(e["kind"], e["alertId"], e["data"], e["actor"]) for e in got["timeline"]["nodes"]] == [
        ("CREATED", gid("Alert", alert_ids[0]), {"severity": "critical"}, None),
        ("ALERT_ADDED", gid("Alert", alert_ids[1]), {}, None),
    ]


async def test_node_resolves_alert_incident_and_timeline_event(gql, factory, services):
    # given an incident with an alert and a timeline event
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    incident = await rows.incident(services, company.id)
    alert = await rows.alert(services, company.id, incident_id=incident)
    ev = await rows.event(services, company.id, incident, "CREATED", datetime.now(UTC))

    # when each is fetched through node(id:)
    body = await gql(
        "query($a: ID!, $i: ID!, $e: ID!) { a: node(id: $a) { __typename id } i: node(id: $i) { __typename id }"
        " e: node(id: $e) { __typename ... on IncidentEvent { kind } } }",
        {"a": gid("Alert", alert), "i": gid("Incident", incident), "e": gid("IncidentEvent", ev)},
        token=admin.token,
    )

    # then each resolves to its type
    assert body["data"] == {
        "a": {"__typename": "Alert", "id": gid("Alert", alert)},
        "i": {"__typename": "Incident", "id": gid("Incident", incident)},
        "e": {"__typename": "IncidentEvent", "kind": "CREATED"},
    }


_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


async def _statements_for_list(gql, services, token, company, first):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if _counting.get():
            statements.append(statement)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    token_var = _counting.set(True)
    try:
        body = await gql(
            "query($c: ID, $n: Int) { incidents(companyId: $c, first: $n) { nodes { id asset { name }"
            " company { name } } } }",
            {"c": company.gid, "n": first},
            token=token,
        )
    finally:
        _counting.reset(token_var)
        event.remove(engine, "before_cursor_execute", count)
    assert "errors" not in body
    return body, statements


async def test_incident_list_loads_related_rows_in_batches(gql, factory, services):
    # given 20 incidents, each on its own asset
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    for i in range(20):
        asset = await factory.asset(company, f"node-{i:02}")
        await rows.incident(services, company.id, asset_id=asset, asset_name=f"node-{i:02}")

    # when 5 and then 20 of them are listed with their asset and company
    small, small_sql = await _statements_for_list(gql, services, admin.token, company, 5)
    body, sql = await _statements_for_list(gql, services, admin.token, company, 20)

    # then the statement count does not grow with the page: principal, page, assets, companies
    assert len(body["data"]["incidents"]["nodes"]) == 20
    assert {n["company"]["name"] for n in body["data"]["incidents"]["nodes"]} == {company.name}
    assert sorted(n["asset"]["name"] for n in body["data"]["incidents"]["nodes"]) == [
        f"node-{i:02}" for i in range(20)
    ]
    assert len(sql) == len(small_sql)
    assert [s.split("\nFROM ", 1)[1].split()[0] for s in sql] == ["users", "incidents", "assets", "companies"]


# ---- working incidents ------------------------------------------------------------------------

ACTION = """
mutation($id: ID!, $note: String) {{
  {name}(input: {{id: $id, note: $note}}) {{
    incident {{ id status acknowledgedAt resolvedAt flapping }}
    userErrors {{ field message code }}
  }}
}}
"""


async def work(gql, name, token, incident, note=None):
    body = await gql(ACTION.format(name=name), {"id": gid("Incident", incident), "note": note}, token=token)
    assert "errors" not in body, body
    return body["data"][name]


async def next_event(sub):
    return await asyncio.wait_for(sub.queue.get(), 5)


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.COMPANY_ADMIN, Role.MSP_ADMIN])
async def test_every_role_acknowledges_with_timeline_audit_and_event(gql, factory, services, role):
    # given a NEW incident and a user of the role
    company = await factory.company()
    user = await factory.user(role, [] if role is Role.MSP_ADMIN else [company])
    incident = await rows.incident(services, company.id)

    # when the user acknowledges it with a note
    async with services.bus.subscribe({topic(company.id, "incidents")}) as sub:
        result = await work(gql, "incidentAcknowledge", user.token, incident, note="  on it ")
        published = await next_event(sub)

    # then the status, timeline, audit log and subscribers all show it
    assert result["userErrors"] == []
    assert result["incident"]["status"] == "ACKNOWLEDGED"
    stored = await rows.get(services, Incident, incident)
    assert (stored.status, stored.acknowledged_by) == ("ACKNOWLEDGED", user.id)
    assert result["incident"]["acknowledgedAt"] == stored.acknowledged_at.isoformat()
    [entry] = await rows.timeline(services, incident)
    assert (entry.kind, entry.actor_id, entry.data) == (
        "ACKNOWLEDGED",
        user.id,
        {"from": "NEW", "to": "ACKNOWLEDGED", "note": "on it"},
    )
    assert await rows.audit_actions(services, incident) == [("incident.acknowledge", user.email)]
    assert published == BusEvent(topic(company.id, "incidents"), kind="UPDATED", id=str(incident))


async def test_timeline_shows_the_acting_technician(gql, factory, services):
    # given an incident a technician acknowledged
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)
    await work(gql, "incidentAcknowledge", tech.token, incident)

    # when a colleague reads the timeline
    colleague = await factory.user(Role.COMPANY_ADMIN, [company])
    body = await gql(
        "query($id: ID!) { incident(id: $id) { timeline { nodes { kind actor { email } data } } } }",
        {"id": gid("Incident", incident)},
        token=colleague.token,
    )

    # then the actor is the technician
    assert body["data"]["incident"]["timeline"]["nodes"] == [
        {
            "kind": "ACKNOWLEDGED",
            "actor": {"email": tech.email},
            "data": {"from": "NEW", "to": "ACKNOWLEDGED"},
        }
    ]


async def test_acknowledging_a_resolved_incident_is_an_invalid_transition(gql, factory, services):
    # given a resolved incident and an open one in the same company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    resolved_at = datetime.now(UTC) - timedelta(minutes=5)
    resolved = await rows.incident(services, company.id, status="RESOLVED", resolved_at=resolved_at)
    other = await rows.incident(services, company.id)

    # when the technician acknowledges the resolved one (then the open one, as a marker)
    async with services.bus.subscribe({topic(company.id, "incidents")}) as sub:
        refused = await work(gql, "incidentAcknowledge", tech.token, resolved)
        await work(gql, "incidentAcknowledge", tech.token, other)
        first_event = await next_event(sub)

    # then it is refused and nothing changed: status, timeline, audit log, events
    assert refused == {
        "incident": None,
        "userErrors": [
            {
                "field": "status",
                "message": "cannot acknowledge an incident that is RESOLVED",
                "code": "INVALID_TRANSITION",
            }
        ],
    }
    stored = await rows.get(services, Incident, resolved)
    assert (stored.status, stored.acknowledged_at, stored.resolved_at) == ("RESOLVED", None, resolved_at)
    assert await rows.timeline(services, resolved) == []
    assert await rows.audit_actions(services, resolved) == []
    assert first_event.id == str(other)


async def test_resolve_closes_open_alerts_and_stops_flapping(gql, factory, services):
    # given a flapping incident with two open alerts, one already closed, and a resolve message
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    earlier = datetime.now(UTC) - timedelta(minutes=10)
    incident = await rows.incident(
        services, company.id, flapping=True, status="IN_PROGRESS", active_fingerprints=["f1"]
    )
    open_1 = await rows.alert(services, company.id, incident_id=incident)
    open_2 = await rows.alert(services, company.id, incident_id=incident)
    closed = await rows.alert(services, company.id, incident_id=incident, resolved_at=earlier)
    recovery = await rows.alert(services, company.id, incident_id=incident, status="resolved")
    unrelated = await rows.alert(services, company.id)

    # when the technician resolves it
    async with services.bus.subscribe({topic(company.id, "incidents")}) as sub:
        result = await work(gql, "incidentResolve", tech.token, incident, note="rebooted")
        published = await next_event(sub)

    # then the incident and exactly its open firing alerts are resolved at one instant
    stored = await rows.get(services, Incident, incident)
    assert result["userErrors"] == []
    assert result["incident"]["status"] == "RESOLVED"
    assert (stored.status, stored.flapping, stored.active_fingerprints) == ("RESOLVED", False, [])
    resolved = {a.id: a.resolved_at for a in await rows.alerts_of(services, company.id)}
    assert resolved == {
        open_1: stored.resolved_at,
        open_2: stored.resolved_at,
        closed: earlier,
        recovery: None,
        unrelated: None,
    }
    assert [(e.kind, e.actor_id, e.data) for e in await rows.timeline(services, incident)] == [
        ("MANUALLY_RESOLVED", tech.id, {"from": "IN_PROGRESS", "to": "RESOLVED", "note": "rebooted"}),
        ("FLAPPING_STOPPED", tech.id, {}),
    ]
    assert published == BusEvent(topic(company.id, "incidents"), kind="RESOLVED", id=str(incident))


async def test_reopen_a_resolved_incident_and_not_an_open_one(gql, factory, services):
    # given a resolved incident
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id, status="RESOLVED", resolved_at=datetime.now(UTC))

    # when the technician reopens it, then tries again
    reopened = await work(gql, "incidentReopen", tech.token, incident)
    again = await work(gql, "incidentReopen", tech.token, incident)

    # then it is NEW again, and reopening an open incident is refused
    assert reopened["userErrors"] == []
    assert (reopened["incident"]["status"], reopened["incident"]["resolvedAt"]) == ("NEW", None)
    assert again["userErrors"] == [
        {"field": "status", "message": "cannot reopen an incident that is NEW", "code": "INVALID_TRANSITION"}
    ]
    assert [e.kind for e in await rows.timeline(services, incident)] == ["REOPENED"]
    assert await rows.audit_actions(services, incident) == [("incident.reopen", tech.email)]


async def test_working_an_unknown_incident_or_an_overlong_note_is_refused(gql, factory, services):
    # given an open incident
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)

    # when acknowledging an id that does not exist, one of the wrong type, and with a 2001-character note
    missing = await gql(
        ACTION.format(name="incidentAcknowledge"),
        {"id": gid("Incident", "0" * 8 + "-0000-7000-8000-" + "0" * 12)},
        token=tech.token,
    )
    wrong_type = await gql(
        ACTION.format(name="incidentAcknowledge"), {"id": gid("Alert", incident)}, token=tech.token
    )
    long_note = await work(gql, "incidentAcknowledge", tech.token, incident, note="x" * 2001)

    # then each is a user error and the incident is untouched
    assert missing["data"]["incidentAcknowledge"]["userErrors"] == [
        {"field": "id", "message": "incident not found", "code": "NOT_FOUND"}
    ]
    assert wrong_type["data"]["incidentAcknowledge"]["userErrors"] == [
        {"field": "id", "message": "incident not found", "code": "NOT_FOUND"}
    ]
    assert long_note["userErrors"] == [
        {"field": "note", "message": "must be at most 2000 characters", "code": "INVALID_INPUT"}
    ]
    assert (await rows.get(services, Incident, incident)).status == "NEW"
    assert await rows.timeline(services, incident) == []


async def test_unauthenticated_calls_are_refused(gql, factory, services):
    # given an incident
    company = await factory.company()
    incident = await rows.incident(services, company.id)

    # when it is read and acknowledged without a token
    read = await gql("{ incidents { nodes { id } } }")
    acked = await gql(ACTION.format(name="incidentAcknowledge"), {"id": gid("Incident", incident)})

    # then both are refused and nothing changed
    assert read["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert acked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await rows.get(services, Incident, incident)).status == "NEW"


async def test_a_technician_takes_an_incident_through_work_escalation_and_waiting_on_the_client(
    gql, factory, services
):
    # given a NEW incident and a technician of its company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)

    # when they start work, escalate it, put it on hold for the client, then resume work
    steps = [
        ("incidentStartWork", "IN_PROGRESS"),
        ("incidentEscalate", "ESCALATED"),
        ("incidentWaitOnClient", "WAITING_ON_CLIENT"),
        ("incidentStartWork", "IN_PROGRESS"),
    ]
    results = [
        await work(gql, name, tech.token, incident, note=f"step {i}") for i, (name, _) in enumerate(steps)
    ]

    # then each step lands in its status, with its timeline entry, outbox row and audit entry
    assert [(r["userErrors"], r["incident"]["status"]) for r in results] == [([], s) for _, s in steps]
    timeline = await rows.timeline(services, incident)
    assert [(e.kind, e.data["to"], e.actor_id) for e in timeline] == [
        ("WORK_STARTED", "IN_PROGRESS", tech.id),
        ("ESCALATED", "ESCALATED", tech.id),
        ("WAITING_ON_CLIENT", "WAITING_ON_CLIENT", tech.id),
        ("WORK_STARTED", "IN_PROGRESS", tech.id),
    ]
    outbox = await services.pool.fetch(
        "SELECT before_status, after_status FROM incident_changes WHERE incident_id = $1 ORDER BY id",
        incident,
    )
    assert [tuple(r) for r in outbox] == [
        ("NEW", "IN_PROGRESS"),
        ("IN_PROGRESS", "ESCALATED"),
        ("ESCALATED", "WAITING_ON_CLIENT"),
        ("WAITING_ON_CLIENT", "IN_PROGRESS"),
    ]
    assert [a for a, _ in await rows.audit_actions(services, incident)] == [
        "incident.start_work",
        "incident.escalate",
        "incident.wait_on_client",
        "incident.start_work",
    ]


async def test_a_new_incident_cannot_wait_on_the_client_before_someone_takes_it(gql, factory, services):
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)

    result = await work(gql, "incidentWaitOnClient", tech.token, incident)

    assert result == {
        "incident": None,
        "userErrors": [
            {
                "field": "status",
                "message": "cannot wait_on_client an incident that is NEW",
                "code": "INVALID_TRANSITION",
            }
        ],
    }
    assert (await rows.get(services, Incident, incident)).status == "NEW"
    assert await rows.timeline(services, incident) == []
