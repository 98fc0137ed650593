"""Approvals and on-demand runs through the API: who may approve, reject and run; approving twice,
what was rejected or expired, and two approvals racing; expiry; `Incident.decision`; and tenant
isolation of every new field and mutation."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.approvals import expire_due
from db.decisions import REACTION_NAME, request_approval, runbook_version
from domain.aws import AwsAccess, AwsAuthType
from domain.rbac import Role
from domain.runbooks import (
    ParameterType,
    Platform,
    RunbookCategory,
    RunbookParameter,
    RunbookRisk,
    RunbookSpec,
)
from tests import incident_rows as rows
from tests.helpers import Factory, MadeCompany, MadeUser, gid, unique

ROLE_ARN = "arn:aws:iam::111122223333:role/AlertWhisperer"
ERRORS = "userErrors { field message code }"
APPROVAL = (
    "id status runbookVersion instanceIds parameters requestedBy requestedAt expiresAt decidedAt comment "
    "incident { id } runbook { id name } decidedBy { id } company { id }"
)
APPROVE = f"""mutation($i: RemediationDecisionInput!) {{
  remediationApprove(input: $i) {{ approval {{ {APPROVAL} }} executionId {ERRORS} }} }}"""
REJECT = f"""mutation($i: RemediationDecisionInput!) {{
  remediationReject(input: $i) {{ approval {{ {APPROVAL} }} {ERRORS} }} }}"""
LIST = """query($c: ID, $s: RemediationApprovalStatus, $first: Int, $after: String) {
  remediationApprovals(companyId: $c, status: $s, first: $first, after: $after) {
    nodes { id status } pageInfo { hasNextPage endCursor } } }"""
EXECUTE = f"""mutation($i: RunbookExecuteInput!) {{
  runbookExecute(input: $i) {{ executionId approval {{ id status requestedBy incident {{ id }} }} {ERRORS} }} }}"""
DECISION = """query($id: ID!) { incident(id: $id) { id decision {
  action reason runbook { id name } approvalRequired priorityScore explanation decidedAt runbookVersion } } }"""


def spec(risk: RunbookRisk = RunbookRisk.MEDIUM, auto_approve: bool = False, **more: Any) -> RunbookSpec:
    return RunbookSpec(
        name=unique("Restart app"),
        category=RunbookCategory.SERVICES,
        platform=Platform.LINUX,
        commands=("systemctl restart {{unit}}",),
        parameters=(RunbookParameter("unit", ParameterType.STRING, "app", "", "[a-z]+"),),
        signatures=(unique("sig"),),
        risk=risk,
        auto_approve=auto_approve,
        **more,
    )


@dataclass
class Tenant:
    company: MadeCompany
    admin: MadeUser
    tech: MadeUser
    asset: uuid.UUID
    runbook: uuid.UUID
    incident: uuid.UUID


async def tenant(
    factory: Factory, services: Any, risk: RunbookRisk = RunbookRisk.MEDIUM, auto_approve: bool = False
) -> Tenant:
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    asset = await factory.asset(company, "web-01", cloud_instance_id="i-0abc", platform="LINUX")
    async with factory.uow() as uow:
        await uow.aws.set(company.id, AwsAccess("eu-west-1", AwsAuthType.ROLE, ROLE_ARN, "ext-1"))
        runbook, _ = await uow.runbooks.create(company.id, spec(risk, auto_approve))
    incident = await rows.incident(services, company.id, asset_id=asset)
    return Tenant(company, admin, tech, asset, runbook.id, incident)


async def pending(services: Any, t: Tenant, *, expires_in: timedelta = timedelta(hours=1)) -> uuid.UUID:
    """A PENDING request for `t`'s incident, as a decision makes it."""
    now = datetime.now(UTC)
    async with services.pool.acquire() as conn, conn.transaction():
        runbook = await runbook_version(conn, t.runbook, 1)
        assert runbook is not None
        approval = await request_approval(
            conn,
            company_id=t.company.id,
            incident_id=t.incident,
            runbook=runbook,
            asset_ids=[t.asset],
            instance_ids=["i-0abc"],
            parameters={},
            requested_by="system:decisions",
            now=now - timedelta(minutes=1),
            expiry_minutes=int(expires_in.total_seconds() // 60) + 1 if expires_in > timedelta(0) else 0,
            explanation="x",
        )
        if expires_in <= timedelta(0):
            await conn.execute(
                "UPDATE remediation_approvals SET expires_at = $2 WHERE id = $1", approval, now + expires_in
            )
    assert approval is not None
    return approval


async def executions(services: Any, incident: uuid.UUID) -> list[Any]:
    return await services.pool.fetch("SELECT * FROM remediation_executions WHERE incident_id = $1", incident)


async def status_of(services: Any, approval: uuid.UUID) -> str:
    return str(
        await services.pool.fetchval("SELECT status FROM remediation_approvals WHERE id = $1", approval)
    )


async def kinds(services: Any, incident: uuid.UUID) -> list[str]:
    return [
        r["kind"]
        for r in await services.pool.fetch(
            "SELECT kind FROM incident_events WHERE incident_id = $1 ORDER BY id", incident
        )
    ]


def decoded(global_id: str) -> tuple[str, str]:
    kind, _, raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")
    return kind, raw


# ---- approve / reject ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["company admin", "MSP admin"])
async def test_an_approver_approves_and_exactly_one_execution_starts(gql, factory, services, who):
    # given a pending request of a company
    t = await tenant(factory, services)
    approval = await pending(services, t)
    approver = t.admin if who == "company admin" else await factory.user(Role.MSP_ADMIN)

    # when the approver approves it with a comment
    body = await gql(
        APPROVE, {"i": {"id": gid("RemediationApproval", approval), "comment": "go"}}, approver.token
    )

    # then it is APPROVED by them, and one execution of that version started with the approval's id
    out = body["data"]["remediationApprove"]
    assert out["userErrors"] == []
    assert out["approval"]["status"] == "APPROVED"
    assert out["approval"]["decidedBy"] == {"id": gid("User", approver.id)}
    assert out["approval"]["comment"] == "go"
    assert out["approval"]["incident"] == {"id": gid("Incident", t.incident)}
    assert out["approval"]["runbook"]["id"] == gid("Runbook", t.runbook)
    [execution] = await executions(services, t.incident)
    assert decoded(out["executionId"]) == ("Execution", str(execution["id"]))
    assert execution["approval_id"] == approval
    assert execution["commands"] == ["systemctl restart app"]
    assert execution["started_by"] == f"user:{approver.id}"
    assert (await kinds(services, t.incident))[-1] == "APPROVED"
    audit = await services.pool.fetchval(
        "SELECT action FROM audit_log WHERE entity_type = 'remediation_approval' AND entity_id = $1",
        str(approval),
    )
    assert audit == "remediation.approve"


@pytest.mark.parametrize("mutation", ["remediationApprove", "remediationReject"])
async def test_a_technician_cannot_approve_or_reject(gql, factory, services, mutation):
    # given a pending request and a technician of its company
    t = await tenant(factory, services)
    approval = await pending(services, t)

    # when the technician tries
    query = APPROVE if mutation == "remediationApprove" else REJECT
    body = await gql(query, {"i": {"id": gid("RemediationApproval", approval)}}, t.tech.token)

    # then PERMISSION_DENIED, and nothing changed
    assert body["data"][mutation]["userErrors"] == [
        {
            "field": None,
            "message": "only a company admin of this company or an MSP admin approves remediations",
            "code": "PERMISSION_DENIED",
        }
    ]
    assert await status_of(services, approval) == "PENDING"
    assert await executions(services, t.incident) == []


@pytest.mark.parametrize("mutation", ["remediationApprove", "remediationReject"])
async def test_another_companys_admin_finds_no_such_request(gql, factory, services, mutation):
    # given a pending request of A and the admin of B
    a = await tenant(factory, services)
    b = await tenant(factory, services)
    approval = await pending(services, a)

    # when B's admin tries to decide it
    query = APPROVE if mutation == "remediationApprove" else REJECT
    body = await gql(query, {"i": {"id": gid("RemediationApproval", approval)}}, b.admin.token)

    # then it does not exist for them, and nothing changed
    assert body["data"][mutation]["userErrors"] == [
        {"field": "id", "message": "approval request not found", "code": "NOT_FOUND"}
    ]
    assert await status_of(services, approval) == "PENDING"
    assert await executions(services, a.incident) == []


async def test_approving_twice_or_what_was_rejected_or_expired_is_refused(gql, factory, services):
    # given one request approved, one rejected and one past its expiry
    t = await tenant(factory, services)
    approved = await pending(services, t)
    first = await gql(APPROVE, {"i": {"id": gid("RemediationApproval", approved)}}, t.admin.token)
    assert first["data"]["remediationApprove"]["userErrors"] == []
    t2 = await tenant(factory, services)
    rejected = await pending(services, t2)
    await gql(REJECT, {"i": {"id": gid("RemediationApproval", rejected)}}, t2.admin.token)
    t3 = await tenant(factory, services)
    expired = await pending(services, t3, expires_in=-timedelta(seconds=1))

    # when each is approved (again)
    answers = {
        name: (await gql(APPROVE, {"i": {"id": gid("RemediationApproval", key)}}, admin.token))["data"][
            "remediationApprove"
        ]
        for name, key, admin in (
            ("approved", approved, t.admin),
            ("rejected", rejected, t2.admin),
            ("expired", expired, t3.admin),
        )
    }

    # then each gets its typed error, and no second command exists
    assert answers["approved"]["userErrors"] == [
        {"field": "id", "message": "the approval request was already approved", "code": "ALREADY_DECIDED"}
    ]
    assert answers["rejected"]["userErrors"] == [
        {"field": "id", "message": "the approval request was already rejected", "code": "ALREADY_DECIDED"}
    ]
    assert answers["expired"]["userErrors"] == [
        {"field": "id", "message": "the approval request has expired", "code": "APPROVAL_EXPIRED"}
    ]
    assert len(await executions(services, t.incident)) == 1
    assert await executions(services, t2.incident) == []
    assert await executions(services, t3.incident) == []


async def test_two_approvals_racing_start_one_execution(gql, factory, services):
    # given a pending request and two approvers (its company admin and an MSP admin)
    t = await tenant(factory, services)
    approval = await pending(services, t)
    msp = await factory.user(Role.MSP_ADMIN)
    variables = {"i": {"id": gid("RemediationApproval", approval)}}

    # when both approve at the same time
    bodies = await asyncio.gather(gql(APPROVE, variables, t.admin.token), gql(APPROVE, variables, msp.token))

    # then one wins and the other is told it was already approved; one execution exists
    outs = sorted((b["data"]["remediationApprove"] for b in bodies), key=lambda o: len(o["userErrors"]))
    assert outs[0]["userErrors"] == []
    assert outs[0]["executionId"]
    assert [e["code"] for e in outs[1]["userErrors"]] == ["ALREADY_DECIDED"]
    assert outs[1]["executionId"] is None
    assert len(await executions(services, t.incident)) == 1


async def test_rejecting_escalates_the_incident(gql, factory, services):
    # given a pending request
    t = await tenant(factory, services)
    approval = await pending(services, t)

    # when the admin rejects it
    body = await gql(
        REJECT, {"i": {"id": gid("RemediationApproval", approval), "comment": "not now"}}, t.admin.token
    )

    # then it is REJECTED and the incident went to a technician; nothing runs
    out = body["data"]["remediationReject"]
    assert out["userErrors"] == []
    assert (out["approval"]["status"], out["approval"]["comment"]) == ("REJECTED", "not now")
    assert (
        await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", t.incident) == "ESCALATED"
    )
    assert (await kinds(services, t.incident))[-2:] == ["REJECTED", "ESCALATED"]
    assert await executions(services, t.incident) == []


async def test_a_comment_too_long_is_refused_and_nothing_changes(gql, factory, services):
    t = await tenant(factory, services)
    approval = await pending(services, t)

    body = await gql(
        APPROVE, {"i": {"id": gid("RemediationApproval", approval), "comment": "x" * 2001}}, t.admin.token
    )

    assert [(e["field"], e["code"]) for e in body["data"]["remediationApprove"]["userErrors"]] == [
        ("comment", "INVALID_INPUT")
    ]
    assert await status_of(services, approval) == "PENDING"


# ---- expiry -------------------------------------------------------------------------------------


async def test_an_expired_request_is_marked_and_its_incident_escalates_once(factory, services):
    # given a request past its expiry and one still within it
    t = await tenant(factory, services)
    overdue = await pending(services, t, expires_in=-timedelta(seconds=1))
    t2 = await tenant(factory, services)
    fresh = await pending(services, t2)

    # when the expiry step runs (twice, as two processes might)
    async with services.pool.acquire() as conn, conn.transaction():
        first = await expire_due(conn, datetime.now(UTC))
    async with services.pool.acquire() as conn, conn.transaction():
        second = await expire_due(conn, datetime.now(UTC))

    # then the overdue one is EXPIRED and its incident escalated, on the timeline; the other waits
    assert first >= 1
    assert second == 0
    assert await status_of(services, overdue) == "EXPIRED"
    assert await status_of(services, fresh) == "PENDING"
    assert (
        await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", t.incident) == "ESCALATED"
    )
    assert (await kinds(services, t.incident))[-2:] == ["APPROVAL_EXPIRED", "ESCALATED"]
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", t2.incident) == "NEW"


async def test_the_expiry_step_skips_a_request_an_approver_holds(factory, services):
    # given an overdue request locked by an approval in progress
    t = await tenant(factory, services)
    overdue = await pending(services, t, expires_in=-timedelta(seconds=1))
    async with services.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM remediation_approvals WHERE id = $1 FOR UPDATE", overdue)

        # when the expiry step runs meanwhile
        async with services.pool.acquire() as conn, conn.transaction():
            await expire_due(conn, datetime.now(UTC))

        # then it did not wait for, nor touch, the locked request
        assert await status_of(services, overdue) == "PENDING"


# ---- lists, nodes and Incident.decision ----------------------------------------------------------


async def test_the_list_is_scoped_and_filtered(gql, factory, services):
    # given pending requests of A and B
    a = await tenant(factory, services)
    b = await tenant(factory, services)
    mine = await pending(services, a)
    theirs = await pending(services, b)

    # when A's admin and technician list them, by company and status
    def ids(body: Any) -> set[str]:
        return {n["id"] for n in body["data"]["remediationApprovals"]["nodes"]}

    own = ids(await gql(LIST, {"c": a.company.gid}, a.admin.token))
    every = ids(await gql(LIST, {"first": 100}, a.tech.token))
    other = ids(await gql(LIST, {"c": b.company.gid}, a.admin.token))
    approved = ids(await gql(LIST, {"c": a.company.gid, "s": "APPROVED"}, a.admin.token))
    msp = await factory.user(Role.MSP_ADMIN)
    by_msp = ids(await gql(LIST, {"c": b.company.gid}, msp.token))

    # then each sees only its own company's; an MSP admin any company's
    assert own == {gid("RemediationApproval", mine)}
    assert gid("RemediationApproval", mine) in every
    assert gid("RemediationApproval", theirs) not in every
    assert other == set()
    assert approved == set()
    assert by_msp == {gid("RemediationApproval", theirs)}


async def test_node_answers_a_request_only_to_its_company(gql, factory, services):
    a = await tenant(factory, services)
    b = await tenant(factory, services)
    approval = await pending(services, a)
    query = "query($id: ID!) { node(id: $id) { id ... on RemediationApproval { status } } }"

    own = await gql(query, {"id": gid("RemediationApproval", approval)}, a.tech.token)
    other = await gql(query, {"id": gid("RemediationApproval", approval)}, b.admin.token)

    assert own["data"]["node"] == {"id": gid("RemediationApproval", approval), "status": "PENDING"}
    assert other["data"]["node"] is None


async def test_incident_decision_shows_the_stored_decision_to_its_company_only(gql, factory, services):
    # given an incident of A with a stored decision
    a = await tenant(factory, services, RunbookRisk.LOW, True)
    b = await tenant(factory, services)
    await services.pool.execute(
        "INSERT INTO incident_decisions (incident_id, company_id, action, runbook_id, runbook_version,"
        " approval_required, reason, priority_score, explanation, decided_at, decided_for_version)"
        " VALUES ($1, $2, 'EXECUTE_RUNBOOK', $3, 1, false, 'AUTO_APPROVED', 62.5, 'it runs', now(), 1)",
        a.incident,
        a.company.id,
        a.runbook,
    )

    # when A's technician and B's admin read it
    own = await gql(DECISION, {"id": gid("Incident", a.incident)}, a.tech.token)
    other = await gql(DECISION, {"id": gid("Incident", a.incident)}, b.admin.token)
    undecided = await gql(DECISION, {"id": gid("Incident", b.incident)}, b.admin.token)

    # then A's technician sees it, B's admin does not see the incident at all
    decision = own["data"]["incident"]["decision"]
    assert decision["action"] == "EXECUTE_RUNBOOK"
    assert decision["reason"] == "AUTO_APPROVED"
    assert decision["runbook"]["id"] == gid("Runbook", a.runbook)
    assert (decision["approvalRequired"], decision["priorityScore"], decision["explanation"]) == (
        False,
        62.5,
        "it runs",
    )
    assert decision["runbookVersion"] == 1
    assert other["data"]["incident"] is None
    assert undecided["data"]["incident"]["decision"] is None


# ---- runbookExecute ------------------------------------------------------------------------------


def _run(t: Tenant, **over: Any) -> dict[str, Any]:
    return {"i": {"runbookId": gid("Runbook", t.runbook), "assetIds": [gid("Asset", t.asset)]} | over}


async def _written(services: Any, company_id: uuid.UUID) -> tuple[int, int]:
    return (
        await services.pool.fetchval(
            "SELECT count(*) FROM remediation_executions WHERE company_id = $1", company_id
        ),
        await services.pool.fetchval(
            "SELECT count(*) FROM remediation_approvals WHERE company_id = $1", company_id
        ),
    )


async def test_a_low_auto_approved_runbook_runs_at_once_for_a_technician(gql, factory, services):
    t = await tenant(factory, services, RunbookRisk.LOW, True)

    body = await gql(
        EXECUTE, _run(t, parameters={"unit": "nginx"}, incidentId=gid("Incident", t.incident)), t.tech.token
    )

    out = body["data"]["runbookExecute"]
    assert out["userErrors"] == []
    assert out["approval"] is None
    [execution] = await executions(services, t.incident)
    assert decoded(out["executionId"]) == ("Execution", str(execution["id"]))
    assert execution["commands"] == ["systemctl restart nginx"]
    assert execution["started_by"] == f"user:{t.tech.id}"


async def test_a_medium_runbook_waits_for_approval_when_a_technician_asks(gql, factory, services):
    t = await tenant(factory, services)

    body = await gql(EXECUTE, _run(t, incidentId=gid("Incident", t.incident)), t.tech.token)

    out = body["data"]["runbookExecute"]
    assert out["userErrors"] == []
    assert out["executionId"] is None
    assert out["approval"]["status"] == "PENDING"
    assert out["approval"]["requestedBy"] == f"user:{t.tech.id}"
    assert out["approval"]["incident"] == {"id": gid("Incident", t.incident)}
    assert await _written(services, t.company.id) == (0, 1)
    assert (await kinds(services, t.incident))[-1] == "APPROVAL_REQUESTED"
    told = await services.pool.fetch("SELECT user_id FROM notifications WHERE incident_id = $1", t.incident)
    assert [r["user_id"] for r in told] == [t.admin.id]

    # and a second request for the same incident while one waits is refused
    again = await gql(EXECUTE, _run(t, incidentId=gid("Incident", t.incident)), t.tech.token)
    assert [e["code"] for e in again["data"]["runbookExecute"]["userErrors"]] == ["APPROVAL_PENDING"]
    assert await _written(services, t.company.id) == (0, 1)


@pytest.mark.parametrize("risk", [RunbookRisk.MEDIUM, RunbookRisk.HIGH])
async def test_an_approvers_own_call_is_the_approval(gql, factory, services, risk):
    t = await tenant(factory, services, risk)

    body = await gql(EXECUTE, _run(t), t.admin.token)

    out = body["data"]["runbookExecute"]
    assert out["userErrors"] == []
    assert out["approval"] is None
    assert out["executionId"]
    assert await _written(services, t.company.id) == (1, 0)


async def test_a_technician_cannot_start_a_high_risk_runbook(gql, factory, services):
    t = await tenant(factory, services, RunbookRisk.HIGH)

    body = await gql(EXECUTE, _run(t), t.tech.token)

    assert body["data"]["runbookExecute"]["userErrors"] == [
        {
            "field": "runbookId",
            "message": "a high-risk runbook is run by a company admin or an MSP admin only",
            "code": "PERMISSION_DENIED",
        }
    ]
    assert await _written(services, t.company.id) == (0, 0)


async def test_bad_input_gets_a_typed_error_and_writes_nothing(gql, factory, services):
    # given company A (LOW auto runbook) with assets lacking an instance id or of another platform,
    # and company B with its own runbook and asset
    a = await tenant(factory, services, RunbookRisk.LOW, True)
    b = await tenant(factory, services, RunbookRisk.LOW, True)
    bare = await factory.asset(a.company, unique("bare"), platform="LINUX")
    windows = await factory.asset(a.company, unique("win"), cloud_instance_id="i-0win", platform="WINDOWS")
    run = _run(a)["i"]
    cases = {
        "unknown runbook": ({**run, "runbookId": gid("Runbook", uuid.uuid4())}, "runbookId", "NOT_FOUND"),
        "another company's runbook": (
            {**run, "runbookId": gid("Runbook", b.runbook)},
            "runbookId",
            "NOT_FOUND",
        ),
        "unknown asset": ({**run, "assetIds": [gid("Asset", uuid.uuid4())]}, "assetIds", "NOT_FOUND"),
        "another company's asset": ({**run, "assetIds": [gid("Asset", b.asset)]}, "assetIds", "NOT_FOUND"),
        "no assets": ({**run, "assetIds": []}, "assetIds", "INVALID_INPUT"),
        "no instance id": ({**run, "assetIds": [gid("Asset", bare)]}, "assetIds", "NO_INSTANCE_ID"),
        "wrong platform": ({**run, "assetIds": [gid("Asset", windows)]}, "assetIds", "WRONG_PLATFORM"),
        "bad value": ({**run, "parameters": {"unit": "app; reboot"}}, "parameters", "INVALID_INPUT"),
        "unknown parameter": ({**run, "parameters": {"nope": "x"}}, "parameters", "INVALID_INPUT"),
        "not an object": ({**run, "parameters": ["x"]}, "parameters", "INVALID_INPUT"),
        "another company's incident": (
            {**run, "incidentId": gid("Incident", b.incident)},
            "incidentId",
            "NOT_FOUND",
        ),
    }

    for name, (given, field, code) in cases.items():
        # when A's technician runs it
        body = await gql(EXECUTE, {"i": given}, a.tech.token)

        # then the precise error, and nothing was written
        errors = body["data"]["runbookExecute"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], (name, errors)
    assert await _written(services, a.company.id) == (0, 0)
    assert await _written(services, b.company.id) == (0, 0)


async def test_a_company_without_aws_settings_cannot_run(gql, factory, services):
    t = await tenant(factory, services, RunbookRisk.LOW, True)
    async with factory.uow() as uow:
        await uow.aws.clear(t.company.id)

    body = await gql(EXECUTE, _run(t), t.admin.token)

    assert [e["code"] for e in body["data"]["runbookExecute"]["userErrors"]] == ["AWS_NOT_CONFIGURED"]
    assert await _written(services, t.company.id) == (0, 0)


async def test_the_decisions_reaction_is_registered_as_a_background_loop():
    from graph.workers import LOOPS

    names = {spec.name for spec in LOOPS}
    assert f"reaction:{REACTION_NAME}" in names
    assert "approval-expiry" in names


# ---- statement counts ----------------------------------------------------------------------------

INCIDENT_DECISIONS = (
    "query($c: ID, $n: Int) { incidents(companyId: $c, first: $n) { nodes { id decision { action"
    " runbook { id name } } } } }"
)
APPROVAL_PAGE = (
    "query($c: ID, $n: Int) { remediationApprovals(companyId: $c, first: $n) { nodes { id"
    " incident { id } runbook { name } decidedBy { id } company { name } } } }"
)


async def test_decisions_and_approvals_load_in_batches(gql, factory, services):
    from tests.api.test_query_counts import statements_for

    # given a company with 6 decided incidents, each with a request (half of them decided)
    t = await tenant(factory, services)
    approvals = []
    for i in range(6):
        incident = await rows.incident(services, t.company.id, asset_id=t.asset)
        await services.pool.execute(
            "INSERT INTO incident_decisions (incident_id, company_id, action, runbook_id, runbook_version,"
            " approval_required, reason, priority_score, explanation, decided_at, decided_for_version)"
            " VALUES ($1, $2, 'EXECUTE_RUNBOOK', $3, 1, true, 'APPROVAL_REQUIRED', 40, 'x', now(), 1)",
            incident,
            t.company.id,
            t.runbook,
        )
        approvals.append(await pending(services, replace(t, incident=incident)))
        if i % 2:
            await gql(REJECT, {"i": {"id": gid("RemediationApproval", approvals[-1])}}, t.admin.token)

    # when 2 and then 6 are listed with their related rows
    counts = []
    for query in (INCIDENT_DECISIONS, APPROVAL_PAGE):
        _, small = await statements_for(gql, services, query, {"c": t.company.gid, "n": 2}, t.admin.token)
        body, large = await statements_for(gql, services, query, {"c": t.company.gid, "n": 6}, t.admin.token)
        assert len(next(iter(body["data"].values()))["nodes"]) == 6
        counts.append((len(small), len(large)))

    # then the statement count does not grow with the page
    assert all(small == large for small, large in counts), counts
