"""The `decisions` reaction end to end on real PostgreSQL: alerts → incident → decision stored →
execution enqueued, approval requested, or escalation, with every step on the timeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from db.decisions import DecisionReaction, release_followers
from db.incident_writer import apply_action
from db.reactions import IncidentChange, ReactionRunner
from domain.alerts import Severity
from domain.aws import AwsAccess, AwsAuthType
from domain.incidents import IncidentAction
from domain.rbac import Role
from domain.runbooks import (
    ParameterType,
    Platform,
    RunbookCategory,
    RunbookParameter,
    RunbookRisk,
    RunbookSpec,
)
from domain.signatures import alias_group
from tests.helpers import Factory, MadeCompany, registered_reactions, unique
from tests.integration.test_correlation_worker import T0, alert, drain, ingest

ROLE_ARN = "arn:aws:iam::111122223333:role/AlertWhisperer"
LATER = T0 + timedelta(days=3650)  # every inbox row is due by then


@pytest.fixture(scope="module")
async def runner(services: Any) -> AsyncIterator[ReactionRunner]:
    """The reaction, registered for this module only (other modules' changes are none of its business)."""
    async with registered_reactions(services.pool, DecisionReaction()) as (r,):
        yield r


async def react(runner: ReactionRunner) -> int:
    handled = 0
    while n := await runner.run_once(now=LATER):
        handled += n
    return handled


def spec(
    signature: str, risk: RunbookRisk = RunbookRisk.LOW, auto_approve: bool = True, **more: Any
) -> RunbookSpec:
    return replace(
        RunbookSpec(
            name=unique("Disk Cleanup"),
            category=RunbookCategory.INFRASTRUCTURE,
            platform=Platform.LINUX,
            commands=("journalctl --vacuum-size={{keep}}",),
            parameters=(RunbookParameter("keep", ParameterType.STRING, "200M"),),
            health_check="test $(df --output=pcent / | tail -1 | tr -dc 0-9) -lt 90",
            signatures=(signature,),
            risk=risk,
            auto_approve=auto_approve,
        ),
        **more,
    )


class World:
    def __init__(self, services: Any, factory: Factory) -> None:
        self.services = services
        self.factory = factory

    async def company(self, *, aws: bool = True, **settings: Any) -> MadeCompany:
        company = await self.factory.company()
        if aws:
            async with self.factory.uow() as uow:
                await uow.aws.set(company.id, AwsAccess("eu-west-1", AwsAuthType.ROLE, ROLE_ARN, "ext-1"))
        for key, value in settings.items():
            await self.services.pool.execute(
                f"UPDATE companies SET {key} = $2 WHERE id = $1", company.id, value
            )
        return company

    async def runbook(self, company: MadeCompany, runbook_spec: RunbookSpec) -> uuid.UUID:
        async with self.factory.uow() as uow:
            row, _ = await uow.runbooks.create(company.id, runbook_spec)
        return row.id

    async def incident(
        self, company: MadeCompany, signature: str, asset: str = "web-01", severity: Severity = Severity.HIGH
    ) -> Any:
        await ingest(self.services, company, alert(asset, signature, severity=severity))
        await drain(self.services)
        return await self.services.pool.fetchrow(
            "SELECT * FROM incidents WHERE company_id = $1 AND signature = $2", company.id, signature
        )

    async def decision(self, incident_id: uuid.UUID) -> Any:
        return await self.services.pool.fetchrow(
            "SELECT * FROM incident_decisions WHERE incident_id = $1", incident_id
        )

    async def timeline(self, incident_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
        return [
            (r["kind"], orjson.loads(r["data"]))
            for r in await self.services.pool.fetch(
                "SELECT kind, data::text AS data FROM incident_events WHERE incident_id = $1 ORDER BY id",
                incident_id,
            )
        ]

    async def executions(self, incident_id: uuid.UUID) -> list[Any]:
        return await self.services.pool.fetch(
            "SELECT * FROM remediation_executions WHERE incident_id = $1 ORDER BY created_at", incident_id
        )

    async def approvals(self, incident_id: uuid.UUID) -> list[Any]:
        return await self.services.pool.fetch(
            "SELECT * FROM remediation_approvals WHERE incident_id = $1 ORDER BY requested_at", incident_id
        )


@pytest.fixture
def world(services: Any, factory: Factory) -> World:
    return World(services, factory)


async def test_a_low_risk_auto_approved_runbook_runs_at_once(world, runner):
    # given a company with AWS access, a LINUX asset with an instance id, and a LOW auto-approved runbook
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("disk_space_low")
    runbook_id = await world.runbook(company, spec(signature))

    # when an alert opens an incident and the reaction runs
    incident = await world.incident(company, signature)
    assert await react(runner) >= 1

    # then the decision is stored, on the timeline, and the execution is enqueued with rendered commands
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["approval_required"], decision["reason"]) == (
        "EXECUTE_RUNBOOK",
        False,
        "AUTO_APPROVED",
    )
    assert (decision["runbook_id"], decision["runbook_version"], decision["decided_for_version"]) == (
        runbook_id,
        1,
        1,
    )
    assert decision["explanation"].endswith(
        f"matches {signature} on web-01; running it on i-0abc through SSM"
    )
    assert "(low risk, auto-approved)" in decision["explanation"]
    [execution] = await world.executions(incident["id"])
    assert execution["instance_ids"] == ["i-0abc"]
    assert execution["document"] == "AWS-RunShellScript"
    assert execution["commands"] == ["journalctl --vacuum-size=200M"]
    assert execution["health_check"].startswith("test $(df")
    assert (execution["runbook_id"], execution["runbook_version"]) == (runbook_id, 1)
    assert execution["started_by"] == "system:decisions"
    assert execution["status"] == "PENDING"
    assert execution["approval_id"] is None
    kinds = [k for k, _ in await world.timeline(incident["id"])]
    assert kinds[-1] == "DECIDED"
    [(_, decided)] = [(k, d) for k, d in await world.timeline(incident["id"]) if k == "DECIDED"]
    assert decided["explanation"] == decision["explanation"]
    assert decided["actor"] == "system:decisions"
    # the incident stays with the runbook (no escalation)
    status = await world.services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident["id"])
    assert status == "NEW"
    assert await world.approvals(incident["id"]) == []


