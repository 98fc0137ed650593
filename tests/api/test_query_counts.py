"""List queries load related rows in batches: the statement count does not grow with the page size."""

from __future__ import annotations

import contextvars
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert

from db.tables import Alert, Incident, IncidentEvent
from domain.ids import uuid7
from domain.rbac import Role
from tests.helpers import gid

_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


async def statements_for(gql, services, query: str, variables: dict, token: str) -> tuple[dict, list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if _counting.get():
            statements.append(statement)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    token_var = _counting.set(True)
    try:
        body = await gql(query, variables, token=token)
    finally:
        _counting.reset(token_var)
        event.remove(engine, "before_cursor_execute", count)
    assert "errors" not in body, body
    return body, statements


USERS = "query($n: Int) { users(first: $n) { nodes { email companies { name } } } }"
ASSETS = (
    "query($id: ID!, $n: Int) { company(id: $id) { assets(first: $n) { nodes { name company { name }"
    " dependsOn { name } } } } }"
)


async def test_user_list_with_companies_takes_the_same_statements_for_5_and_20_users(gql, factory, services):
    # given a company admin and 20 technicians of their company
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    for _ in range(20):
        await factory.user(Role.TECHNICIAN, [company])

    # when 5 and then 20 users are listed with their companies
    _, small = await statements_for(gql, services, USERS, {"n": 5}, admin.token)
    body, large = await statements_for(gql, services, USERS, {"n": 20}, admin.token)

    # then the count is the same
    assert len(body["data"]["users"]["nodes"]) == 20
    assert len(large) == len(small)


async def test_asset_list_with_company_and_dependencies_takes_the_same_statements(gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    db_id = await factory.asset(company, "db")
    for i in range(20):
        asset = await factory.asset(company, f"app-{i:02}")
        async with factory.uow() as uow:
            await uow.assets.update(asset, {}, [db_id])

    _, small = await statements_for(gql, services, ASSETS, {"id": company.gid, "n": 5}, admin.token)
    body, large = await statements_for(gql, services, ASSETS, {"id": company.gid, "n": 20}, admin.token)

    nodes = body["data"]["company"]["assets"]["nodes"]
    assert len(nodes) == 20
    assert all(n["company"]["name"] == company.name for n in nodes)
    assert all(n["dependsOn"] == [{"name": "db"}] for n in nodes)  # "app-*" sort before "db"
    assert len(large) == len(small)


def incident_row(company_id, incident_id, at) -> dict:
    return {
        "id": incident_id,
        "company_id": company_id,
        "correlation_key": f"k-{incident_id}",
        "asset_name": "web-01",
        "signature": "HighCPU",
        "status": "NEW",
        "severity": "high",
        "category": "Server",
        "alert_count": 3,
        "tool_sources": ["generic"],
        "active_fingerprints": [],
        "flap_times": [],
        "first_alert_at": at,
        "last_alert_at": at,
        "created_at": at,
        "updated_at": at,
    }


def alert_row(company_id, alert_id, incident_id, at, message) -> dict:
    return {
        "id": alert_id,
        "company_id": company_id,
        "incident_id": incident_id,
        "asset_name": "web-01",
        "signature": "HighCPU",
        "severity": "high",
        "severity_raw": "high",
        "message": message,
        "tool": "generic",
        "category": "Server",
        "fingerprint": f"generic:{alert_id}",
        "status": "firing",
        "event_time": at,
        "received_at": at,
        "tags": {},
        "raw": {},
        "correlated_at": at,
    }


INCIDENTS = (
    "query($c: ID, $n: Int) { incidents(companyId: $c, first: $n) { edges { node { id"
    " alerts(first: 2) { nodes { id message } pageInfo { hasNextPage endCursor } }"
    " timeline(first: 2) { nodes { kind } pageInfo { hasNextPage } } } } } }"
)


async def _incidents_with_alerts_and_timeline(services, company_id, count: int) -> dict[str, list[str]]:
    """`count` incidents of three alerts and three timeline entries each, in one transaction;
    the messages of each incident's alerts by its global ID, oldest event first."""
    now = datetime.now(UTC)
    incidents, alerts, events, messages = [], [], [], {}
    for n in range(count):
        incident_id = uuid7()
        incidents.append(incident_row(company_id, incident_id, now - timedelta(minutes=n)))
        for k in range(3):
            alert_id = uuid7()
            at = now - timedelta(minutes=n, seconds=30 - k)
            alerts.append(alert_row(company_id, alert_id, incident_id, at, f"i{n}-a{k}"))
            events.append(
                {
                    "company_id": company_id,
                    "incident_id": incident_id,
                    "kind": "ALERT_ADDED",
                    "at": at,
                    "alert_id": alert_id,
                }
            )
        messages[gid("Incident", incident_id)] = [f"i{n}-a{k}" for k in range(3)]
    async with services.sessionmaker() as session, session.begin():
        await session.execute(insert(Incident), incidents)
        await session.execute(insert(Alert), alerts)
        await session.execute(insert(IncidentEvent), events)
    return messages


async def test_incident_page_with_alerts_and_timeline_takes_the_same_statements_for_5_and_50(
    gql, factory, services
):
    # given 50 incidents of a company, each with three alerts and three timeline entries
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    messages = await _incidents_with_alerts_and_timeline(services, company.id, 50)

    # when a page of 5 and then a page of 50 incidents is read with two alerts and two entries each
    _, small = await statements_for(gql, services, INCIDENTS, {"c": company.gid, "n": 5}, tech.token)
    body, large = await statements_for(gql, services, INCIDENTS, {"c": company.gid, "n": 50}, tech.token)

    # then both take the same statements: one for the incidents, one for all their alerts, one for
    # all their timelines (whatever the session needs besides)
    assert len(large) == len(small)
    assert sum(bool(re.search(r"\bFROM alerts\b", s)) for s in large) == 1
    assert sum(bool(re.search(r"\bFROM incident_events\b", s)) for s in large) == 1
    # and each incident has its own two oldest alerts and entries, with the rest behind a next page
    nodes = [e["node"] for e in body["data"]["incidents"]["edges"]]
    assert len(nodes) == 50
    for node in nodes:
        assert [a["message"] for a in node["alerts"]["nodes"]] == messages[node["id"]][:2]
        assert node["alerts"]["pageInfo"]["hasNextPage"] is True
        assert [e["kind"] for e in node["timeline"]["nodes"]] == ["ALERT_ADDED", "ALERT_ADDED"]
        assert node["timeline"]["pageInfo"]["hasNextPage"] is True


async def test_incident_alerts_next_page_continues_from_its_cursor_in_a_batched_list(gql, factory, services):
    # given two incidents of three alerts each, and the cursor after the first alert of the first
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    messages = await _incidents_with_alerts_and_timeline(services, company.id, 2)
    first_page = await gql(INCIDENTS, {"c": company.gid, "n": 2}, token=tech.token)
    edges = first_page["data"]["incidents"]["edges"]
    newest = edges[0]["node"]

    # when that incident's alerts are read on from the end of their first page
    body = await gql(
        "query($id: ID!, $a: String) { incident(id: $id) { alerts(first: 5, after: $a) {"
        " nodes { message } pageInfo { hasNextPage } } } }",
        {"id": newest["id"], "a": newest["alerts"]["pageInfo"]["endCursor"]},
        token=tech.token,
    )

    # then the rest of its alerts come, and nothing after them
    alerts = body["data"]["incident"]["alerts"]
    assert [a["message"] for a in alerts["nodes"]] == messages[newest["id"]][2:]
    assert alerts["pageInfo"]["hasNextPage"] is False


RUNBOOKS = (
    'query($c: ID, $n: Int) { runbooks(companyId: $c, first: $n, filter: {text: "qc-"}) { nodes { name '
    "company { name } versions(first: 5) { version } } } }"
)


async def test_runbook_list_with_companies_and_versions_takes_the_same_statements_for_2_and_10(
    gql, factory, services
):
    # given a company with 10 runbooks of two versions each
    from domain.runbook_library import LIBRARY

    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    async with factory.uow() as uow:
        for i in range(10):
            runbook, _ = await uow.runbooks.create(company.id, replace(LIBRARY[0], name=f"qc-{i:02}"))
            await uow.runbooks.update(runbook.id, {"timeout_seconds": 300})

    # when 2 and then 10 are listed with their company and versions
    _, small = await statements_for(gql, services, RUNBOOKS, {"c": company.gid, "n": 2}, admin.token)
    body, large = await statements_for(gql, services, RUNBOOKS, {"c": company.gid, "n": 10}, admin.token)

    # then the count is the same
    nodes = body["data"]["runbooks"]["nodes"]
    assert len(nodes) == 10
    assert all([v["version"] for v in n["versions"]] == [2, 1] for n in nodes)
    assert len(large) == len(small)
