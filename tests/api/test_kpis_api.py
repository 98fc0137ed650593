"""`kpis` and `kpisUpdated` end to end: the known data set's figures as a client reads them (worked out
by hand in tests/integration/test_kpis.py), series buckets, the MSP-wide view with its per-company
rows, who may read what, typed errors for bad ranges and another company, and live pushes on a real
server process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from db.kpis import KpiRollups
from domain.rbac import Role
from tests import incident_rows as rows
from tests.api.test_subscriptions import connect
from tests.helpers import Factory
from tests.integration.test_kpis import DAY, EXPECTED_A, H10, P90_3600, known_set
from tests.integration.test_kpis import _execution as execution
from tests.live import live_servers, scratch_database

KPIS = """
query($c: ID, $from: DateTime!, $to: DateTime!, $b: KpiBucket!) {
  kpis(companyId: $c, from: $from, to: $to) {
    company { id } from to totalAlerts totalIncidents noiseReductionPct mttaSeconds mttrSeconds mttrP90Seconds
    selfHealedCount selfHealedPct autoRemediatedCount autoRemediationRatePct responseSlaCompliancePct resolutionSlaCompliancePct
    patchCompliancePct patchComplianceSource
    series(bucket: $b) { start totalAlerts totalIncidents noiseReductionPct mttrSeconds selfHealedCount }
    companies { company { id } totalAlerts totalIncidents mttrP90Seconds patchComplianceSource
                series(bucket: DAY) { start totalAlerts } }
  }
}
"""


@pytest.fixture
async def known(services: Any, factory: Any) -> Any:
    made = await known_set(services, factory)
    for company in (made.company, made.other):
        await KpiRollups(services.pool).rebuild(company.id, DAY, DAY + timedelta(days=1))
    return made


def _range(start: Any, hours: int) -> dict[str, str]:
    return {"from": start.isoformat(), "to": (start + timedelta(hours=hours)).isoformat()}


async def test_a_company_admin_reads_the_hand_computed_figures_and_series(gql, factory, known):
    admin = await factory.user(Role.COMPANY_ADMIN, [known.company])
    # 09:30–11:45 is read as the whole hours 09:00–12:00
    variables = {
        "c": known.company.gid,
        "from": (H10 - timedelta(minutes=30)).isoformat(),
        "to": (H10 + timedelta(minutes=105)).isoformat(),
        "b": "HOUR",
    }
    body = await gql(KPIS, variables, token=admin.token)
    assert "errors" not in body, body
    k = body["data"]["kpis"]

    assert k["company"] == {"id": known.company.gid}
    assert (k["from"], k["to"]) == (
        (H10 - timedelta(hours=1)).isoformat(),
        (H10 + timedelta(hours=2)).isoformat(),
    )
    assert {
        "totalAlerts": k["totalAlerts"],
        "totalIncidents": k["totalIncidents"],
        "noiseReductionPct": k["noiseReductionPct"],
        "mttaSeconds": k["mttaSeconds"],
        "mttrSeconds": k["mttrSeconds"],
        "mttrP90Seconds": k["mttrP90Seconds"],
        "selfHealedCount": k["selfHealedCount"],
        "selfHealedPct": k["selfHealedPct"],
        "autoRemediatedCount": k["autoRemediatedCount"],
        "autoRemediationRatePct": k["autoRemediationRatePct"],
        "responseSlaCompliancePct": k["responseSlaCompliancePct"],
        "resolutionSlaCompliancePct": k["resolutionSlaCompliancePct"],
    } == pytest.approx(
        {
            "totalAlerts": EXPECTED_A["alerts"],
            "totalIncidents": EXPECTED_A["incidents"],
            "noiseReductionPct": 75.0,
            "mttaSeconds": 1050.0,
            "mttrSeconds": 1600.0,
            "mttrP90Seconds": P90_3600,
            "selfHealedCount": 1,
            "selfHealedPct": 100 / 3,
            "autoRemediatedCount": 2,  # i2 held, i3 not judged yet
            "autoRemediationRatePct": 200 / 3,
            "responseSlaCompliancePct": 200 / 3,
            "resolutionSlaCompliancePct": 100.0,
        }
    )
    assert (k["patchCompliancePct"], k["patchComplianceSource"]) == (None, "NONE")
    # every hour of the range, empty ones included; 10:00 holds i1 (600 s), 11:00 i2 and i3
    assert k["series"] == [
        {
            "start": (H10 - timedelta(hours=1)).isoformat(),
            "totalAlerts": 0,
            "totalIncidents": 0,
            "noiseReductionPct": None,
            "mttrSeconds": None,
            "selfHealedCount": 0,
        },
        {
            "start": H10.isoformat(),
            "totalAlerts": 10,
            "totalIncidents": 2,
            "noiseReductionPct": 80.0,
            "mttrSeconds": 600.0,
            "selfHealedCount": 0,
        },
        {
            "start": (H10 + timedelta(hours=1)).isoformat(),
            "totalAlerts": 6,
            "totalIncidents": 2,
            "noiseReductionPct": pytest.approx(100 * (1 - 2 / 6)),
            "mttrSeconds": 2100.0,
            "selfHealedCount": 1,
        },
    ]
    assert k["companies"] == []


async def test_daily_series_start_at_utc_midnight(gql, factory, known):
    tech = await factory.user(Role.TECHNICIAN, [known.company])
    variables = {"c": known.company.gid, **_range(DAY - timedelta(days=1), 72), "b": "DAY"}
    body = await gql(KPIS, variables, token=tech.token)
    series = body["data"]["kpis"]["series"]
    assert [(p["start"], p["totalAlerts"], p["totalIncidents"]) for p in series] == [
        ((DAY - timedelta(days=1)).isoformat(), 0, 0),
        (DAY.isoformat(), 16, 4),
        ((DAY + timedelta(days=1)).isoformat(), 0, 0),
    ]


@pytest.fixture(scope="module")
def scratch_url(database_url: str) -> Iterator[str]:
    # The MSP-wide view sums every company: on the shared test database, other tests' companies
    # would show in it.
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
async def scratch(settings: Any, scratch_url: str) -> AsyncIterator[Any]:
    from graph.app import create_app

    application = create_app(settings, database_url=scratch_url, migrate=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application.state.services, client


async def test_the_msp_wide_view_sums_every_company_and_has_a_row_for_each(scratch):
    # given, alone in their database: A and B of the known set, A with two SSM patch states (one
    # compliant), and C with no rollups but one patching runbook run that succeeded
    services, client = scratch
    factory = Factory(services)
    known = await known_set(services, factory)
    for company in (known.company, known.other):
        await KpiRollups(services.pool).rebuild(company.id, DAY, DAY + timedelta(days=1))
    await services.pool.execute(
        "INSERT INTO patch_states (company_id, instance_id, missing) VALUES ($1, 'i-1', 0), ($1, 'i-2', 3)",
        known.company.id,
    )
    c = await factory.company()
    await execution(
        services, c.id, name="Patch all", category="SECURITY", status="SUCCEEDED", finished_at=H10
    )
    msp = await factory.user(Role.MSP_ADMIN)

    # when the MSP admin reads every company's KPIs for 10:00–12:00
    resp = await client.post(
        "/graphql",
        json={"query": KPIS, "variables": {"c": None, **_range(H10, 2), "b": "DAY"}},
        headers={"authorization": f"Bearer {msp.token}"},
    )
    body = resp.json()
    assert "errors" not in body, body
    k = body["data"]["kpis"]

    # then the totals are A's and B's together: 16 + 5 alerts, 4 + 1 incidents, 4 resolved
    assert k["company"] is None
    assert (k["totalAlerts"], k["totalIncidents"]) == (21, 5)
    assert k["noiseReductionPct"] == pytest.approx(100 * (1 - 5 / 21))
    assert k["mttrSeconds"] == pytest.approx((600 + 3600 + 600 + 600) / 4)
    assert k["mttrP90Seconds"] == pytest.approx(P90_3600)  # rank ceil(0.9 × 4) = 4th: 3600 s
    assert k["selfHealedPct"] == pytest.approx(25.0)  # 1 of 4
    # patch: A 1 of 2 instances (SSM), C 1 of 1 run (runbooks): (1 + 1) / (2 + 1), from both sources
    assert (k["patchCompliancePct"], k["patchComplianceSource"]) == (pytest.approx(200 / 3), "MIXED")
    # and each company has its row, with its own series
    by_company = {r["company"]["id"]: r for r in k["companies"]}
    assert set(by_company) == {known.company.gid, known.other.gid, c.gid}
    a, b, cc = by_company[known.company.gid], by_company[known.other.gid], by_company[c.gid]
    assert (a["totalAlerts"], a["totalIncidents"], a["mttrP90Seconds"]) == (16, 4, pytest.approx(P90_3600))
    # B: one incident resolved after 600 s: bucket 36, worth 2^(36.5/4)
    assert (b["totalAlerts"], b["totalIncidents"], b["mttrP90Seconds"]) == (
        5,
        1,
        pytest.approx(2 ** (36.5 / 4)),
    )
    assert (cc["totalAlerts"], cc["mttrP90Seconds"]) == (0, None)
    assert [r["patchComplianceSource"] for r in (a, b, cc)] == ["SSM", "NONE", "RUNBOOKS"]
    assert a["series"] == [{"start": DAY.isoformat(), "totalAlerts": 16}]


async def test_a_company_admin_reads_no_other_company_and_may_not_omit_it(gql, factory, known):
    admin = await factory.user(Role.COMPANY_ADMIN, [known.company])
    query = "query($c: ID, $from: DateTime!, $to: DateTime!) { kpis(companyId: $c, from: $from, to: $to) { totalAlerts } }"

    other = await gql(query, {"c": known.other.gid, **_range(H10, 2)}, token=admin.token)
    assert other["data"] is None
    assert [(e["message"], e["extensions"]["code"], e["extensions"]["field"]) for e in other["errors"]] == [
        ("company not found", "NOT_FOUND", "companyId")
    ]

    omitted = await gql(query, {"c": None, **_range(H10, 2)}, token=admin.token)
    assert [(e["message"], e["extensions"]["code"]) for e in omitted["errors"]] == [
        ("only MSP admins may omit companyId", "PERMISSION_DENIED")
    ]

    anonymous = await gql(query, {"c": known.company.gid, **_range(H10, 2)})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("start", "hours", "message", "code", "field"),
    [
        (H10, 0, "`from` must be before `to`", "INVALID_RANGE", "from"),
        (H10, -5, "`from` must be before `to`", "INVALID_RANGE", "from"),
        (H10, 401 * 24, "the range may span at most 400 days", "RANGE_TOO_LONG", "to"),
    ],
)
async def test_bad_ranges_are_refused_with_their_code(
    gql, factory, known, start, hours, message, code, field
):
    admin = await factory.user(Role.COMPANY_ADMIN, [known.company])
    query = "query($c: ID, $from: DateTime!, $to: DateTime!) { kpis(companyId: $c, from: $from, to: $to) { totalAlerts } }"
    body = await gql(query, {"c": known.company.gid, **_range(start, hours)}, token=admin.token)
    assert [(e["message"], e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
        (message, code, field)
    ]


# ---- kpisUpdated on a real server ----------------------------------------------------------------

KPIS_UPDATED = "subscription($c: ID!) { kpisUpdated(companyId: $c, hours: 2) { totalAlerts totalIncidents } }"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_servers(database_url, tmp_path_factory.mktemp("kpis"), count=1) as urls:
        yield urls[0]


async def test_kpisUpdated_pushes_the_figures_at_once_and_again_when_they_change(server, factory, services):
    # given a technician subscribed to a company with 2 alerts in this hour
    company, other = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    now = await rows.db_now(services)
    for _ in range(2):
        await rows.alert(services, company.id, received_at=now)
    rollups = KpiRollups(services.pool)
    await rollups.recount_alerts()
    async with connect(server, tech.token) as socket:
        await socket.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": KPIS_UPDATED, "variables": {"c": company.gid}},
            }
        )
        first = await socket.next_data(wait=10)
        assert first.get("data"), first
        assert first["data"]["kpisUpdated"] == {"totalAlerts": 2, "totalIncidents": 0}

        # when another company's figures change, then its own
        await rows.alert(services, other.id, received_at=now)
        await rows.incident(services, company.id, created_at=now)
        await rollups.rebuild(company.id, now - timedelta(hours=1), now + timedelta(hours=1))
        await rollups.recount_alerts()

        # then the next push is its own new figures
        pushed = await socket.next_data(wait=10)
        assert pushed["data"]["kpisUpdated"] == {"totalAlerts": 2, "totalIncidents": 1}


async def test_kpisUpdated_refuses_another_company(server, factory):
    company, other = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    async with connect(server, tech.token) as socket:
        await socket.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": KPIS_UPDATED, "variables": {"c": other.gid}},
            }
        )
        answer = await socket.next_data()
        assert answer["data"] is None
        assert [(e["message"], e["extensions"]["code"]) for e in answer["errors"]] == [
            ("company not found", "NOT_FOUND")
        ]