@pytest.mark.parametrize(
    ("risk", "auto_approve", "critical"),
    [(RunbookRisk.MEDIUM, False, False), (RunbookRisk.LOW, False, False), (RunbookRisk.LOW, True, True)],
)
async def test_a_run_that_needs_approval_asks_the_company_admins(world, runner, risk, auto_approve, critical):
    # given a runbook that needs an approval here (MEDIUM, LOW without autoApprove, or a critical asset)
    company = await world.company(approval_expiry_minutes=45)
    admin = await world.factory.user(Role.COMPANY_ADMIN, [company])
    tech = await world.factory.user(Role.TECHNICIAN, [company])
    await world.factory.asset(
        company, "db-01", cloud_instance_id="i-0db", platform="LINUX", is_critical=critical
    )
    signature = unique("sig")
    runbook_id = await world.runbook(company, spec(signature, risk, auto_approve))

    # when an incident opens and the reaction runs
    incident = await world.incident(company, signature, asset="db-01")
    await react(runner)

    # then a PENDING request waits for the company's expiry, on the timeline, and its admins are told;
    # nothing runs yet
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["approval_required"]) == ("EXECUTE_RUNBOOK", True)
    assert decision["reason"] == ("CRITICAL_ASSET" if critical else "APPROVAL_REQUIRED")
    [approval] = await world.approvals(incident["id"])
    assert approval["status"] == "PENDING"
    assert (approval["runbook_id"], approval["runbook_version"]) == (runbook_id, 1)
    assert approval["instance_ids"] == ["i-0db"]
    assert approval["requested_by"] == "system:decisions"
    assert approval["expires_at"] - approval["requested_at"] == timedelta(minutes=45)
    timeline = await world.timeline(incident["id"])
    assert [k for k, _ in timeline][-2:] == ["DECIDED", "APPROVAL_REQUESTED"]
    assert timeline[-1][1]["approvalId"] == str(approval["id"])
    told = await world.services.pool.fetch(
        "SELECT user_id, kind, dedup_key FROM notifications WHERE incident_id = $1", incident["id"]
    )
    assert [(r["user_id"], r["kind"], r["dedup_key"]) for r in told] == [
        (admin.id, "APPROVAL_REQUESTED", f"approval:{approval['id']}")
    ]
    assert tech.id not in {r["user_id"] for r in told}
    assert await world.executions(incident["id"]) == []


