"""The SLA API end to end: `incident.sla`, `slaPolicy`, `slaPolicyUpdate` (who may, what it refuses,
the audit entry) and the `slaBreached` subscription on a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.events import topic
from db.reactions import ReactionRunner
from db.sla import SLA_TOPIC, SlaClocks, SlaMonitor
from domain.incidents import IncidentAction
from domain.rbac import Role
from tests import incident_rows as rows
from tests.api.test_subscriptions import connect, wait_live
from tests.helpers import gid
from tests.integration.test_sla_monitor import T0, act, open_incident
from tests.live import live_servers

INCIDENT_SLA = """
query($id: ID!) { incident(id: $id) { sla {
  responseDeadline resolutionDeadline responseRemainingSeconds resolutionRemainingSeconds
  responseBreached resolutionBreached paused } } }
"""
POLICY = """
query($c: ID!) { slaPolicy(companyId: $c) {
  companyId targets { severity responseMinutes resolutionMinutes }
  businessHours { timezone days start end } holidays { country subdivision dates } warnAtPercent } }
"""
UPDATE = """
mutation($i: SlaPolicyUpdateInput!) { slaPolicyUpdate(input: $i) {
  slaPolicy { targets { severity responseMinutes resolutionMinutes } businessHours { timezone days start end }
              holidays { country subdivision dates } warnAtPercent }
  userErrors { field message code } } }
