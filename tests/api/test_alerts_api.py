"""`alerts` and `alert` end to end: every field, each filter, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

ALERT_FIELDS = """
  id assetName signature severity severityRaw message tool category fingerprint dedupKey status
  eventTime receivedAt tags raw duplicate suppressed resolvedAt
"""


async def list_alerts(gql, token, company, f=None, first=None, after=None):
    body = await gql(
        "query($c: ID, $f: AlertFilter, $first: Int, $after: String) {"
        " alerts(companyId: $c, filter: $f, first: $first, after: $after) {"
        "  nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
        {"c": company.gid if company else None, "f": f, "first": first, "after": after},
        token=token,
    )
    assert "errors" not in body, body
    return body


def ids(body):
    return [n["id"] for n in body["data"]["alerts"]["nodes"]]


async def test_alert_has_every_field_and_its_relations(gql, factory, services):
    # given a stored, correlated, suppressed-looking alert on a known asset
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    asset = await factory.asset(company, "sw-core")
    incident = await rows.incident(services, company.id, asset_id=asset, asset_name="sw-core")
    at = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    alert = await rows.alert(
        services,
        company.id,
        asset_id=asset,
        asset_name="sw-core",
        signature="LinkDown",
        severity="critical",
        severity_raw="disaster",
        message="eth0 down",
        tool="zabbix",
        category="Network",
        fingerprint="zabbix:123",
        dedup_key="123",
        event_time=at,
        received_at=at + timedelta(seconds=2),
        tags={"site": "berlin"},
        raw={"host": "sw-core"},
        incident_id=incident,
        duplicate=True,
        resolved_at=at + timedelta(minutes=5),
    )

    # when the technician reads it
    body = await gql(
        "query($id: ID!) { alert(id: $id) {"
        + ALERT_FIELDS
        + " company { name } asset { name } incident { id } } }",
        {"id": gid("Alert", alert)},
        token=tech.token,
    )

    # then every field is as stored
    assert body == {
        "data": {
            "alert": {
                "id": gid("Alert", alert),
                "assetName": "sw-core",
                "signature": "LinkDown",
                "severity": "CRITICAL",
                "severityRaw": "disaster",
                "message": "eth0 down",
                "tool": "ZABBIX",
                "category": "NETWORK",
                "fingerprint": "zabbix:123",
                "dedupKey": "123",
                "status": "FIRING",
                "eventTime": at.isoformat(),
                "receivedAt": (at + timedelta(seconds=2)).isoformat(),
                "tags": {"site": "berlin"},
                "raw": {"host": "sw-core"},
                "duplicate": True,
                "suppressed": False,
                "resolvedAt": (at + timedelta(minutes=5)).isoformat(),
                "company": {"name": company.name},
                "asset": {"name": "sw-core"},
                "incident": {"id": gid("Incident", incident)},
            }
        }
    }


async def test_suppressed_alert_without_asset_or_incident(gql, factory, services):
    # given an alert stored inside a maintenance window
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    window = await _window(gql, admin, company)
    alert = await rows.alert(services, company.id, suppressed_by=window)

    # when it is read
    body = await gql(
        "query($id: ID!) { alert(id: $id) { suppressed asset { id } incident { id } } }",
        {"id": gid("Alert", alert)},
        token=admin.token,
    )

    # then it is suppressed and has no incident
    assert body["data"]["alert"] == {"suppressed": True, "asset": None, "incident": None}


async def _window(gql, admin, company):
    created = await gql(
        'mutation($c: ID!) { maintenanceWindowCreate(input: {companyId: $c, name: "patch",'
        ' startsAt: "2026-11-01T00:00:00+00:00", endsAt: "2026-11-01T02:00:00+00:00"})'
        " { maintenanceWindow { id } userErrors { code } } }",
        {"c": company.gid},
        token=admin.token,
    )
    return rows.uuid_of(created["data"]["maintenanceWindowCreate"]["maintenanceWindow"]["id"])


async def test_alert_filters_match_exactly(gql, factory, services):
    # given four alerts that differ in every filtered field
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    web = await factory.asset(company, "web-01")
    t = datetime.now(UTC) - timedelta(hours=1)
    a = await rows.alert(
        services,
        company.id,
        asset_id=web,
        asset_name="web-01",
        severity="critical",
        tool="grafana",
        message="CPU at 100%",
        event_time=t,
    )
    b = await rows.alert(
        services,
        company.id,
        asset_name="db-01",
        signature="Replication_lag",
        severity="high",
        tool="datadog",
        status="resolved",
        message="lag 30 s",
        event_time=t + timedelta(minutes=10),
    )
    c = await rows.alert(
        services,
        company.id,
        asset_name="web-02",
        severity="low",
        tool="grafana",
        message="disk ok",
        event_time=t + timedelta(minutes=20),
    )
    d = await rows.alert(
        services,
        company.id,
        asset_name="fw-01",
        signature="PortScan",
        severity="medium",
        tool="generic",
        message="scan from 10.0.0.9",
        event_time=t + timedelta(minutes=30),
    )
    ga, gb, gc, gd = (gid("Alert", x) for x in (a, b, c, d))

    async def matching(f):
        return ids(await list_alerts(gql, admin.token, company, f))

    # when / then: each filter selects exactly its alerts, newest received first
    assert await matching(None) == [gd, gc, gb, ga]
    assert await matching({"status": ["RESOLVED"]}) == [gb]
    assert await matching({"status": ["FIRING"], "severity": ["LOW", "CRITICAL"]}) == [gc, ga]
    assert await matching({"asset": "web"}) == [gc, ga]
    assert await matching({"asset": gid("Asset", web)}) == [ga]
    assert await matching({"tool": "GRAFANA"}) == [gc, ga]
    assert await matching({"since": (t + timedelta(minutes=10)).isoformat()}) == [gd, gc, gb]
    assert await matching({"until": (t + timedelta(minutes=10)).isoformat()}) == [ga]
    assert await matching({"text": "SCAN"}) == [gd]
    assert await matching({"text": "fw-0"}) == [gd]
    assert await matching({"text": "%"}) == [ga]
    assert await matching({"text": "n_l"}) == [gb]
    assert await matching({"text": "x" * 500}) == []


async def test_alert_pages_follow_each_other_without_gaps(gql, factory, services):
    # given seven alerts
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    made = [await rows.alert(services, company.id) for _ in range(7)]

    # when the technician pages through them three at a time
    first = await list_alerts(gql, tech.token, company, first=3)
    second = await list_alerts(
        gql, tech.token, company, first=3, after=first["data"]["alerts"]["pageInfo"]["endCursor"]
    )
    third = await list_alerts(
        gql, tech.token, company, first=3, after=second["data"]["alerts"]["pageInfo"]["endCursor"]
    )

    # then the pages are consecutive, newest first, and only the last one ends the list
    assert ids(first) + ids(second) + ids(third) == [gid("Alert", x) for x in reversed(made)]
    assert [p["data"]["alerts"]["pageInfo"]["hasNextPage"] for p in (first, second, third)] == [
        True,
        True,
        False,
    ]
    assert [p["data"]["alerts"]["pageInfo"]["hasPreviousPage"] for p in (first, second, third)] == [
        False,
        True,
        True,
    ]


async def test_bad_page_arguments_are_refused_with_their_code(gql, factory):
    # given a user
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when asking for too many alerts, or continuing after garbage
    too_many = await gql("{ alerts(first: 101) { nodes { id } } }", token=tech.token)
    garbage = await gql('{ alerts(after: "not-a-cursor") { nodes { id } } }', token=tech.token)

    # then each error names the argument and its code
    assert [(e["message"], e["extensions"]) for e in too_many["errors"]] == [
        ("must be between 0 and 100", {"code": "INVALID_INPUT", "field": "first"})
    ]
    assert [(e["message"], e["extensions"]) for e in garbage["errors"]] == [
        ("is not a valid cursor", {"code": "INVALID_CURSOR", "field": "after"})
    ]


async def test_alerts_without_company_cover_every_company_of_the_caller(gql, factory, services):
    # given a technician of two companies, with an alert in each
    one, two = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [one, two])
    a1 = await rows.alert(services, one.id)
    a2 = await rows.alert(services, two.id)

    # when the technician lists alerts without naming a company
    body = await list_alerts(gql, tech.token, None, first=100)

    # then both are there (newest first)
    assert ids(body) == [gid("Alert", a2), gid("Alert", a1)]