ESCALATIONS = {
    "no runbook": ("NO_RUNBOOK", {}, {}, None),
    "HIGH risk": ("HIGH_RISK", {}, {}, RunbookRisk.HIGH),
    "no instance id": ("NO_INSTANCE_ID", {}, {"cloud_instance_id": None}, RunbookRisk.LOW),
    "no AWS settings": ("NO_AWS_SETTINGS", {"aws": False}, {}, RunbookRisk.LOW),
    "remediation off": ("REMEDIATION_DISABLED", {"auto_remediation_enabled": False}, {}, RunbookRisk.LOW),
}


@pytest.mark.parametrize("case", list(ESCALATIONS))
async def test_each_reason_to_escalate_escalates_the_incident_saying_why(world, runner, case):
    reason, company_settings, asset_fields, risk = ESCALATIONS[case]
    # given a company and asset where the runbook cannot (or must not) run
    company = await world.company(**company_settings)
    await world.factory.asset(
        company, "web-01", **({"cloud_instance_id": "i-0abc", "platform": "LINUX"} | asset_fields)
    )
    signature = unique("sig")
    if risk is not None:
        await world.runbook(company, spec(signature, risk, True))

    # when an incident opens and the reaction runs
    incident = await world.incident(company, signature)
    await react(runner)

    # then the decision says why, and the incident is escalated with that reason; nothing runs
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["reason"]) == ("ESCALATE_TO_TECHNICIAN", reason)
    row = await world.services.pool.fetchrow(
        "SELECT status, version FROM incidents WHERE id = $1", incident["id"]
    )
    assert row["status"] == "ESCALATED"
    timeline = await world.timeline(incident["id"])
    assert [k for k, _ in timeline][-2:] == ["DECIDED", "ESCALATED"]
    escalated = timeline[-1][1]
    assert escalated["reason"] == reason
    assert escalated["note"] == decision["explanation"]
    assert escalated["actor"] == "system:decisions"
    assert await world.executions(incident["id"]) == []
    assert await world.approvals(incident["id"]) == []
    # the escalation is a change of its own, which wants no new decision
    assert await react(runner) == 0 or (await world.decision(incident["id"]))["decided_for_version"] == 1


async def test_a_change_handled_twice_decides_once(world, runner, services):
    # given an incident whose CREATED change was decided (an execution enqueued)
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("sig")
    await world.runbook(company, spec(signature))
    incident = await world.incident(company, signature)
    await react(runner)
    row = await services.pool.fetchrow(
        "SELECT * FROM incident_changes WHERE incident_id = $1 AND kind = 'CREATED'", incident["id"]
    )
    change = IncidentChange(
        id=row["id"],
        company_id=row["company_id"],
        incident_id=row["incident_id"],
        version=row["version"],
        kind=row["kind"],
        before_status=row["before_status"],
        after_status=row["after_status"],
        before_severity=row["before_severity"],
        after_severity=row["after_severity"],
        actor=row["actor"],
        at=row["at"],
        attempt=2,
    )

    # when the same change is handled again (a redelivery)
    async with services.pool.acquire() as conn, conn.transaction():
        await DecisionReaction().handle(conn, change)

    # then nothing new was written
    assert len(await world.executions(incident["id"])) == 1
    assert [k for k, _ in await world.timeline(incident["id"])].count("DECIDED") == 1


