"""An approval request whose incident resolves before anyone decided is withdrawn (the
`approval-withdrawal` reaction), whatever resolved it; until the reaction ran, approving or rejecting
it is refused; a decided request is never touched; and each company sees only its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from db.approvals import WITHDRAWAL_REACTION, ApprovalWithdrawal, expire_due
from db.reactions import ReactionRunner
from tests.api.test_approvals import (
    APPROVE,
    LIST,
    REJECT,
    Tenant,
    executions,
    kinds,
    pending,
    status_of,
    tenant,
)
from tests.helpers import gid, registered_reactions
from tests.integration.test_correlation_worker import T0, alert, drain, ingest

RESOLVE = "mutation($i: IncidentResolveInput!) { incidentResolve(input: $i) { incident { id status } } }"


@pytest.fixture(scope="module")
async def runner(services: Any) -> AsyncIterator[ReactionRunner]:
    """The reaction, registered for this module only."""
    async with registered_reactions(services.pool, ApprovalWithdrawal()) as (r,):
        yield r


async def react(runner: ReactionRunner) -> None:
    while await runner.run_once(now=datetime.now(UTC) + timedelta(days=1)):
        pass


async def approval(services: Any, approval_id: uuid.UUID) -> Any:
    return await services.pool.fetchrow("SELECT * FROM remediation_approvals WHERE id = $1", approval_id)


async def incident_status(services: Any, incident: uuid.UUID) -> str:
    return str(await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident))


async def withdrawn_entry(services: Any, incident: uuid.UUID) -> Any:
    row = await services.pool.fetchrow(
        "SELECT at, data::text AS data FROM incident_events WHERE incident_id = $1 AND kind = 'APPROVAL_WITHDRAWN'",
        incident,
    )
    return None if row is None else (row["at"], orjson.loads(row["data"]))


async def resolve(gql: Any, t: Tenant) -> None:
    body = await gql(RESOLVE, {"i": {"id": gid("Incident", t.incident)}}, t.tech.token)
    assert body["data"]["incidentResolve"]["incident"]["status"] == "RESOLVED", body


async def test_a_resolve_alert_withdraws_the_pending_request_and_says_so_live(services, factory, runner):
    # given an incident opened by an alert, with a request waiting for approval
    t = await tenant(factory, services)
    signature = f"disk_{uuid.uuid4().hex[:8]}"
    await ingest(services, t.company, alert("web-01", signature))
    await drain(services)
    incident = await services.pool.fetchval(
        "SELECT id FROM incidents WHERE company_id = $1 AND signature = $2", t.company.id, signature
    )
    t = replace(t, incident=incident)
    request = await pending(services, t)
    # (asked for when the alert fired: this module's alerts are dated T0)
    await services.pool.execute(
        "UPDATE remediation_approvals SET requested_at = $2 WHERE id = $1", request, T0
    )
    heard: list[dict[str, Any]] = []
    listener = await services.pool.acquire()

    def hear(*args: Any) -> None:
        heard.append(orjson.loads(args[-1]))

    await listener.add_listener("aw_events", hear)

    try:
        # when the tool sends the recovery, correlation resolves the incident, and the reaction runs
        await ingest(
            services, t.company, alert("web-01", signature, at=T0 + timedelta(minutes=1), resolved=True)
        )
        await drain(services, now=T0 + timedelta(minutes=2))
        assert await incident_status(services, incident) == "RESOLVED"
        await react(runner)
        await asyncio.sleep(0.2)
    finally:
        await listener.remove_listener("aw_events", hear)
        await services.pool.release(listener)

    # then the request is WITHDRAWN at the resolve's time, saying why, with nobody named as its decider
    row = await approval(services, request)
    resolved_at = await services.pool.fetchval("SELECT resolved_at FROM incidents WHERE id = $1", incident)
    assert row["status"] == "WITHDRAWN"
    assert row["decided_at"] == resolved_at
    assert row["decided_by"] is None
    assert row["comment"] == "withdrawn: the incident resolved before anyone decided"
    # and the timeline says so, naming the request and who resolved the incident
    at, data = await withdrawn_entry(services, incident)
    assert at == resolved_at
    assert data == {
        "actor": "system:approval-withdrawal",
        "approvalId": str(request),
        "resolvedBy": "system:correlation",
    }
    assert (await kinds(services, incident))[-1] == "APPROVAL_WITHDRAWN"
    # and incidentChanged subscribers of the company were told
    assert {"topic": f"company:{t.company.id}:incidents", "kind": "UPDATED", "id": str(incident)} in heard
    assert await executions(services, incident) == []


async def test_a_person_s_resolve_withdraws_it_and_approving_it_afterwards_is_refused(
    gql, services, factory, runner
):
    # given a pending request of company A and one of company B
    a = await tenant(factory, services)
    b = await tenant(factory, services)
    mine = await pending(services, a)
    theirs = await pending(services, b)

    # when A's technician resolves A's incident and the reaction runs
    await resolve(gql, a)
    await react(runner)

    # then A's request is withdrawn, B's still waits
    assert await status_of(services, mine) == "WITHDRAWN"
    assert await status_of(services, theirs) == "PENDING"
    _, data = await withdrawn_entry(services, a.incident)
    assert data["resolvedBy"] == f"user:{a.tech.id}"

    # and approving it afterwards is refused: nothing runs
    body = await gql(APPROVE, {"i": {"id": gid("RemediationApproval", mine)}}, a.admin.token)
    assert body["data"]["remediationApprove"]["userErrors"] == [
        {"field": "id", "message": "the approval request was already withdrawn", "code": "ALREADY_DECIDED"}
    ]
    assert await executions(services, a.incident) == []
    assert await status_of(services, mine) == "WITHDRAWN"

    # and the WITHDRAWN filter lists it to its company only
    def ids(body: Any) -> set[str]:
        return {n["id"] for n in body["data"]["remediationApprovals"]["nodes"]}

    own = await gql(LIST, {"c": a.company.gid, "s": "WITHDRAWN"}, a.admin.token)
    assert ids(own) == {gid("RemediationApproval", mine)}
    assert own["data"]["remediationApprovals"]["nodes"][0]["status"] == "WITHDRAWN"
    assert ids(await gql(LIST, {"c": a.company.gid, "s": "PENDING"}, a.admin.token)) == set()
    assert ids(await gql(LIST, {"c": a.company.gid, "s": "WITHDRAWN"}, b.admin.token)) == set()
    assert ids(await gql(LIST, {"c": b.company.gid, "s": "WITHDRAWN"}, b.admin.token)) == set()
    node = "query($id: ID!) { node(id: $id) { id ... on RemediationApproval { status } } }"
    assert (await gql(node, {"id": gid("RemediationApproval", mine)}, b.admin.token))["data"]["node"] is None


@pytest.mark.parametrize("mutation", ["remediationApprove", "remediationReject"])
async def test_deciding_a_request_whose_incident_resolved_before_the_reaction_ran_is_refused(
    gql, services, factory, runner, mutation
):
    # given a pending request whose incident a person just resolved (the reaction has not run yet)
    t = await tenant(factory, services)
    request = await pending(services, t)
    await resolve(gql, t)
    assert await status_of(services, request) == "PENDING"

    # when an admin approves or rejects it
    query = APPROVE if mutation == "remediationApprove" else REJECT
    body = await gql(query, {"i": {"id": gid("RemediationApproval", request)}}, t.admin.token)

    # then INCIDENT_RESOLVED, and nothing was written: no execution, no escalation, no timeline entry
    assert body["data"][mutation]["userErrors"] == [
        {
            "field": "id",
            "message": "the incident resolved before anyone decided: there is nothing left to fix",
            "code": "INCIDENT_RESOLVED",
        }
    ]
    assert body["data"][mutation]["approval"] is None
    assert await executions(services, t.incident) == []
    assert await incident_status(services, t.incident) == "RESOLVED"
    assert (await kinds(services, t.incident))[-1] == "MANUALLY_RESOLVED"
    assert await status_of(services, request) == "PENDING"

    # and when the reaction runs, it is withdrawn
    await react(runner)
    assert await status_of(services, request) == "WITHDRAWN"


async def test_an_approved_request_is_not_touched_by_a_later_resolve(gql, services, factory, runner):
    # given a request approved (its run enqueued)
    t = await tenant(factory, services)
    request = await pending(services, t)
    body = await gql(APPROVE, {"i": {"id": gid("RemediationApproval", request)}}, t.admin.token)
    assert body["data"]["remediationApprove"]["userErrors"] == []
    before = await approval(services, request)

    # when the incident resolves and the reaction runs
    await resolve(gql, t)
    await react(runner)

    # then the request stays as its approver left it, and nothing was withdrawn
    assert dict(await approval(services, request)) == dict(before)
    assert await withdrawn_entry(services, t.incident) is None
    assert len(await executions(services, t.incident)) == 1


async def test_an_incident_that_reopened_before_the_reaction_ran_keeps_its_request(
    gql, services, factory, runner
):
    # given a pending request whose incident was resolved and then reopened by a person
    t = await tenant(factory, services)
    request = await pending(services, t)
    await resolve(gql, t)
    reopen = "mutation($i: IncidentReopenInput!) { incidentReopen(input: $i) { incident { status } } }"
    body = await gql(reopen, {"i": {"id": gid("Incident", t.incident)}}, t.tech.token)
    assert body["data"]["incidentReopen"]["incident"]["status"] != "RESOLVED", body

    # when the reaction handles the resolve
    await react(runner)

    # then the request still waits: the problem is back
    assert await status_of(services, request) == "PENDING"
    assert await withdrawn_entry(services, t.incident) is None


async def test_the_expiry_step_withdraws_rather_than_expires_a_request_whose_incident_resolved(
    gql, services, factory
):
    # given an overdue request whose incident resolved (no withdrawal reaction ran)
    t = await tenant(factory, services)
    request = await pending(services, t, expires_in=-timedelta(seconds=1))
    await resolve(gql, t)

    # when the expiry step runs
    async with services.pool.acquire() as conn, conn.transaction():
        await expire_due(conn, datetime.now(UTC))

    # then it is WITHDRAWN, not EXPIRED, and the resolved incident was not escalated
    assert await status_of(services, request) == "WITHDRAWN"
    assert await incident_status(services, t.incident) == "RESOLVED"
    assert "APPROVAL_EXPIRED" not in await kinds(services, t.incident)
    assert (await kinds(services, t.incident))[-1] == "APPROVAL_WITHDRAWN"


async def test_no_new_request_is_made_for_an_incident_that_resolved(gql, services, factory):
    # given a resolved incident
    t = await tenant(factory, services)
    await resolve(gql, t)

    # when a technician asks for a run that needs approval on it
    execute = """mutation($i: RunbookExecuteInput!) {
      runbookExecute(input: $i) { executionId approval { id } userErrors { field message code } } }"""
    body = await gql(
        execute,
        {
            "i": {
                "runbookId": gid("Runbook", t.runbook),
                "assetIds": [gid("Asset", t.asset)],
                "incidentId": gid("Incident", t.incident),
            }
        },
        t.tech.token,
    )

    # then INCIDENT_RESOLVED, and no request waits
    assert [(e["field"], e["code"]) for e in body["data"]["runbookExecute"]["userErrors"]] == [
        ("incidentId", "INCIDENT_RESOLVED")
    ]
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM remediation_approvals WHERE incident_id = $1", t.incident
        )
        == 0
    )


def test_the_reaction_is_registered_as_a_background_loop():
    from graph.workers import LOOPS

    assert f"reaction:{WITHDRAWAL_REACTION}" in {spec.name for spec in LOOPS}
