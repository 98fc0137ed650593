"""The analysis reaction against real PostgreSQL: a cascade over the asset topology (root, blast
radius, downstream incidents pointing at it), patterns from stored alerts, the suggested runbook,
GraphQL, and that each company's topology stays its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from db.analysis import IncidentAnalysisReaction, analyse_incident
from db.incident_writer import apply_action
from db.reactions import ReactionRunner
from domain.incidents import DECISION_ACTOR, IncidentAction
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

ANALYSIS = """
query($id: ID!) { incident(id: $id) {
  analysis { patternType rootCause confidence explanation source blastRadius suggestedRunbook { name } }
  rootIncident { id } relatedIncidents { id } } }"""


async def topology(factory: Any, company: Any) -> dict[str, uuid.UUID]:
    """lb-01 -> app-01, app-02 -> db-01 (each depends on the next)."""
    db = await factory.asset(company, "db-01", platform="LINUX")
    async with factory.uow() as uow:
        app1 = (await uow.assets.create(company.id, {"name": "app-01"}, [db])).id
        app2 = (await uow.assets.create(company.id, {"name": "app-02"}, [db])).id
        lb = (await uow.assets.create(company.id, {"name": "lb-01"}, [app1, app2])).id
    return {"db-01": db, "app-01": app1, "app-02": app2, "lb-01": lb}


async def incident_on(
    services: Any, company: Any, assets: dict[str, uuid.UUID], name: str, signature: str, at: datetime
) -> uuid.UUID:
    return await rows.incident(
        services,
        company.id,
        asset_id=assets[name],
        asset_name=name,
        signature=signature,
        created_at=at,
        first_alert_at=at,
        last_alert_at=at,
    )


async def analyse(services: Any, incident: uuid.UUID) -> Any:
    async with services.pool.acquire() as conn, conn.transaction():
        return await analyse_incident(conn, incident, datetime.now(UTC))


async def test_a_cascade_names_the_most_upstream_incident_as_the_root(services, factory, gql):
    company = await factory.company()
    assets = await topology(factory, company)
    now = datetime.now(UTC)
    root = await incident_on(services, company, assets, "db-01", "DatabaseDown", now - timedelta(minutes=4))
    app1 = await incident_on(services, company, assets, "app-01", "HighLatency", now - timedelta(minutes=3))
    app2 = await incident_on(services, company, assets, "app-02", "HighLatency", now - timedelta(minutes=3))
    lb = await incident_on(services, company, assets, "lb-01", "HTTP5xx", now - timedelta(minutes=2))
    # Outside the window (10 minutes by default): not part of it.
    await incident_on(services, company, assets, "app-01", "DiskFull", now - timedelta(minutes=30))

    for incident in (app1, app2, lb):
        assert (await analyse(services, incident)).root_incident_id == root

    stored = await services.pool.fetchrow(
        "SELECT pattern_type, blast_radius, root_incident_id FROM incident_analyses WHERE incident_id = $1",
        root,
    )
    assert tuple(stored) == ("CASCADING_FAILURE", 3, None)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    answer = (await gql(ANALYSIS, {"id": gid("Incident", root)}, token=admin.token))["data"]["incident"]
    assert answer["analysis"]["patternType"] == "CASCADING_FAILURE"
    assert answer["analysis"]["blastRadius"] == 3
    assert answer["analysis"]["source"] == "RULES"
    assert answer["analysis"]["explanation"] == (
        "3 assets that depend on db-01 (app-01, app-02, lb-01) opened incidents within the correlation window "
        "after it. DatabaseDown on db-01 is the likely root cause: fix it first."
    )
    assert answer["rootIncident"] is None
    assert {r["id"] for r in answer["relatedIncidents"]} == {gid("Incident", i) for i in (app1, app2, lb)}
    downstream = (await gql(ANALYSIS, {"id": gid("Incident", lb)}, token=admin.token))["data"]["incident"]
    assert downstream["rootIncident"] == {"id": gid("Incident", root)}
    assert downstream["analysis"]["rootCause"] == "DatabaseDown on db-01, which lb-01 depends on"


PRIORITY = """
query($companyId: ID!) { incidents(companyId: $companyId, orderBy: {field: PRIORITY, direction: DESC}) {
  edges { node { assetName priorityScore } } } }"""


async def scores(gql: Any, company: Any, token: str) -> list[tuple[str, int]]:
    """(asset, priority) of the company's incidents, most urgent first; the priority rounded, as the
    incidents are minutes old (a point an hour decays)."""
    answer = await gql(PRIORITY, {"companyId": gid("Company", company.id)}, token=token)
    edges = answer["data"]["incidents"]["edges"]
    return [(e["node"]["assetName"], round(e["node"]["priorityScore"])) for e in edges]


async def test_a_cascade_root_s_priority_grows_with_the_assets_it_takes_down(services, factory, gql):
    # given db-01's incident and an equal one on an unrelated host (both high, one alert, one tool: 62)
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    assets = await topology(factory, company)
    now = datetime.now(UTC)
    root = await incident_on(services, company, assets, "db-01", "DatabaseDown", now)
    await rows.incident(services, company.id, asset_name="mail-01", signature="DatabaseDown", created_at=now)
    await analyse(services, root)
    assert dict(await scores(gql, company, admin.token)) == {"db-01": 62, "mail-01": 62}

    # when the assets that depend on db-01 open incidents, one after the other
    app1 = await incident_on(services, company, assets, "app-01", "HighLatency", now)
    await analyse(services, app1)
    assert (await scores(gql, company, admin.token))[0] == ("db-01", 67)
    for name in ("app-02", "lb-01"):
        await analyse(services, await incident_on(services, company, assets, name, "HighLatency", now))

    # then the root gains 5 per downstream asset hit, and sorts first by it
    ranked = await scores(gql, company, admin.token)
    assert ranked[0] == ("db-01", 77)
    assert ("mail-01", 62) in ranked
    stored = await services.pool.fetchval("SELECT blast_radius FROM incidents WHERE id = $1", root)
    assert stored == 3

    # and a downstream incident that resolves no longer counts
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(conn, app1, IncidentAction.RESOLVE, DECISION_ACTOR, now)
    await analyse(services, app1)
    assert (await scores(gql, company, admin.token))[0] == ("db-01", 72)


async def test_downstream_incidents_opened_before_their_root_point_at_it_once_it_opens(
    services, factory, gql
):
    # given app-01 and lb-01 (which depends on app-01) failing first: app-01 looks like the root
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    assets = await topology(factory, company)
    now = datetime.now(UTC)
    app1 = await incident_on(services, company, assets, "app-01", "HighLatency", now - timedelta(minutes=3))
    lb = await incident_on(services, company, assets, "lb-01", "HTTP5xx", now - timedelta(minutes=2))
    await analyse(services, lb)
    assert (await analyse(services, app1)).blast_radius == 1

    # when db-01, which app-01 depends on, opens its incident a minute later and is analysed
    root = await incident_on(services, company, assets, "db-01", "DatabaseDown", now - timedelta(minutes=1))
    assert (await analyse(services, root)).blast_radius == 2

    # then both point at db-01's incident, which lists them; app-01 is no root any more
    answer = (await gql(ANALYSIS, {"id": gid("Incident", root)}, token=admin.token))["data"]["incident"]
    assert {r["id"] for r in answer["relatedIncidents"]} == {gid("Incident", app1), gid("Incident", lb)}
    for downstream in (app1, lb):
        seen = (await gql(ANALYSIS, {"id": gid("Incident", downstream)}, token=admin.token))["data"][
            "incident"
        ]
        assert seen["rootIncident"] == {"id": gid("Incident", root)}
        assert seen["analysis"]["blastRadius"] == 0
    assert await services.pool.fetchval("SELECT blast_radius FROM incidents WHERE id = $1", app1) == 0
    assert dict(await scores(gql, company, admin.token)) == {"db-01": 72, "app-01": 62, "lb-01": 62}


async def test_an_asset_s_own_problem_is_no_symptom_of_the_cascade_around_it(services, factory):
    # given db-01 down, and app-01 (which depends on it) reporting a full disk at the same time
    company = await factory.company()
    assets = await topology(factory, company)
    now = datetime.now(UTC)
    root = await incident_on(services, company, assets, "db-01", "DatabaseDown", now)
    disk = await rows.incident(
        services,
        company.id,
        asset_id=assets["app-01"],
        asset_name="app-01",
        signature="Disk usage high on /var/log",
        canonical_signature="disk_full:/var/log",
        created_at=now,
    )
    latency = await incident_on(services, company, assets, "app-02", "HighLatency", now)

    # when both are analysed
    full = await analyse(services, disk)
    await analyse(services, latency)

    # then the full disk is app-01's own problem, not counted in db-01's blast radius; app-02's latency is
    assert full.pattern.value == "ISOLATED"
    assert full.root_incident_id is None
    assert (await analyse(services, root)).blast_radius == 1


async def test_a_change_in_the_outbox_gets_the_incident_analysed_with_a_runbook_that_fits(services, factory):
    company = await factory.company()
    asset = await factory.asset(company, "web-01", platform="LINUX")
    incident = await rows.incident(
        services, company.id, asset_id=asset, asset_name="web-01", signature="disk_space_low"
    )
    now = datetime.now(UTC)
    for minutes in range(6):  # one firing every 15 minutes
        await rows.alert(
            services,
            company.id,
            incident_id=incident,
            asset_name="web-01",
            signature="disk_space_low",
            event_time=now - timedelta(minutes=15 * minutes),
            status="firing",
        )
    runner = ReactionRunner(services.pool, IncidentAnalysisReaction())
    await runner.register()
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(conn, incident, IncidentAction.ACKNOWLEDGE, DECISION_ACTOR, now)

    while await runner.run_once():
        pass

    row = await services.pool.fetchrow(
        "SELECT a.pattern_type, a.root_cause, v.name FROM incident_analyses a"
        " LEFT JOIN runbooks r ON r.id = a.suggested_runbook_id"
        " LEFT JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version WHERE a.incident_id = $1",
        incident,
    )
    assert row["pattern_type"] == "CYCLIC"
    assert row["root_cause"] == "disk_space_low on web-01 recurs every 15 minutes"
    assert row["name"] is not None  # the global library's disk cleanup fits disk_space_low on Linux


async def test_another_company_s_topology_and_analyses_stay_its_own(services, factory, gql):
    a, b = await factory.company(), await factory.company()
    assets = await topology(factory, a)
    now = datetime.now(UTC)
    root = await incident_on(services, a, assets, "db-01", "DatabaseDown", now)
    downstream = await incident_on(services, a, assets, "app-01", "HighLatency", now)
    # Company B has assets with the same names but no link to A's.
    other = await topology(factory, b)
    lonely = await incident_on(services, b, other, "app-01", "HighLatency", now)
    await analyse(services, downstream)
    assert (await analyse(services, lonely)).root_incident_id is None

    outsider = await factory.user(Role.COMPANY_ADMIN, [b])
    answer = await gql(ANALYSIS, {"id": gid("Incident", root)}, token=outsider.token)
    assert answer["data"]["incident"] is None


async def test_the_sweeper_catches_up_on_repeats_and_long_running_incidents(services, factory):
    from db.analysis import reanalyse_stale

    company = await factory.company()
    now = datetime.now(UTC)
    storm = await rows.incident(services, company.id, signature="HighCPU", alert_count=1)
    await analyse(services, storm)
    for n in range(30):  # repeats of one fingerprint: counted, no outbox row
        await rows.alert(
            services, company.id, incident_id=storm, event_time=now - timedelta(seconds=n), status="firing"
        )
    await services.pool.execute("UPDATE incidents SET alert_count = 31 WHERE id = $1", storm)
    long = await rows.incident(
        services, company.id, signature="DiskFull", first_alert_at=now - timedelta(hours=3), last_alert_at=now
    )
    await analyse(services, long)
    assert await services.pool.fetchval(
        "SELECT pattern_type FROM incident_analyses WHERE incident_id = $1", long
    ) == ("PERSISTENT")
    await services.pool.execute(
        "UPDATE incident_analyses SET pattern_type = 'ISOLATED' WHERE incident_id = $1", long
    )

    done = await reanalyse_stale(services.pool, now)

    assert done >= 2
    found = dict(
        await services.pool.fetch(
            "SELECT incident_id, pattern_type FROM incident_analyses WHERE incident_id = ANY($1)",
            [storm, long],
        )
    )
    assert found == {storm: "ALERT_STORM", long: "PERSISTENT"}
    assert (
        await services.pool.fetchval(
            "SELECT alert_count FROM incident_analyses WHERE incident_id = $1", storm
        )
        == 31
    )


async def test_the_suggested_runbook_matches_the_incident_s_canonical_signature(services, factory):
    # given an incident on a LINUX asset under a name no library pattern finds, stored without its
    # canonical signature (as before migration 0035): it is folded when matched
    company = await factory.company()
    assets = {"db-01": await factory.asset(company, "db-01", platform="LINUX")}
    incident = await incident_on(
        services, company, assets, "db-01", "No space left on device", datetime.now(UTC)
    )

    # when it is analysed
    await analyse(services, incident)

    # then the suggested runbook is the global disk cleanup listed for disk_full
    name = await services.pool.fetchval(
        "SELECT v.name FROM incident_analyses a JOIN runbooks r ON r.id = a.suggested_runbook_id"
        " JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version WHERE a.incident_id = $1",
        incident,
    )
    assert name == "Disk cleanup (Linux)"