async def test_a_severity_rise_decides_again_but_never_starts_a_second_run(world, runner):
    # given an incident whose run is enqueued (not finished)
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("sig")
    await world.runbook(company, spec(signature))
    incident = await world.incident(company, signature, severity=Severity.MEDIUM)
    await react(runner)

    # when a critical alert raises its severity
    await ingest(
        world.services,
        company,
        alert(
            "web-01", signature, severity=Severity.CRITICAL, at=T0 + timedelta(seconds=20), fingerprint="x:2"
        ),
    )
    await drain(world.services)
    await react(runner)

    # then a second decision is stored (for the later version) and on the timeline, but no second run
    decision = await world.decision(incident["id"])
    assert decision["decided_for_version"] > 1
    decided = [d for k, d in await world.timeline(incident["id"]) if k == "DECIDED"]
    assert [d["trigger"] for d in decided] == ["CREATED", "SEVERITY_RAISED"]
    assert "already under way" in decided[-1]["note"]
    assert len(await world.executions(incident["id"])) == 1


async def test_a_reopened_incident_is_decided_again(world, runner, services):
    # given an incident decided (escalated: no runbook) and then resolved
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("sig")
    incident = await world.incident(company, signature)
    await react(runner)
    await ingest(services, company, alert("web-01", signature, at=T0 + timedelta(minutes=1), resolved=True))
    await drain(services, now=T0 + timedelta(minutes=2))
    assert (
        await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident["id"])
        == "RESOLVED"
    )
    # a runbook for it exists now
    await world.runbook(company, spec(signature))
    await react(runner)

    # when the problem comes back inside the window and the incident reopens
    await ingest(services, company, alert("web-01", signature, at=T0 + timedelta(minutes=3)))
    await drain(services, now=T0 + timedelta(minutes=4))
    status = await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident["id"])
    if status == "RESOLVED":
        pytest.skip("this correlation window opened a new incident instead of reopening")
    await react(runner)

    # then it is decided again, and this time its runbook runs
    decided = [d for k, d in await world.timeline(incident["id"]) if k == "DECIDED"]
    assert [d["reason"] for d in decided] == ["NO_RUNBOOK", "AUTO_APPROVED"]
    assert decided[-1]["trigger"] == "REOPENED"
    assert len(await world.executions(incident["id"])) == 1


async def test_a_resolved_incident_gets_no_decision(world, runner, services):
    # given an incident opened and resolved before the reaction ran
    company = await world.company()
    signature = unique("sig")
    incident = await world.incident(company, signature)
    await ingest(services, company, alert("web-01", signature, at=T0 + timedelta(minutes=1), resolved=True))
    await drain(services, now=T0 + timedelta(minutes=2))

    # when the reaction handles its changes
    await react(runner)

    # then nothing was decided: there is nothing left to fix
    assert await world.decision(incident["id"]) is None
    assert "DECIDED" not in [k for k, _ in await world.timeline(incident["id"])]


async def test_the_reaction_reads_what_it_needs_in_few_statements(world, runner, services):
    # given an incident of a company with runbooks
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("sig")
    await world.runbook(company, spec(signature))
    await world.incident(company, signature)
    statements: list[str] = []

    def log(query: Any) -> None:
        statements.append(query.query)

    class Counting(DecisionReaction):
        async def handle(self, conn: Any, change: IncidentChange) -> None:
            conn.add_query_logger(log)
            try:
                await super().handle(conn, change)
            finally:
                conn.remove_query_logger(log)

    # when the decision is made
    counting = ReactionRunner(services.pool, Counting(), batch=100)
    while await counting.run_once(now=LATER):
        pass

    # then it took four round trips: one read (the facts joined with the candidates), the decision
    # with its timeline entry, the execution, and the executor's wake-up
    assert len(statements) == 4, "\n".join(s.strip()[:60].replace("\n", " ") for s in statements)
    assert statements[0].lstrip().startswith("WITH f AS")


