"""Demo mode end to end on real PostgreSQL: `demoStart` → the demo runner posts each step's native,
signed webhooks through the real endpoint → correlation, the reactions (decisions, analysis, SLA
clocks) and the simulated executor do what they do in production. Step time is zero: each
`run_once` sends one step."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.simulated import SimulatedExecutor
from db.analysis import IncidentAnalysisReaction
from db.approvals import ApprovalWithdrawal
from db.decisions import DecisionReaction
from db.demo import DemoRunner
from db.executor import Executor
from db.reactions import ReactionRunner
from db.sla import SlaClocks, SlaMonitor
from domain.aws import AwsAccess, AwsAuthType
from domain.rbac import Role
from graph.demo import ensure_demo_assets
from graph.demo_sender import demo_sender
from tests.helpers import MadeCompany, gid, registered_reactions
from tests.integration.test_correlation_worker import alert, drain, ingest

START = """
mutation($input: DemoStartInput!) {
  demoStart(input: $input) {
    demo { id scenario status step totalSteps alertsSent message startedAt finishedAt company { id } }
    userErrors { field message code }
  }
}"""
STOP = """
mutation($input: DemoStopInput!) {
  demoStop(input: $input) { demo { id status message finishedAt } userErrors { field message code } }
}"""
RUN = "query($c: ID!) { demoRun(companyId: $c) { id status step totalSteps alertsSent message } }"
LOOP_RUN = "query($c: ID!) { demoRun(companyId: $c) { id loop cycle } }"
LATER = datetime.now(UTC) + timedelta(days=3650)


@pytest.fixture(scope="module")
async def runners(services: Any) -> AsyncIterator[list[ReactionRunner]]:
    """The reactions a demo relies on, registered for this module only."""
    reactions = (DecisionReaction(), IncidentAnalysisReaction(), SlaClocks(), ApprovalWithdrawal())
    async with registered_reactions(services.pool, *reactions) as made:
        yield made


async def demo_company(services: Any, factory: Any) -> MadeCompany:
    company = await factory.company()
    await services.pool.execute("UPDATE companies SET demo = true WHERE id = $1", company.id)
    async with factory.uow() as uow:
        await ensure_demo_assets(uow, company.id)
    return company


def runner(services: Any) -> DemoRunner:
    return DemoRunner(services.pool, lambda: demo_sender(services), services.cipher.decrypt, 0.0)


async def start(gql: Any, token: str, company: MadeCompany, scenario: str) -> dict[str, Any]:
    body = await gql(START, {"input": {"companyId": company.gid, "scenario": scenario}}, token=token)
    assert body["data"]["demoStart"]["userErrors"] == [], body
    run: dict[str, Any] = body["data"]["demoStart"]["demo"]
    return run


async def play(
    services: Any, run_id: uuid.UUID, runners: list[ReactionRunner], until_step: int | None = None
) -> None:
    """Every step of the run (or those before `until_step`), one `run_once` each, with what the
    workers do between two steps."""
    demo = runner(services)
    for _ in range(100):
        row = await services.pool.fetchrow("SELECT status, step FROM demo_runs WHERE id = $1", run_id)
        if row["status"] != "RUNNING" or row["step"] == until_step:
            return
        await demo.run_once(datetime.now(UTC))
        await settle(services, runners)
    raise AssertionError("the run did not finish")


async def settle(services: Any, runners: list[ReactionRunner]) -> None:
    """Correlation, the reactions and the simulated executor until nothing is left to do."""
    executor = Executor(
        services.pool,
        lambda company_id, ids: SimulatedExecutor(ids, seconds=0),
        services.cipher.decrypt,
        simulated=True,
    )
    at = datetime.now(UTC)
    for n in range(12):
        await drain(services, at + timedelta(minutes=1))
        for r in runners:
            while await r.run_once(now=LATER):
                pass
        # each poll of the executor falls due a few seconds after the last one
        await executor.run_once(at + timedelta(seconds=5 * (n + 1)))


def _uuid(global_id: str) -> uuid.UUID:
    from graph.core import parse_global_id

    return uuid.UUID(parse_global_id(global_id)[1])


async def incidents(services: Any, company: MadeCompany) -> dict[tuple[str, str], Any]:
    rows = await services.pool.fetch("SELECT * FROM incidents WHERE company_id = $1", company.id)
    return {(r["asset_name"], r["signature"]): r for r in rows}


async def played(services, factory, gql, runners, scenario: str) -> tuple[MadeCompany, dict[str, Any]]:
    company = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    run = await start(gql, admin.token, company, scenario)
    await play(services, _uuid(run["id"]), runners)
    return company, run


async def test_disk_cleanup_is_remediated_by_the_simulated_executor(services, factory, gql, runners):
    # given a demo company playing DISK_CLEANUP to its end
    company, run = await played(services, factory, gql, runners, "DISK_CLEANUP")

    # then its Alertmanager alert made one incident on web-02 that the low-risk disk cleanup resolved
    # through a simulated execution (and Prometheus' resolve found it resolved)
    found = await incidents(services, company)
    assert list(found) == [("web-02", "HighDiskUsage")]
    incident = found[("web-02", "HighDiskUsage")]
    assert (incident["severity"], incident["status"]) == ("high", "RESOLVED")
    assert incident["auto_remediated"] is True
    executions = await services.pool.fetch(
        "SELECT status, simulated, command_id FROM remediation_executions WHERE incident_id = $1",
        incident["id"],
    )
    assert [(e["status"], e["simulated"]) for e in executions] == [("SUCCEEDED", True)]
    assert executions[0]["command_id"].startswith("simulated-")
    # and the run says so
    body = await gql(RUN, {"c": company.gid}, token=(await factory.user(Role.MSP_ADMIN)).token)
    assert body["data"]["demoRun"] | {"id": None} == {
        "id": None,
        "status": "FINISHED",
        "step": 2,
        "totalSteps": 2,
        "alertsSent": 2,
        "message": "web-02: /var back to 41% after the cleanup",
    }
    assert (run["status"], run["step"]) == ("RUNNING", 0)


async def test_database_cascade_points_at_the_database_and_waits_for_an_approval(
    services, factory, gql, runners
):
    company, _ = await played(services, factory, gql, runners, "DATABASE_CASCADE")

    found = await incidents(services, company)
    assert set(found) == {
        ("db-primary", "PostgreSQLDown"),
        ("web-01", "Database connection errors"),
        ("web-02", "Database connection errors"),
        ("lb-01", "High 5xx rate"),
        ("lb-01", "backend_pool_unhealthy"),
    }
    db = found[("db-primary", "PostgreSQLDown")]
    analyses = {
        r["incident_id"]: r
        for r in await services.pool.fetch(
            "SELECT incident_id, pattern_type, root_cause FROM incident_analyses WHERE company_id = $1",
            company.id,
        )
    }
    web = found[("web-01", "Database connection errors")]
    assert analyses[web["id"]]["pattern_type"] == "CASCADING_FAILURE"
    assert "db-primary" in analyses[web["id"]]["root_cause"]
    # the PostgreSQL restart (medium risk) waits for a company admin
    approvals = await services.pool.fetch(
        "SELECT status FROM remediation_approvals WHERE incident_id = $1", db["id"]
    )
    assert [a["status"] for a in approvals] == ["PENDING"]
    # the web servers' incidents follow it, and nobody is paged for any downstream one
    followers = {
        r["incident_id"]: r
        for r in await services.pool.fetch(
            "SELECT incident_id, action, root_incident_id FROM incident_decisions WHERE company_id = $1",
            company.id,
        )
    }
    for key in (("web-01", "Database connection errors"), ("web-02", "Database connection errors")):
        decided = followers[found[key]["id"]]
        assert (decided["action"], decided["root_incident_id"]) == ("FOLLOW_ROOT_CAUSE", db["id"])
    escalated = await services.pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = ANY($1::uuid[]) AND kind = 'ESCALATED'",
        [found[k]["id"] for k in found if k[0] != "db-primary"],
    )
    assert escalated == 0


async def test_alert_storm_flapping_and_noisy_singletons(services, factory, gql, runners):
    # (the storm's four rounds first: what the analysis says while it is on)
    storm = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [storm])
    storm_run = _uuid((await start(gql, admin.token, storm, "ALERT_STORM"))["id"])
    await play(services, storm_run, runners, until_step=4)
    found = await incidents(services, storm)
    assert {k for k in found if k[1] == "HighPacketLoss"} == {
        (h, "HighPacketLoss") for h in ("web-01", "web-02", "lb-01", "db-primary", "edge-fw-01", "edge-fw-02")
    }
    assert all(r["alert_count"] == 4 for r in found.values())
    patterns = {
        r["incident_id"]: r["pattern_type"]
        for r in await services.pool.fetch(
            "SELECT incident_id, pattern_type FROM incident_analyses WHERE company_id = $1", storm.id
        )
    }
    # the firewalls, linked to nothing, are the storm; the linked layout reads as a cascade first
    for host in ("edge-fw-01", "edge-fw-02"):
        assert patterns[found[(host, "HighPacketLoss")]["id"]] == "ALERT_STORM"
    assert set(patterns.values()) == {"ALERT_STORM", "CASCADING_FAILURE"}
    # and once the link is back, Prometheus' resolves close every one of them
    await play(services, storm_run, runners)
    assert {r["status"] for r in (await incidents(services, storm)).values()} == {"RESOLVED"}

    flapping, _ = await played(services, factory, gql, runners, "FLAPPING_SERVICE")
    [check] = (await incidents(services, flapping)).values()
    assert (check["asset_name"], check["flapping"]) == ("web-01", True)

    noisy, _ = await played(services, factory, gql, runners, "NOISY_SINGLETONS")
    found = await incidents(services, noisy)
    assert len(found) == 4
    assert found[("web-01", "NTP time offset above 100 ms")]["status"] == "RESOLVED"
    assert {r["alert_count"] for r in found.values()} == {1}


async def test_sla_breach_sets_a_one_minute_target_that_the_monitor_breaches(services, factory, gql, runners):
    company, _ = await played(services, factory, gql, runners, "SLA_BREACH")

    policy = await services.pool.fetchval(
        "SELECT sla_policy->'targets'->'low' FROM companies WHERE id = $1", company.id
    )
    assert policy == "[1, 5]"
    [incident] = (await incidents(services, company)).values()
    clocks = await services.pool.fetchrow("SELECT * FROM incident_sla WHERE incident_id = $1", incident["id"])
    assert clocks["response_deadline"] - clocks["response_started_at"] == timedelta(minutes=1)
    # the audit log says who changed the policy
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE company_id = $1 AND action = 'sla_policy.update'",
            company.id,
        )
        == 1
    )

    # when the monitor looks two minutes later, nobody having responded
    monitor = SlaMonitor(services.pool)
    await monitor.run_once(clocks["response_deadline"] + timedelta(minutes=1))

    # then the response deadline is breached
    kinds = await services.pool.fetch(
        "SELECT clock, kind FROM sla_events WHERE incident_id = $1", incident["id"]
    )
    assert ("response", "breach") in {(k["clock"], k["kind"]) for k in kinds}


async def test_who_may_start_and_stop_a_demo_and_what_is_refused(services, factory, gql):
    # given a demo company A, another demo company B and an ordinary company C
    a, b = await demo_company(services, factory), await demo_company(services, factory)
    plain = await factory.company()
    admin_a = await factory.user(Role.COMPANY_ADMIN, [a])
    admin_c = await factory.user(Role.COMPANY_ADMIN, [plain])
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    msp = await factory.user(Role.MSP_ADMIN)

    async def errors(token: str, company: str, scenario: str = "MIXED") -> list[dict[str, Any]]:
        body = await gql(START, {"input": {"companyId": company, "scenario": scenario}}, token=token)
        assert body["data"]["demoStart"]["demo"] is None or not body["data"]["demoStart"]["userErrors"]
        found: list[dict[str, Any]] = body["data"]["demoStart"]["userErrors"]
        return found

    # then another company's admin, a technician, an unknown id and an ordinary company are refused
    assert await errors(admin_a.token, b.gid) == [
        {"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}
    ]
    assert await errors(admin_a.token, gid("Company", uuid.uuid4())) == [
        {"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}
    ]
    assert await errors(tech_a.token, a.gid) == [
        {
            "field": "companyId",
            "message": "only the company's admins and MSP admins run demos",
            "code": "PERMISSION_DENIED",
        }
    ]
    [not_demo] = await errors(admin_c.token, plain.gid)
    assert (not_demo["field"], not_demo["code"]) == ("companyId", "NOT_DEMO_COMPANY")
    # and none of them wrote a run or changed a key
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM demo_runs WHERE company_id = ANY($1::uuid[])", [a.id, b.id, plain.id]
        )
        == 0
    )
    key_b = await services.pool.fetchval("SELECT api_key_hash FROM companies WHERE id = $1", b.id)

    # when A's admin starts one, a second start is refused, and an MSP admin stops it
    assert await errors(admin_a.token, a.gid, "FLAPPING_SERVICE") == []
    assert await errors(msp.token, a.gid) == [
        {
            "field": None,
            "message": "a demo run is already under way for this company: stop it first",
            "code": "ALREADY_RUNNING",
        }
    ]
    body = await gql(STOP, {"input": {"companyId": a.gid}}, token=msp.token)
    stopped = body["data"]["demoStop"]
    assert stopped["userErrors"] == []
    assert stopped["demo"]["status"] == "STOPPED"
    assert stopped["demo"]["message"].startswith("stopped by ")
    # then nothing more is sent for it, and a second stop says there is nothing to stop
    assert await runner(services).run_once(datetime.now(UTC)) >= 0
    assert await services.pool.fetchval("SELECT step FROM demo_runs WHERE company_id = $1", a.id) == 0
    body = await gql(STOP, {"input": {"companyId": a.gid}}, token=admin_a.token)
    assert body["data"]["demoStop"]["userErrors"] == [
        {"field": "companyId", "message": "the company has no demo run under way", "code": "NOT_RUNNING"}
    ]
    # and B's key was never touched; A's reads its run, B's admin-less outsider reads none
    assert await services.pool.fetchval("SELECT api_key_hash FROM companies WHERE id = $1", b.id) == key_b
    mine = await gql(RUN, {"c": a.gid}, token=tech_a.token)
    assert mine["data"]["demoRun"]["status"] == "STOPPED"
    theirs = await gql(RUN, {"c": a.gid}, token=admin_c.token)
    assert theirs["data"]["demoRun"] is None


async def test_a_run_left_by_a_crashed_process_is_resumed_after_its_lease_without_duplicates(
    services, factory, gql
):
    # given a run whose first step was sent by a process that died before recording it
    company = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    run = await start(gql, admin.token, company, "NOISY_SINGLETONS")
    run_id = _uuid(run["id"])
    real = demo_sender(services)

    class DiesAfterSending:
        async def post(self, tool: str, headers: dict[str, str], body: bytes) -> int:
            await real.post(tool, headers, body)
            raise RuntimeError("the process died")

    now = datetime.now(UTC)
    crashed = DemoRunner(services.pool, lambda: DiesAfterSending(), services.cipher.decrypt, 0.0)
    assert await crashed.run_once(now) >= 1
    row = await services.pool.fetchrow("SELECT step, lease_until FROM demo_runs WHERE id = $1", run_id)
    assert row["step"] == 0

    # when another process looks while the lease runs, and again once it ran out
    other = runner(services)
    assert await other.run_once(now + timedelta(seconds=30)) == 0
    assert await other.run_once(row["lease_until"]) == 1

    # then the step is recorded once and its alert stored once (the resend was a replay)
    after = await services.pool.fetchrow("SELECT step, alerts_sent FROM demo_runs WHERE id = $1", run_id)
    assert (after["step"], after["alerts_sent"]) == (1, 1)
    assert await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id) == 1


async def test_only_a_demo_companys_executions_are_simulated(services, factory, runners):
    # given the demo layout on an ordinary company with AWS settings and on a demo company
    plain = await factory.company()
    async with factory.uow() as uow:
        await uow.aws.set(plain.id, AwsAccess("eu-west-1", AwsAuthType.ROLE, "arn:aws:iam::1:role/x", "e"))
        await ensure_demo_assets(uow, plain.id)
    demo = await demo_company(services, factory)

    # when each gets a disk alert on web-02
    for company in (plain, demo):
        await ingest(services, company, alert("web-02", "HighDiskUsage", at=datetime.now(UTC)))
    await settle(services, runners)

    # then the decisions ran the disk cleanup on both, simulated on the demo company only
    rows = {
        r["company_id"]: r["simulated"]
        for r in await services.pool.fetch(
            "SELECT company_id, simulated FROM remediation_executions WHERE company_id = ANY($1::uuid[])",
            [plain.id, demo.id],
        )
    }
    assert rows == {plain.id: False, demo.id: True}
    # (the ordinary company's run is no other test's business: the real executor would take it)
    await services.pool.execute("DELETE FROM remediation_executions WHERE company_id = $1", plain.id)


async def test_a_worker_that_cannot_reach_the_webhooks_stops_the_run_and_says_why(services, factory, gql):
    # given a run, and a worker process with no webhook endpoint in reach (no ALERTWHISPERER_DEMO_INGEST_URL)
    company = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    run_id = _uuid((await start(gql, admin.token, company, "SLA_BREACH"))["id"])

    def unreachable() -> Any:
        raise RuntimeError("demo runs need the webhook endpoint: set ALERTWHISPERER_DEMO_INGEST_URL")

    # when it takes the run
    await DemoRunner(services.pool, unreachable, services.cipher.decrypt, 0.0).run_once(datetime.now(UTC))

    # then the run is stopped with the reason, nothing sent
    row = await services.pool.fetchrow("SELECT status, step, message FROM demo_runs WHERE id = $1", run_id)
    assert dict(row) == {
        "status": "STOPPED",
        "step": 0,
        "message": "demo runs need the webhook endpoint: set ALERTWHISPERER_DEMO_INGEST_URL",
    }


async def test_each_cycle_of_a_looping_run_opens_fresh_incidents_and_its_recoveries_close_them(
    services, factory, gql, runners
):
    # given a looping MIXED run (as `serve --demo` starts) whose first cycle has played
    company = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    first = _uuid((await start(gql, admin.token, company, "MIXED"))["id"])
    await services.pool.execute("UPDATE demo_runs SET loop = true WHERE id = $1", first)
    await play(services, first, runners)
    after_first = await incidents(services, company)
    assert len(after_first) == 18

    # when the loop's second cycle plays
    second = await services.pool.fetchrow(
        "SELECT id, cycle, status FROM demo_runs WHERE company_id = $1 AND id <> $2", company.id, first
    )
    assert (second["cycle"], second["status"]) == (2, "RUNNING")
    # (which the API tells: the run under way is the loop's second pass)
    body = await gql(LOOP_RUN, {"c": company.gid}, token=admin.token)
    assert body["data"]["demoRun"] == {"id": gid("DemoRun", second["id"]), "loop": True, "cycle": 2}
    await play(services, second["id"], runners)
    await services.pool.execute("UPDATE demo_runs SET status = 'STOPPED' WHERE company_id = $1", company.id)

    # then it opened 17 new incidents: all its problems but the database, whose incident (open, its
    # restart waiting for an approval) took the cycle's PostgreSQL alert
    found = await incidents(services, company)
    fresh = {k: r for k, r in found.items() if k not in after_first}
    assert len(fresh) == 17
    assert ("db-primary", "PostgreSQLDown") not in fresh
    db = found[("db-primary", "PostgreSQLDown")]
    assert (db["status"], db["alert_count"]) == ("NEW", 2)
    approvals = await services.pool.fetch(
        "SELECT status FROM remediation_approvals WHERE incident_id = $1", db["id"]
    )
    assert [a["status"] for a in approvals] == ["PENDING"]  # one request, not one per cycle
    # and the second cycle asked for no approval: the company's requests are the first cycle's two,
    # the restart still waiting, and the backup verification the critical db-primary needs approved
    # withdrawn when the cycle's late fix resolved the backup failure
    requests = await services.pool.fetch(
        "SELECT i.signature, a.status FROM remediation_approvals a JOIN incidents i ON i.id = a.incident_id "
        "WHERE a.company_id = $1",
        company.id,
    )
    assert sorted((r["signature"], r["status"]) for r in requests) == [
        ("Nightly backup failed", "WITHDRAWN"),
        ("PostgreSQLDown", "PENDING"),
    ]
    # and the recoveries resolved what they name: everything of the cycle is RESOLVED but the
    # flapping health check, the unanswered low-severity problem included (its late fix)
    still_open = {k for k, r in fresh.items() if r["status"] != "RESOLVED"}
    assert still_open == {("web-02", "http_check_failed /cart")}
    assert fresh[("web-01", "Log shipping stalled")]["status"] == "RESOLVED"
    assert fresh[("web-02", "http_check_failed /cart")]["flapping"] is True
    # and the cycle's disk alert (another mount, from Grafana) was cleaned up by the simulated runbook
    disk = fresh[("web-02", "Disk usage high on /var/log")]
    assert disk["auto_remediated"] is True
    executions = await services.pool.fetch(
        "SELECT status, simulated FROM remediation_executions WHERE incident_id = $1", disk["id"]
    )
    assert [(e["status"], e["simulated"]) for e in executions] == [("SUCCEEDED", True)]
    # and what the first cycle resolved stayed resolved (nothing of it was reopened)
    assert {k for k, r in after_first.items() if r["status"] == "RESOLVED"} == {
        k for k in after_first if found[k]["status"] == "RESOLVED"
    }