"""
DEFAULT_TARGETS = [
    {"severity": "CRITICAL", "responseMinutes": 30, "resolutionMinutes": 240},
    {"severity": "HIGH", "responseMinutes": 120, "resolutionMinutes": 480},
    {"severity": "MEDIUM", "responseMinutes": 480, "resolutionMinutes": 1440},
    {"severity": "LOW", "responseMinutes": 1440, "resolutionMinutes": 2880},
]


@pytest.fixture(autouse=True)
async def registered(services: Any) -> None:
    await ReactionRunner(services.pool, SlaClocks()).register()


async def test_incident_sla_reads_the_clocks_and_what_is_left(gql, factory, services):
    # given a critical incident opened at T0, acknowledged at minute 5 and waiting on the client
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await open_incident(services, company)

    # then its clocks read as the default policy says
    body = await gql(INCIDENT_SLA, {"id": gid("Incident", incident)}, token=tech.token)
    sla = body["data"]["incident"]["sla"]
    assert sla["responseDeadline"] == (T0 + timedelta(minutes=30)).isoformat()
    assert sla["resolutionDeadline"] == (T0 + timedelta(hours=4)).isoformat()
    left = (T0 + timedelta(minutes=30) - datetime.now(UTC)).total_seconds()
    assert left <= sla["responseRemainingSeconds"] < left + 5  # read just before `left` was
    assert (sla["responseBreached"], sla["resolutionBreached"], sla["paused"]) == (False, False, False)

    # when a technician acknowledges it and then waits on the client
    await act(services, incident, IncidentAction.ACKNOWLEDGE, T0 + timedelta(minutes=5), tech)
    await act(services, incident, IncidentAction.WAIT_ON_CLIENT, T0 + timedelta(minutes=20), tech)
    sla = (await gql(INCIDENT_SLA, {"id": gid("Incident", incident)}, token=tech.token))["data"]["incident"][
        "sla"
    ]

    # then response is met (nothing left), resolution is paused with what it had left
    assert sla == {
        "responseDeadline": (T0 + timedelta(minutes=30)).isoformat(),
        "resolutionDeadline": None,
        "responseRemainingSeconds": None,
        "resolutionRemainingSeconds": 4 * 3600 - 20 * 60,
        "responseBreached": False,
        "resolutionBreached": False,
        "paused": True,
    }


async def test_an_incident_the_worker_has_not_seen_has_no_sla_yet(gql, factory, services):
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)
    body = await gql(INCIDENT_SLA, {"id": gid("Incident", incident)}, token=tech.token)
    assert body == {"data": {"incident": {"sla": None}}}


async def test_a_breached_response_reads_as_breached(gql, factory, services):
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await open_incident(services, company)
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=31))
    sla = (await gql(INCIDENT_SLA, {"id": gid("Incident", incident)}, token=tech.token))["data"]["incident"][
        "sla"
    ]
    assert sla["responseBreached"] is True
    assert sla["resolutionBreached"] is False


async def test_a_company_starts_with_the_spec_defaults(gql, factory):
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    body = await gql(POLICY, {"c": company.gid}, token=tech.token)
    assert body["data"]["slaPolicy"] == {
        "companyId": company.gid,
        "targets": DEFAULT_TARGETS,
        "businessHours": None,
        "holidays": {"country": None, "subdivision": None, "dates": []},
        "warnAtPercent": 80,
    }


async def test_a_company_admin_sets_the_policy_and_new_incidents_follow_it(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when they set a 1-minute critical target, office hours in Berlin and Bavaria's holidays
    update = {
        "companyId": company.gid,
        "targets": [{"severity": "CRITICAL", "responseMinutes": 1, "resolutionMinutes": 5}],
        "businessHours": {
            "timezone": "Europe/Berlin",
            "days": ["MONDAY", "FRIDAY"],
            "start": "09:00",
            "end": "17:30",
        },
        "holidays": {"country": "de", "subdivision": "by", "dates": ["2026-12-31"]},
        "warnAtPercent": 50,
    }
    body = await gql(UPDATE, {"i": update}, token=admin.token)

    # then the policy is saved as given (other severities keep their targets) and audited
    assert body["data"]["slaPolicyUpdate"] == {
        "slaPolicy": {
            "targets": [
                {"severity": "CRITICAL", "responseMinutes": 1, "resolutionMinutes": 5},
                *DEFAULT_TARGETS[1:],
            ],
            "businessHours": {
                "timezone": "Europe/Berlin",
                "days": ["MONDAY", "FRIDAY"],
                "start": "09:00",
                "end": "17:30",
            },
            "holidays": {"country": "DE", "subdivision": "BY", "dates": ["2026-12-31"]},
            "warnAtPercent": 50,
        },
        "userErrors": [],
    }
    assert ("company.sla_policy_update", admin.email) in await rows.audit_actions(services, company.id)
    assert (await gql(POLICY, {"c": company.gid}, token=admin.token))["data"]["slaPolicy"][
        "warnAtPercent"
    ] == 50

    # and back to around the clock, a new critical incident's response is due a minute after it opened
    body = await gql(UPDATE, {"i": {"companyId": company.gid, "businessHours": None}}, token=admin.token)
    assert body["data"]["slaPolicyUpdate"]["slaPolicy"]["businessHours"] is None
    incident = await open_incident(services, company)
    row = await services.pool.fetchrow("SELECT * FROM incident_sla WHERE incident_id = $1", incident)
    assert row["response_deadline"] == T0 + timedelta(minutes=1)
    assert row["response_warn_at"] == T0 + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {
                "businessHours": {
                    "timezone": "Mars/Olympus",
                    "days": ["MONDAY"],
                    "start": "09:00",
                    "end": "17:00",
                }
            },
            {
                "field": "businessHours.timezone",
                "message": "unknown time zone 'Mars/Olympus' (an IANA name such as Europe/Berlin)",
                "code": "UNKNOWN_TIME_ZONE",
            },
        ),
        (
            {"businessHours": {"timezone": "UTC", "days": ["MONDAY"], "start": "17:00", "end": "09:00"}},
            {
                "field": "businessHours.end",
                "message": "must be after the start (business hours cannot cross midnight)",
                "code": "INVALID_BUSINESS_HOURS",
            },
        ),
        (
            {"targets": [{"severity": "LOW", "responseMinutes": 10, "resolutionMinutes": 0}]},
            {
                "field": "targets[0].resolutionMinutes",
                "message": "must be at least 1 minute",
                "code": "TARGET_OUT_OF_RANGE",
            },
        ),
        (
            {"holidays": {"country": "XX"}},
            {
                "field": "holidays.country",
                "message": "unknown country 'XX' (an ISO 3166 code such as DE)",
                "code": "UNKNOWN_COUNTRY",
            },
        ),
        (
            {"warnAtPercent": 0},
            {"field": "warnAtPercent", "message": "must be between 1 and 100", "code": "INVALID_INPUT"},
        ),
    ],
)
async def test_what_slaPolicyUpdate_refuses_changes_nothing(gql, factory, services, change, error):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    body = await gql(UPDATE, {"i": {"companyId": company.gid, **change}}, token=admin.token)
    assert body["data"]["slaPolicyUpdate"] == {"slaPolicy": None, "userErrors": [error]}
    assert (await gql(POLICY, {"c": company.gid}, token=admin.token))["data"]["slaPolicy"][
        "targets"
    ] == DEFAULT_TARGETS
    assert ("company.sla_policy_update", admin.email) not in await rows.audit_actions(services, company.id)


async def test_only_the_company_admins_and_msp_admins_change_a_policy(gql, factory):
    company, other = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    stranger = await factory.user(Role.COMPANY_ADMIN, [other])
    msp = await factory.user(Role.MSP_ADMIN)
    change = {"i": {"companyId": company.gid, "warnAtPercent": 90}}

    denied = await gql(UPDATE, change, token=tech.token)
    assert denied["data"]["slaPolicyUpdate"]["userErrors"] == [
        {"field": None, "message": "you do not have permission to do this", "code": "PERMISSION_DENIED"}
    ]
    hidden = await gql(UPDATE, change, token=stranger.token)
    assert hidden["data"]["slaPolicyUpdate"]["userErrors"] == [
        {"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}
    ]
    # another company's policy does not read either
    assert (await gql(POLICY, {"c": company.gid}, token=stranger.token))["data"] == {"slaPolicy": None}

    done = await gql(UPDATE, change, token=msp.token)
    assert done["data"]["slaPolicyUpdate"]["slaPolicy"]["warnAtPercent"] == 90


# ---- slaBreached on a real server ----------------------------------------------------------------

SLA_BREACHED = """
subscription($c: ID) { slaBreached(companyId: $c) { clock deadline level incident { id status } } }
"""


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_servers(database_url, tmp_path_factory.mktemp("sla"), count=1) as urls:
        yield urls[0]


async def test_slaBreached_pushes_each_breach_of_the_subscribers_companies_only(server, factory, services):
    # given technicians of two companies subscribed to slaBreached
    company, other = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    probe = await open_incident(services, company)
    probe_event = await services.pool.fetchval(
        "INSERT INTO sla_events (company_id, incident_id, clock, kind, deadline, at)"
        " VALUES ($1, $2, 'response', 'breach', $3, $3) RETURNING id",
        company.id,
        probe,
        T0 - timedelta(days=1),
    )

    def is_probe(payload: dict[str, Any]) -> bool:
        return payload["data"]["slaBreached"]["deadline"] == (T0 - timedelta(days=1)).isoformat()

    async with connect(server, tech.token) as socket:
        await socket.subscribe("1", SLA_BREACHED, {"c": None})
        await wait_live(
            socket,
            services,
            topic(company.id, SLA_TOPIC),
            {"kind": "response", "id": str(probe_event)},
            is_probe,
        )

        # when the other company's incident and then its own breach their resolution deadlines
        mine = await open_incident(services, company)
        theirs = await open_incident(services, other)
        for incident in (mine, theirs):
            await act(services, incident, IncidentAction.START_WORK, T0 + timedelta(minutes=1), tech)
        await SlaMonitor(services.pool).run_once(T0 + timedelta(hours=4, seconds=1))
        # (the probe incident's own response breach comes too: it was never acknowledged)
        breaches = []
        while not any(b["incident"]["id"] == gid("Incident", mine) for b in breaches):
            breaches.append((await socket.next_data(skip=is_probe))["data"]["slaBreached"])

    # then it hears its own company's breaches only, the resolution breach with the escalation it made
    assert {
        "clock": "RESOLUTION",
        "deadline": (T0 + timedelta(hours=4)).isoformat(),
        "level": 1,
        "incident": {"id": gid("Incident", mine), "status": "ESCALATED"},
    } in breaches
    assert all(b["incident"]["id"] != gid("Incident", theirs) for b in breaches)