async def test_an_incident_a_technician_already_works_on_is_not_escalated_again(world, runner, services):
    # given an incident escalated by its first decision, then acknowledged by a technician
    company = await world.company()
    signature = unique("sig")
    incident = await world.incident(company, signature, severity=Severity.MEDIUM)
    await react(runner)
    await services.pool.execute("UPDATE incidents SET status = 'ACKNOWLEDGED' WHERE id = $1", incident["id"])

    # when its severity rises
    await ingest(
        services,
        company,
        alert(
            "web-01", signature, severity=Severity.CRITICAL, at=T0 + timedelta(seconds=20), fingerprint="x:3"
        ),
    )
    await drain(services)
    await react(runner)

    # then the new decision is on the timeline, and the incident stays with the technician
    kinds = [k for k, _ in await world.timeline(incident["id"])]
    assert kinds.count("DECIDED") == 2
    assert kinds[-1] == "DECIDED"
    assert (
        await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident["id"])
        == "ACKNOWLEDGED"
    )


# -- signature folding ---------------------------------------------------------------------------


async def test_another_tool_s_name_for_the_problem_finds_the_global_runbook_listed_for_it(world, runner):
    # given a company with no runbook of its own and a LINUX asset: the global library applies
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")

    # when Datadog says "Disk usage high" and, on another asset, Linux says "No space left on device"
    # (no library pattern finds the second: only its canonical signature disk_full does)
    await world.factory.asset(company, "web-02", cloud_instance_id="i-0def", platform="LINUX")
    datadog = await world.incident(company, "Disk usage high")
    enospc = await world.incident(company, "No space left on device", asset="web-02")
    await react(runner)

    # then both run the global disk cleanup listed for disk_space_low / disk_full
    for incident in (datadog, enospc):
        assert incident["canonical_signature"] == "disk_full"
        decision = await world.decision(incident["id"])
        assert (decision["action"], decision["reason"]) == ("EXECUTE_RUNBOOK", "AUTO_APPROVED")
        name, company_id = await world.services.pool.fetchrow(
            "SELECT name, company_id FROM runbooks WHERE id = $1", decision["runbook_id"]
        )
        assert (name, company_id) == ("Disk cleanup (Linux)", None)
    [execution] = await world.executions(enospc["id"])
    assert execution["instance_ids"] == ["i-0def"]


async def test_a_runbook_s_signatures_fold_under_the_company_s_alias_rules(world, runner):
    # given a company rule "ZorbJammed and Zorbulator queue stuck are one problem", and its runbook
    # listing only the first name
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    async with world.factory.uow() as uow:
        await uow.signature_aliases.create(company.id, alias_group(["ZorbJammed", "Zorbulator queue stuck"]))
    runbook_id = await world.runbook(company, spec("ZorbJammed"))
    # and another company with the same runbook but no such rule
    other = await world.company()
    await world.factory.asset(other, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    await world.runbook(other, spec("ZorbJammed"))

    # when each sees the other name
    incident = await world.incident(company, "Zorbulator queue stuck")
    theirs = await world.incident(other, "Zorbulator queue stuck")
    await react(runner)

    # then the company with the rule runs its runbook; the other has none that fits and escalates
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["runbook_id"]) == ("EXECUTE_RUNBOOK", runbook_id)
    assert (await world.decision(theirs["id"]))["reason"] == "NO_RUNBOOK"


