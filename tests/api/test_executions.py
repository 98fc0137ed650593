"""Executions through the API: `executions`, `execution`, `node(id:)`, `incident.executions` and
`incident.autoRemediated` after a real run through moto's SSM (reached through `AWS_ENDPOINT_URL`),
tenant isolation of each, bad input, and `remediationChanged` over a websocket against a server
process whose own executor loop ends the run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.ssm.models import ssm_backends

from adapters.aws import AwsSessions
from db.executions import ExecutionRequest, enqueue_execution
from db.executor import Executor
from domain.rbac import Role
from tests import incident_rows as rows
from tests.api.test_subscriptions import connect, servers, wait_live  # noqa: F401  (servers: fixture)
from tests.helpers import gid

REGION = "eu-west-1"
I1, I2 = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"

EXECUTION_FIELDS = """
id status commandId simulated runbookVersion instanceIds parameters startedBy error held
createdAt sentAt finishedAt
runbook { id name }
incident { id status autoRemediated }
invocations { instanceId step status statusDetail stdout stderr startedAt finishedAt }
"""
EXECUTIONS = (
    "query($c: ID, $f: ExecutionFilter, $n: Int, $a: String) { executions(companyId: $c, filter: $f,"
    " first: $n, after: $a) { nodes { id status } pageInfo { hasNextPage endCursor } } }"
)
EXECUTION = "query($id: ID!) { execution(id: $id) { " + EXECUTION_FIELDS + " } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Execution { status } } }"
INCIDENT = "query($id: ID!) { incident(id: $id) { id autoRemediated executions { id status commandId } } }"
REMEDIATION_CHANGED = (
    "subscription($c: ID) { remediationChanged(companyId: $c) { id status error incident { id status } } }"
)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def _runbook(services: Any) -> Any:
    return await services.pool.fetchrow(
        "SELECT id, version FROM runbooks WHERE company_id IS NULL ORDER BY name LIMIT 1"
    )


async def _enqueue(
    services: Any, company: Any, incident: uuid.UUID | None, now: datetime, **extra: Any
) -> uuid.UUID:
    runbook = await _runbook(services)
    if extra.pop("simulated", False):
        # A demo company's runs are simulated (and no other company's): the real executor skips them.
        await services.pool.execute("UPDATE companies SET demo = true WHERE id = $1", company.id)
    request = ExecutionRequest(
        company_id=company.id,
        runbook_id=runbook["id"],
        runbook_version=runbook["version"],
        instance_ids=[I1, I2],
        document="AWS-RunShellScript",
        commands=["systemctl restart nginx"],
        timeout_seconds=300,
        started_by="system:decisions",
        incident_id=incident,
        parameters={"service": "nginx"},
        **extra,
    )
    async with services.pool.acquire() as conn, conn.transaction():
        execution = await enqueue_execution(conn, request, now)
    assert execution is not None
    return execution


async def _with_aws(services: Any, company: Any) -> None:
    await services.pool.execute(
        "INSERT INTO company_aws_settings (company_id, auth_type, region, access_key_id, secret_access_key_enc)"
        " VALUES ($1, 'access_key', $2, 'AKIAEXECUTIONSAPI001', $3)",
        company.id,
        REGION,
        services.cipher.encrypt("k" * 40),
    )


async def _remediated(services: Any, factory: Any) -> tuple[Any, uuid.UUID, uuid.UUID]:
    """A company whose incident a run through moto resolved; instance 2 wrote some output."""
    company = await factory.company()
    await _with_aws(services, company)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _enqueue(services, company, incident, t0)
    executor = Executor(services.pool, AwsSessions(Clock()).executor, services.cipher.decrypt, batch=100)
    await executor.run_once(t0)
    command_id = await services.pool.fetchval(
        "SELECT command_id FROM remediation_executions WHERE id = $1", execution
    )
    command = next(c for c in ssm_backends["123456789012"][REGION]._commands if c.command_id == command_id)
    for invocation in command.invocations:
        if invocation["InstanceId"] == I2:
            invocation["StandardOutputContent"] = "nginx restarted\n"
    await executor.run_once(t0 + timedelta(seconds=2))
    return company, incident, execution


async def test_a_remediated_incident_and_its_execution_read_through_the_api(services, factory, gql, aws_env):
    # given an incident a runbook resolved through SSM
    company, incident, execution = await _remediated(services, factory)
    tech = await factory.user(Role.TECHNICIAN, [company])
    runbook = await _runbook(services)

    # when a technician of the company reads the execution
    body = await gql(EXECUTION, {"id": gid("Execution", execution)}, token=tech.token)

    # then it shows how the run went, instance by instance
    assert "errors" not in body, body
    found = body["data"]["execution"]
    row = await services.pool.fetchrow("SELECT * FROM remediation_executions WHERE id = $1", execution)
    assert {k: found[k] for k in ("id", "status", "commandId", "simulated", "runbookVersion")} == {
        "id": gid("Execution", execution),
        "status": "SUCCEEDED",
        "commandId": row["command_id"],
        "simulated": False,
        "runbookVersion": runbook["version"],
    }
    assert found["instanceIds"] == [I1, I2]
    assert found["parameters"] == {"service": "nginx"}
    assert (found["startedBy"], found["error"], found["held"]) == ("system:decisions", None, None)
    assert (found["sentAt"], found["finishedAt"]) == (
        row["sent_at"].isoformat(),
        row["finished_at"].isoformat(),
    )
    assert found["runbook"]["id"] == gid("Runbook", runbook["id"])
    assert found["incident"] == {
        "id": gid("Incident", incident),
        "status": "RESOLVED",
        "autoRemediated": True,
    }
    assert [(i["instanceId"], i["step"], i["status"], i["statusDetail"]) for i in found["invocations"]] == [
        (I1, "ACTION", "SUCCEEDED", "Success"),
        (I2, "ACTION", "SUCCEEDED", "Success"),
    ]
    assert found["invocations"][1]["stdout"] == "nginx restarted\n"
    assert found["invocations"][1]["finishedAt"] is not None

    # and the incident lists it and says it was auto-remediated
    body = await gql(INCIDENT, {"id": gid("Incident", incident)}, token=tech.token)
    assert body["data"]["incident"] == {
        "id": gid("Incident", incident),
        "autoRemediated": True,
        "executions": [
            {"id": gid("Execution", execution), "status": "SUCCEEDED", "commandId": row["command_id"]}
        ],
    }
    # and node(id:) resolves it
    body = await gql(NODE, {"id": gid("Execution", execution)}, token=tech.token)
    assert body["data"]["node"] == {"id": gid("Execution", execution), "status": "SUCCEEDED"}


async def test_executions_are_listed_newest_first_filtered_and_paged(services, factory, gql):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    # simulated: no executor takes them, they stay PENDING
    first = await _enqueue(services, company, incident, t0, simulated=True)
    second = await _enqueue(services, company, None, t0 + timedelta(seconds=1), simulated=True)
    third = await _enqueue(services, company, incident, t0 + timedelta(seconds=2), simulated=True)
    await services.pool.execute("UPDATE remediation_executions SET status = 'FAILED' WHERE id = $1", second)

    async def ids(variables: dict[str, Any]) -> list[str]:
        body = await gql(EXECUTIONS, {"c": company.gid, **variables}, token=admin.token)
        assert "errors" not in body, body
        return [n["id"] for n in body["data"]["executions"]["nodes"]]

    everything = [gid("Execution", e) for e in (third, second, first)]
    assert await ids({}) == everything
    assert await ids({"f": {"status": "FAILED"}}) == [gid("Execution", second)]
    assert await ids({"f": {"incidentId": gid("Incident", incident)}}) == [
        gid("Execution", third),
        gid("Execution", first),
    ]
    assert await ids({"f": {"runbookId": gid("Runbook", (await _runbook(services))["id"])}}) == everything
    assert await ids({"f": {"runbookId": gid("Runbook", uuid.uuid4())}}) == []
    # an ID of the wrong kind names nothing
    assert await ids({"f": {"incidentId": gid("Asset", incident)}}) == []

    page = await gql(EXECUTIONS, {"c": company.gid, "n": 2}, token=admin.token)
    connection = page["data"]["executions"]
    assert [n["id"] for n in connection["nodes"]] == everything[:2]
    assert connection["pageInfo"]["hasNextPage"] is True
    assert await ids({"n": 2, "a": connection["pageInfo"]["endCursor"]}) == everything[2:]


@pytest.mark.parametrize(
    ("variables", "message", "code"),
    [
        ({"n": 101}, "must be between 0 and 100", "INVALID_INPUT"),
        ({"a": "not-a-cursor"}, "is not a valid cursor", "INVALID_CURSOR"),
    ],
)
async def test_bad_paging_is_a_typed_error(factory, gql, variables, message, code):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    body = await gql(EXECUTIONS, {"c": company.gid, **variables}, token=admin.token)

    assert body["data"] is None
    (error,) = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == code


async def test_another_companys_executions_are_invisible_everywhere(services, factory, gql):
    # given an execution of company A, and an admin of B
    a, b = await factory.company(), await factory.company()
    incident = await rows.incident(services, a.id)
    execution = await _enqueue(services, a, incident, datetime.now(UTC), simulated=True)
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    msp = await factory.user(Role.MSP_ADMIN)
    execution_gid = gid("Execution", execution)

    # then B's admin finds it nowhere: not listed (named company or not), not by ID, not as a node
    for variables in ({"c": a.gid}, {"c": b.gid}, {}):
        body = await gql(EXECUTIONS, {"n": 100, **variables}, token=admin_b.token)
        assert execution_gid not in [n["id"] for n in body["data"]["executions"]["nodes"]]
    assert (await gql(EXECUTION, {"id": execution_gid}, token=admin_b.token))["data"]["execution"] is None
    assert (await gql(NODE, {"id": execution_gid}, token=admin_b.token))["data"]["node"] is None
    assert (await gql(INCIDENT, {"id": gid("Incident", incident)}, token=admin_b.token))["data"][
        "incident"
    ] is None
    # while A's technician and the MSP admin see it
    for token in (tech_a.token, msp.token):
        body = await gql(EXECUTIONS, {"c": a.gid}, token=token)
        assert [n["id"] for n in body["data"]["executions"]["nodes"]] == [execution_gid]
        assert (await gql(NODE, {"id": execution_gid}, token=token))["data"]["node"]["id"] == execution_gid


async def test_executions_need_a_token(gql):
    body = await gql(EXECUTIONS, {})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_remediation_changed_streams_the_company_s_executions_only(servers, services, factory):  # noqa: F811
    # given a technician of A subscribed to A's changes, and an admin of B subscribed to all of its own
    a, b = await factory.company(), await factory.company()
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])
    incident = await rows.incident(services, a.id)
    # (the probes are ordinary runs: the servers' executor ends them too, and their events are skipped)
    probe_a = await _enqueue(services, a, None, datetime.now(UTC))
    probe_b = await _enqueue(services, b, None, datetime.now(UTC))

    def probe_of(execution: uuid.UUID) -> Any:
        return lambda p: (
            ((p.get("data") or {}).get("remediationChanged") or {}).get("id") == gid("Execution", execution)
        )

    async with connect(servers[0], tech_a.token) as socket, connect(servers[1], admin_b.token) as other:
        await socket.subscribe("1", REMEDIATION_CHANGED, {"c": a.gid})
        await other.subscribe("1", REMEDIATION_CHANGED, {})
        await wait_live(
            socket,
            services,
            f"company:{a.id}:remediation",
            {"kind": "P", "id": str(probe_a)},
            probe_of(probe_a),
        )
        await wait_live(
            other,
            services,
            f"company:{b.id}:remediation",
            {"kind": "P", "id": str(probe_b)},
            probe_of(probe_b),
        )

        # when A's execution is stored, without AWS access: the servers' executor loop ends it
        execution = await _enqueue(services, a, incident, datetime.now(UTC))

        # then A's subscriber hears it failed, with the reason, and the incident escalated
        payload = await socket.next_data(skip=probe_of(probe_a))
        assert payload["data"]["remediationChanged"] == {
            "id": gid("Execution", execution),
            "status": "FAILED",
            "error": "the company has no AWS access set (it was removed after this run was started)",
            "incident": {"id": gid("Incident", incident), "status": "ESCALATED"},
        }
        # and B's subscriber heard nothing of it: its next event is its own probe
        await wait_live(
            other,
            services,
            f"company:{b.id}:remediation",
            {"kind": "P", "id": str(probe_b)},
            probe_of(probe_b),
        )


async def test_remediation_changed_for_another_company_is_not_found(servers, factory):  # noqa: F811
    a, b = await factory.company(), await factory.company()
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])
    async with connect(servers[0], admin_b.token) as socket:
        await socket.subscribe("1", REMEDIATION_CHANGED, {"c": a.gid})
        message = await socket.receive()
    assert message["type"] in ("next", "error"), message
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [("company not found", "NOT_FOUND")]


async def test_an_execution_page_with_its_relations_takes_the_same_statements_for_2_and_10(
    services, factory, gql
):
    from tests.api.test_query_counts import statements_for

    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    now = datetime.now(UTC)
    for n in range(10):
        incident = await rows.incident(services, company.id)
        execution = await _enqueue(services, company, incident, now + timedelta(seconds=n), simulated=True)
        await services.pool.execute(
            "INSERT INTO remediation_invocations (execution_id, step, instance_id, company_id, status)"
            " VALUES ($1, 'action', $2, $3, 'SUCCEEDED')",
            execution,
            I1,
            company.id,
        )
    query = (
        "query($c: ID, $n: Int) { executions(companyId: $c, first: $n) { nodes { id runbook { name }"
        " incident { id autoRemediated executions { id } } invocations { instanceId } } } }"
    )

    _, small = await statements_for(gql, services, query, {"c": company.gid, "n": 2}, tech.token)
    body, large = await statements_for(gql, services, query, {"c": company.gid, "n": 10}, tech.token)

    nodes = body["data"]["executions"]["nodes"]
    assert len(nodes) == 10
    assert all(len(n["invocations"]) == 1 and n["incident"]["executions"] == [{"id": n["id"]}] for n in nodes)
    assert len(small) == len(large)


async def test_incident_executions_refuses_a_size_over_100(services, factory, gql):
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)

    body = await gql(
        "query($id: ID!) { incident(id: $id) { id executions(first: 101) { id } } }",
        {"id": gid("Incident", incident)},
        token=tech.token,
    )

    (error,) = body["errors"]
    assert (error["message"], error["extensions"]["code"], error["path"]) == (
        "must be between 0 and 100",
        "INVALID_INPUT",
        ["incident", "executions"],
    )