async def test_the_company_s_own_runbook_for_the_literal_name_beats_a_folded_one(world, runner):
    # given the company's two runbooks: one for Datadog's literal name, one for another name of it
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    await world.runbook(company, spec("disk_space_low", name="a folded"))
    literal = await world.runbook(company, spec("Disk usage high", name="z literal"))

    # when Datadog's alert opens an incident
    incident = await world.incident(company, "Disk usage high")
    await react(runner)

    # then the literal name wins (exact before folded before pattern), and the company's own before
    # the global library that lists disk_full
    assert (await world.decision(incident["id"]))["runbook_id"] == literal


async def cascade(world: World) -> tuple[MadeCompany, str, str]:
    """A company where app-01 depends on db-01 (both LINUX with instance ids), a LOW auto-approved
    runbook for app-01's problem; db-01's incident opens, then app-01's: (company, db sig, app sig)."""
    company = await world.company()
    db = await world.factory.asset(company, "db-01", cloud_instance_id="i-0db", platform="LINUX")
    async with world.factory.uow() as uow:
        await uow.assets.create(
            company.id, {"name": "app-01", "cloud_instance_id": "i-0app", "platform": "LINUX"}, [db]
        )
    db_sig, app_sig = unique("DatabaseDown"), unique("HighLatency")
    await world.runbook(company, spec(app_sig))
    await world.incident(company, db_sig, asset="db-01")
    await world.incident(company, app_sig, asset="app-01")
    return company, db_sig, app_sig


async def test_a_downstream_incident_of_a_cascade_follows_its_root_instead_of_running_a_runbook(
    world, runner
):
    # given db-01's incident open, and app-01 (which depends on it) opening one whose signature a LOW
    # auto-approved runbook matches
    company, db_sig, app_sig = await cascade(world)
    root = await world.services.pool.fetchrow("SELECT * FROM incidents WHERE signature = $1", db_sig)
    follower = await world.services.pool.fetchrow("SELECT * FROM incidents WHERE signature = $1", app_sig)

    # when the decisions are made
    await react(runner)

    # then app-01's follows db-01's: nothing runs on the symptom, nothing is asked, nobody is paged
    decision = await world.decision(follower["id"])
    assert (decision["action"], decision["reason"]) == ("FOLLOW_ROOT_CAUSE", "CASCADE_DOWNSTREAM")
    assert decision["root_incident_id"] == root["id"]
    assert decision["runbook_id"] is None
    assert f"downstream of {db_sig} on db-01 (1 dependency hop upstream)" in decision["explanation"]
    assert await world.executions(follower["id"]) == []
    assert await world.approvals(follower["id"]) == []
    status = await world.services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", follower["id"])
    assert status == "NEW"
    [(kind, data)] = [e for e in await world.timeline(follower["id"]) if e[0] == "DECIDED"]
    assert data["rootIncidentId"] == str(root["id"])
    # and the root gets its own decision (no runbook fits DatabaseDown: a technician takes it)
    assert (await world.decision(root["id"]))["reason"] == "NO_RUNBOOK"


async def test_a_follower_that_outlives_its_root_is_decided_again_after_the_grace(world, runner, services):
    # given app-01's incident following db-01's, and db-01's resolved
    company, db_sig, app_sig = await cascade(world)
    await react(runner)
    root = await services.pool.fetchval("SELECT id FROM incidents WHERE signature = $1", db_sig)
    follower = await services.pool.fetchval("SELECT id FROM incidents WHERE signature = $1", app_sig)
    resolved_at = T0 + timedelta(minutes=20)
    async with services.pool.acquire() as conn, conn.transaction():
        assert await apply_action(conn, root, IncidentAction.RESOLVE, "system:test", resolved_at)

    # when the sweeper looks a minute later, then nothing changes: its own resolve may still come
    assert await release_followers(services.pool, resolved_at + timedelta(minutes=1)) == 0
    assert (await world.decision(follower))["action"] == "FOLLOW_ROOT_CAUSE"

    # when it looks after the grace, then the follower is decided as a problem of its own: its runbook runs
    assert await release_followers(services.pool, resolved_at + timedelta(minutes=6)) >= 1
    decision = await world.decision(follower)
    assert (decision["action"], decision["reason"]) == ("EXECUTE_RUNBOOK", "AUTO_APPROVED")
    assert decision["root_incident_id"] is None
    [execution] = await world.executions(follower)
    assert execution["instance_ids"] == ["i-0app"]
    decided = [d for k, d in await world.timeline(follower) if k == "DECIDED"]
    assert [d["trigger"] for d in decided] == ["CREATED", "ROOT_RESOLVED"]
    # and once decided again it is not released twice
    await release_followers(services.pool, resolved_at + timedelta(minutes=7))
    assert (await world.decision(follower))["decided_at"] == decision["decided_at"]
    assert len(await world.executions(follower)) == 1


async def llm_suggests(
    services: Any, company: MadeCompany, incident_id: uuid.UUID, runbook_id: uuid.UUID
) -> None:
    await services.pool.execute(
        "INSERT INTO incident_llm_analyses (incident_id, company_id, source, model, latency_ms, pattern_type,"
        " root_cause, confidence, explanation, suggested_runbook_id, tokens, prompt, incident_version,"
        " analyzed_at) VALUES ($1, $2, 'BEDROCK', 'claude', 900, 'ISOLATED', 'a full disk', 0.8,"
        " 'The disk is full.', $3, 100, '{}'::jsonb, 1, now())",
        incident_id,
        company.id,
        runbook_id,
    )


async def test_an_llm_suggested_runbook_is_used_only_with_an_approval_when_none_matches(
    world, runner, services
):
    # given an incident no runbook matches by signature, decided once (a technician takes it)
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("weird_disk_thing")
    incident = await world.incident(company, signature, severity=Severity.MEDIUM)
    await react(runner)
    assert (await world.decision(incident["id"]))["reason"] == "NO_RUNBOOK"
    # and an LLM analysis that names a LOW auto-approved LINUX runbook of the company as the fix
    suggested = await world.runbook(company, spec(unique("other_signature")))
    await llm_suggests(services, company, incident["id"], suggested)

    # when the incident is decided again (its severity rose)
    await ingest(services, company, alert("web-01", signature, severity=Severity.CRITICAL))
    await drain(services)
    await react(runner)

    # then the suggestion is taken, but a company admin approves it first, auto-approve or not
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["reason"]) == ("EXECUTE_RUNBOOK", "SUGGESTED_BY_ANALYSIS")
    assert decision["approval_required"] is True
    assert decision["runbook_id"] == suggested
    assert "the Bedrock analysis suggests" in decision["explanation"]
    [approval] = await world.approvals(incident["id"])
    assert (approval["status"], approval["runbook_id"]) == ("PENDING", suggested)
    assert await world.executions(incident["id"]) == []


async def test_an_llm_suggestion_the_asset_cannot_run_is_ignored(world, runner, services):
    # given a LINUX asset's incident no runbook matches, and an LLM analysis naming a WINDOWS runbook
    company = await world.company()
    await world.factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    signature = unique("weird_disk_thing")
    incident = await world.incident(company, signature, severity=Severity.MEDIUM)
    windows = await world.runbook(
        company,
        spec(
            unique("other"), platform=Platform.WINDOWS, commands=("Clear-RecycleBin -Force",), parameters=()
        ),
    )
    await llm_suggests(services, company, incident["id"], windows)

    # when it is decided
    await react(runner)

    # then the suggestion does not count: no runbook, a technician takes it
    decision = await world.decision(incident["id"])
    assert (decision["action"], decision["reason"]) == ("ESCALATE_TO_TECHNICIAN", "NO_RUNBOOK")
    assert await world.approvals(incident["id"]) == []
