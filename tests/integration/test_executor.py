"""The remediation executor against real PostgreSQL and moto's SSM server (reached only through
`AWS_ENDPOINT_URL`): send, poll, health check, the incident's resolve or escalation, retries, the
timeout, a crash between send and store, a restart mid-poll, and whether a remediation held.

moto reports every invocation as Success at once: tests edit its stored invocations to make an
instance fail or stay in progress. Time is passed to `run_once`, so backoffs and deadlines are
crossed without sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.ssm.models import ssm_backends

from adapters.aws import AwsSessions
from db.events import topic
from db.executions import ExecutionRequest, enqueue_execution
from db.executor import LEASE, Executor, comment_of
from db.incident_writer import apply_action
from db.reactions import ReactionRunner
from db.remediation_held import RemediationHeld, settle_held
from domain.aws import AwsAccess, AwsAuthType
from domain.incidents import IncidentAction
from domain.rbac import Role
from graph.workers import ExecutorLoop, LoopSpec, run_loop
from tests import incident_rows as rows
from tests.helpers import event_heard, sample

ACCOUNT = "123456789012"  # moto's account for unknown access keys
REGION = "eu-west-1"
I1, I2 = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"
KEY_ID, SECRET = "AKIAEXECUTORTEST0001", "s" * 40
ACCESS = AwsAccess(REGION, AwsAuthType.ACCESS_KEY, access_key_id=KEY_ID, secret_access_key=SECRET)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def _aws_company(services: Any, factory: Any) -> Any:
    company = await factory.company()
    await services.pool.execute(
        "INSERT INTO company_aws_settings (company_id, auth_type, region, access_key_id, secret_access_key_enc)"
        " VALUES ($1, 'access_key', $2, $3, $4)",
        company.id,
        REGION,
        KEY_ID,
        services.cipher.encrypt(SECRET),
    )
    return company


def _executor(services: Any, sessions: AwsSessions | None = None) -> Executor:
    sessions = sessions or AwsSessions(Clock())
    return Executor(services.pool, sessions.executor, services.cipher.decrypt, batch=100)


async def _start(
    services: Any,
    company: Any,
    now: datetime,
    *,
    incident: uuid.UUID | None = None,
    health_check: str | None = None,
    instances: tuple[str, ...] = (I1, I2),
    timeout_seconds: int = 300,
) -> uuid.UUID:
    runbook = await services.pool.fetchrow(
        "SELECT id, version FROM runbooks WHERE company_id IS NULL LIMIT 1"
    )
    request = ExecutionRequest(
        company_id=company.id,
        runbook_id=runbook["id"],
        runbook_version=runbook["version"],
        instance_ids=list(instances),
        document="AWS-RunShellScript",
        commands=["systemctl restart nginx"],
        timeout_seconds=timeout_seconds,
        started_by="system:decisions",
        health_check=health_check,
        incident_id=incident,
    )
    async with services.pool.acquire() as conn, conn.transaction():
        execution = await enqueue_execution(conn, request, now)
    assert execution is not None
    return execution


async def _row(services: Any, execution: uuid.UUID) -> Any:
    return await services.pool.fetchrow("SELECT * FROM remediation_executions WHERE id = $1", execution)


async def _invocations(services: Any, execution: uuid.UUID) -> dict[tuple[str, str], Any]:
    found = await services.pool.fetch(
        "SELECT * FROM remediation_invocations WHERE execution_id = $1", execution
    )
    return {(r["step"], r["instance_id"]): r for r in found}


def _commands(comment: str) -> list[Any]:
    return [c for c in ssm_backends[ACCOUNT][REGION]._commands if c.comment == comment]


def _edit(command_id: str, instance: str, status: str, detail: str | None = None, **fields: Any) -> None:
    """Make moto report `status` for one instance's invocation of `command_id`."""
    command = next(c for c in ssm_backends[ACCOUNT][REGION]._commands if c.command_id == command_id)
    invocation = next(i for i in command.invocations if i["InstanceId"] == instance)
    invocation.update({"Status": status, "StatusDetails": detail or status, **fields})


async def _timeline(services: Any, incident: uuid.UUID) -> list[str]:
    return [e.kind for e in await rows.timeline(services, incident)]


async def test_success_on_every_instance_resolves_the_incident_as_auto_remediated(services, factory, aws_env):
    # given an open incident and an execution for it
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    executor = _executor(services)
    succeeded = sample("alertwhisperer_remediation_executions_total", status="SUCCEEDED")

    # when the executor sends it (the event on the company's remediation topic at commit) ...
    async with event_heard(services, topic(company.id, "remediation")):
        await executor.run_once(t0)
    sent = await _row(services, execution)
    assert (sent["status"], sent["phase"]) == ("RUNNING", "poll")
    assert sent["next_check_at"] == t0 + timedelta(seconds=2)
    assert sent["deadline_at"] == t0 + timedelta(seconds=300 + 60)
    (command,) = _commands(comment_of(execution, "action"))
    assert command.command_id == sent["command_id"]
    assert command.parameters["commands"] == ["systemctl restart nginx"]
    assert command.parameters["executionTimeout"] == ["300"]
    assert sorted(command.instance_ids) == [I1, I2]

    # ... and polls it once moto reports Success everywhere
    await executor.run_once(t0 + timedelta(seconds=2))

    # then the execution succeeded, the incident is resolved by the remediation
    done = await _row(services, execution)
    assert (done["status"], done["phase"], done["error"]) == ("SUCCEEDED", "done", None)
    assert done["finished_at"] == t0 + timedelta(seconds=2)
    incident_row = await services.pool.fetchrow(
        "SELECT status, auto_remediated, resolved_at FROM incidents WHERE id = $1", incident
    )
    assert tuple(incident_row) == ("RESOLVED", True, t0 + timedelta(seconds=2))
    assert await _timeline(services, incident) == [
        "REMEDIATION_STARTED",
        "REMEDIATION_SUCCEEDED",
        "MANUALLY_RESOLVED",
    ]
    # (at least: the executor also finishes what earlier tests of this process left due)
    assert sample("alertwhisperer_remediation_executions_total", status="SUCCEEDED") >= succeeded + 1
    invocations = await _invocations(services, execution)
    assert {k: v["status"] for k, v in invocations.items()} == {
        ("action", I1): "SUCCEEDED",
        ("action", I2): "SUCCEEDED",
    }
    # and nothing more is done with it
    await executor.run_once(t0 + timedelta(hours=1))
    assert (await _row(services, execution))["updated_at"] == done["updated_at"]


async def test_an_end_whose_transaction_rolls_back_is_not_counted(services, factory, aws_env, monkeypatch):
    # given an execution for an incident, started long ago (so this executor's steps find no other
    # test's due executions) and sent
    company = await _aws_company(services, factory)
    t0 = datetime(1990, 1, 1, tzinfo=UTC)
    incident = await rows.incident(services, company.id, created_at=t0)
    execution = await _start(services, company, t0, incident=incident)
    executor = _executor(services)
    await executor.run_once(t0)
    assert (await _row(services, execution))["phase"] == "poll"
    succeeded = sample("alertwhisperer_remediation_executions_total", status="SUCCEEDED")

    # when its success is written but the incident's resolve fails in the same transaction
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the incident's write failed")

    monkeypatch.setattr("db.executor.apply_action", broken)
    await executor.run_once(t0 + timedelta(seconds=2))

    # then the execution is not ended, and no end is counted
    assert (await _row(services, execution))["phase"] == "poll"
    assert sample("alertwhisperer_remediation_executions_total", status="SUCCEEDED") == succeeded

    # and once its lease ran out, the next claim ends it and counts it once
    monkeypatch.undo()
    await executor.run_once(t0 + timedelta(seconds=3) + LEASE)
    assert (await _row(services, execution))["status"] == "SUCCEEDED"
    assert sample("alertwhisperer_remediation_executions_total", status="SUCCEEDED") == succeeded + 1


async def test_a_failed_instance_escalates_with_its_output_and_tells_the_admins(services, factory, aws_env):
    company = await _aws_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    executor = _executor(services)
    await executor.run_once(t0)
    command_id = (await _row(services, execution))["command_id"]

    # given one instance that failed with output on both streams
    _edit(
        command_id,
        I2,
        "Failed",
        ResponseCode=1,
        StandardOutputContent="restarting nginx\n",
        StandardErrorContent="x" * 20_000,
    )

    await executor.run_once(t0 + timedelta(seconds=2))

    done = await _row(services, execution)
    assert done["status"] == "FAILED"
    assert done["error"] == f"the command ended FAILED on {I2} (Failed)"
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"
    assert await _timeline(services, incident) == ["REMEDIATION_STARTED", "REMEDIATION_FAILED", "ESCALATED"]
    failed = await services.pool.fetchval(
        "SELECT data FROM incident_events WHERE incident_id = $1 AND kind = 'REMEDIATION_FAILED'", incident
    )
    assert done["error"] in failed
    invocations = await _invocations(services, execution)
    assert invocations[("action", I1)]["status"] == "SUCCEEDED"
    bad = invocations[("action", I2)]
    assert (bad["status"], bad["status_detail"], bad["stdout"]) == ("FAILED", "Failed", "restarting nginx\n")
    assert len(bad["stderr"]) == 8_000  # bounded
    notes = await services.pool.fetch(
        "SELECT user_id, kind, incident_id, body FROM notifications WHERE company_id = $1", company.id
    )
    assert [tuple(n) for n in notes] == [(admin.id, "REMEDIATION_FAILED", incident, done["error"])]


async def test_in_progress_is_polled_with_backoff_until_success(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    executor = _executor(services)
    await executor.run_once(t0)
    command_id = (await _row(services, execution))["command_id"]
    _edit(command_id, I1, "InProgress")
    _edit(command_id, I2, "Pending", "Delayed")

    # polls at 2 s, 4 s, 8 s after the send: the gap doubles
    due = t0 + timedelta(seconds=2)
    gaps = []
    for _ in range(3):
        await executor.run_once(due)
        row = await _row(services, execution)
        assert (row["status"], row["phase"]) == ("RUNNING", "poll")
        gaps.append((row["next_check_at"] - due).total_seconds())
        due = row["next_check_at"]
    assert gaps == [2.0, 4.0, 8.0]
    # not due yet: nothing is claimed
    await executor.run_once(due - timedelta(seconds=1))
    assert (await _row(services, execution))["next_check_at"] == due
    seen = await _invocations(services, execution)
    assert (seen[("action", I1)]["status"], seen[("action", I2)]["status"]) == ("IN_PROGRESS", "PENDING")

    _edit(command_id, I1, "Success")
    _edit(command_id, I2, "Success")
    await executor.run_once(due)

    assert (await _row(services, execution))["status"] == "SUCCEEDED"
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "RESOLVED"


async def test_no_final_status_by_the_deadline_times_out_and_escalates(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident, timeout_seconds=60)
    executor = _executor(services)
    await executor.run_once(t0)
    _edit((await _row(services, execution))["command_id"], I2, "InProgress")

    await executor.run_once(t0 + timedelta(seconds=119))
    assert (await _row(services, execution))["status"] == "RUNNING"
    await executor.run_once(t0 + timedelta(seconds=120))

    done = await _row(services, execution)
    assert (done["status"], done["phase"]) == ("TIMED_OUT", "done")
    assert done["error"] == f"the command did not finish within 60 s on {I2}"
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"


async def test_throttling_is_retried_with_backoff_then_the_poll_goes_on(services, factory, aws_env):
    company = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0)
    sessions = AwsSessions(Clock())
    executor = _executor(services, sessions)
    await executor.run_once(t0)
    client = sessions.client_sync(company.id, ACCESS, "ssm")  # the client the executor uses

    # given SSM throttling (after botocore's own retries) on the first poll
    with Stubber(client) as stub:
        stub.add_client_error(
            "list_commands", service_error_code="ThrottlingException", service_message="slow down"
        )
        await executor.run_once(t0 + timedelta(seconds=2))
        stub.assert_no_pending_responses()

    # then the execution waits 5 s and says why, without failing
    row = await _row(services, execution)
    assert (row["status"], row["phase"], row["attempts"]) == ("RUNNING", "poll", 1)
    assert row["next_check_at"] == t0 + timedelta(seconds=7)
    assert row["error"].startswith("AWS_THROTTLED: AWS answered ThrottlingException: slow down")

    # and the next poll reaches SSM and finishes it
    await executor.run_once(t0 + timedelta(seconds=7))
    row = await _row(services, execution)
    assert (row["status"], row["error"], row["attempts"]) == ("SUCCEEDED", None, 0)


async def test_a_crash_between_send_and_store_does_not_send_twice(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    sessions = AwsSessions(Clock())

    class Crash(BaseException):  # as a killed process: nothing after it runs
        pass

    def crashing(company_id: uuid.UUID, access: Any) -> Any:
        real = sessions.executor(company_id, access)

        class SendsThenDies:
            async def send(self, command: Any) -> str:
                await real.send(command)
                raise Crash  # the process dies before the command id is stored

        return SendsThenDies()

    # given a process that sent the command and died before storing its id
    with pytest.raises(Crash):
        await Executor(services.pool, crashing, services.cipher.decrypt, batch=100).run_once(t0)
    left = await _row(services, execution)
    assert (left["status"], left["command_id"], left["sent_at"], left["attempts"]) == (
        "PENDING",
        None,
        None,
        1,
    )
    assert len(_commands(comment_of(execution, "action"))) == 1

    # when another process takes it up once the lease ran out
    executor = _executor(services, sessions)
    await executor.run_once(t0 + LEASE - timedelta(seconds=1))
    assert (await _row(services, execution))["command_id"] is None  # still leased: left alone
    restart = t0 + LEASE
    await executor.run_once(restart)

    # then it found the command by its comment and sent nothing more
    (command,) = _commands(comment_of(execution, "action"))
    row = await _row(services, execution)
    assert (row["status"], row["command_id"]) == ("RUNNING", command.command_id)
    await executor.run_once(restart + timedelta(seconds=2))
    assert (await _row(services, execution))["status"] == "SUCCEEDED"
    assert len(_commands(comment_of(execution, "action"))) == 1
    assert (await _timeline(services, incident)).count("REMEDIATION_STARTED") == 1


async def test_a_step_that_keeps_failing_unexpectedly_fails_the_execution_in_the_end(
    services, factory, aws_env
):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)

    class Broken:
        async def send(self, command: Any) -> str:
            raise RuntimeError("a bug")

    broken = Executor(services.pool, lambda company_id, access: Broken(), services.cipher.decrypt, batch=100)
    # every claim ends in the error (logged, the batch goes on), each after the lease of the last
    for n in range(10):
        await broken.run_once(t0 + LEASE * n)
        row = await _row(services, execution)
        assert (row["status"], row["attempts"]) == ("PENDING", n + 1)
    await broken.run_once(t0 + LEASE * 10)

    row = await _row(services, execution)
    assert (row["status"], row["error"]) == ("FAILED", "gave up after 10 attempts that did not finish")
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"


async def test_a_failing_health_check_escalates(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(
        services, company, t0, incident=incident, health_check="curl -fsS localhost/health"
    )
    executor = _executor(services)
    await executor.run_once(t0)
    await executor.run_once(t0 + timedelta(seconds=2))  # the action succeeded: the health check is next
    assert (await _row(services, execution))["phase"] == "health_send"
    await executor.run_once(t0 + timedelta(seconds=2))
    row = await _row(services, execution)
    assert (row["status"], row["phase"]) == ("RUNNING", "health_poll")
    (health,) = _commands(comment_of(execution, "health_check"))
    assert health.command_id == row["health_command_id"]
    assert health.parameters["commands"] == ["curl -fsS localhost/health"]
    _edit(health.command_id, I1, "Failed", ResponseCode=22, StandardErrorContent="curl: (22) 503")

    await executor.run_once(t0 + timedelta(seconds=4))

    done = await _row(services, execution)
    assert (done["status"], done["error"]) == ("FAILED", f"the health check failed on {I1} (Failed)")
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"
    invocations = await _invocations(services, execution)
    assert invocations[("health_check", I1)]["stderr"] == "curl: (22) 503"
    assert invocations[("action", I1)]["status"] == "SUCCEEDED"


async def test_a_passing_health_check_resolves(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident, health_check="true")
    executor = _executor(services)
    for seconds in (0, 2, 2, 4):
        await executor.run_once(t0 + timedelta(seconds=seconds))
    assert (await _row(services, execution))["status"] == "SUCCEEDED"
    assert len(await _invocations(services, execution)) == 4
    assert await services.pool.fetchval("SELECT auto_remediated FROM incidents WHERE id = $1", incident)


async def test_the_company_without_aws_access_fails_with_a_clear_error(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    await services.pool.execute("DELETE FROM company_aws_settings WHERE company_id = $1", company.id)

    await _executor(services).run_once(t0)

    row = await _row(services, execution)
    assert row["status"] == "FAILED"
    assert row["error"] == "the company has no AWS access set (it was removed after this run was started)"
    assert _commands(comment_of(execution, "action")) == []
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"


async def test_simulated_executions_are_left_alone(services, factory, aws_env):
    company = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0)
    await services.pool.execute("UPDATE remediation_executions SET simulated = true WHERE id = $1", execution)

    await _executor(services).run_once(t0)

    row = await _row(services, execution)
    assert (row["status"], row["attempts"]) == ("PENDING", 0)
    assert _commands(comment_of(execution, "action")) == []


async def test_an_execution_without_incident_just_ends(services, factory, aws_env):
    company = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, instances=(I1,))
    executor = _executor(services)
    await executor.run_once(t0)
    _edit((await _row(services, execution))["command_id"], I1, "Cancelled")
    await executor.run_once(t0 + timedelta(seconds=2))
    assert (await _row(services, execution))["status"] == "CANCELLED"
    assert (
        await services.pool.fetchval("SELECT count(*) FROM notifications WHERE company_id = $1", company.id)
        == 0
    )


async def test_a_loop_stopped_mid_poll_is_resumed_by_a_new_one(services, factory, aws_env):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    execution = await _start(services, company, datetime.now(UTC), incident=incident)
    sessions = AwsSessions(Clock())

    class LoopServices:
        pool = services.pool
        bus = services.bus
        clock = Clock()
        cipher = services.cipher
        aws = sessions

    async def start(_: Any, __: asyncio.Event) -> Any:
        return ExecutorLoop(LoopServices)

    async with services.bus.subscribe({topic(company.id, "remediation")}) as sub:
        # given a running executor loop that sent the command, which stays in progress
        task = asyncio.create_task(run_loop(LoopSpec("executor", start), LoopServices, asyncio.Event()))
        try:
            async with asyncio.timeout(10):
                first = await sub.queue.get()
            assert first.id == str(execution)
            command_id = (await _row(services, execution))["command_id"]
            _edit(command_id, I1, "InProgress")
            _edit(command_id, I2, "InProgress")
            async with asyncio.timeout(10):
                await sub.queue.get()  # its first poll (2 s after the send)
            assert (await _row(services, execution))["status"] == "RUNNING"
        finally:
            # when the process stops mid-way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    polled = await _invocations(services, execution)
    assert {v["status"] for v in polled.values()} == {"IN_PROGRESS"}

    # then a new process takes the execution up from its row and finishes it
    _edit(command_id, I1, "Success")
    _edit(command_id, I2, "Success")
    await _executor(services).run_once(datetime.now(UTC) + LEASE)
    row = await _row(services, execution)
    assert (row["status"], row["command_id"]) == ("SUCCEEDED", command_id)
    assert len(_commands(comment_of(execution, "action"))) == 1
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "RESOLVED"


async def _remediated(services: Any, factory: Any) -> tuple[Any, uuid.UUID, uuid.UUID, datetime]:
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    execution = await _start(services, company, t0, incident=incident, instances=(I1,))
    executor = _executor(services)
    await executor.run_once(t0)
    await executor.run_once(t0 + timedelta(seconds=2))
    assert (await _row(services, execution))["status"] == "SUCCEEDED"
    return company, incident, execution, t0 + timedelta(seconds=2)


async def _reopen(services: Any, incident: uuid.UUID, at: datetime) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        assert await apply_action(conn, incident, IncidentAction.REOPEN, "system:correlation", at)


async def test_a_reopen_within_the_window_marks_the_remediation_not_held(services, factory, aws_env):
    runner = ReactionRunner(services.pool, RemediationHeld())
    await runner.register()
    company, incident, execution, finished = await _remediated(services, factory)

    # when the incident reopens 5 minutes later (the company's window is 10)
    await _reopen(services, incident, finished + timedelta(minutes=5))
    await runner.run_once(datetime.now(UTC) + timedelta(minutes=10))
    # the sweep, after the window, leaves it as the reaction set it
    await settle_held(services.pool, finished + timedelta(minutes=11))

    assert (await _row(services, execution))["held"] is False
    assert (await _timeline(services, incident))[-2:] == ["REOPENED", "REMEDIATION_NOT_HELD"]


async def test_a_reopen_after_the_window_and_a_quiet_window_both_hold(services, factory, aws_env):
    runner = ReactionRunner(services.pool, RemediationHeld())
    await runner.register()
    _, quiet, quiet_execution, quiet_finished = await _remediated(services, factory)
    _, late, late_execution, late_finished = await _remediated(services, factory)

    # a sweep inside the window settles nothing
    await settle_held(services.pool, quiet_finished + timedelta(minutes=9))
    assert (await _row(services, quiet_execution))["held"] is None

    await _reopen(services, late, late_finished + timedelta(minutes=11))
    await runner.run_once(datetime.now(UTC) + timedelta(minutes=20))
    await settle_held(services.pool, max(quiet_finished, late_finished) + timedelta(minutes=10, seconds=1))

    assert (await _row(services, quiet_execution))["held"] is True
    assert (await _row(services, late_execution))["held"] is True
    assert "REMEDIATION_NOT_HELD" not in await _timeline(services, late)


async def test_a_reopen_after_a_person_resolved_judges_no_remediation(services, factory, aws_env):
    runner = ReactionRunner(services.pool, RemediationHeld())
    await runner.register()
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    execution = await _start(services, company, t0, incident=incident, instances=(I1,))
    executor = _executor(services)
    await executor.run_once(t0)
    _edit((await _row(services, execution))["command_id"], I1, "Failed")
    await executor.run_once(t0 + timedelta(seconds=2))  # failed: escalated
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(conn, incident, IncidentAction.RESOLVE, "user:someone", t0 + timedelta(seconds=3))
    await _reopen(services, incident, t0 + timedelta(seconds=4))

    await runner.run_once(datetime.now(UTC) + timedelta(minutes=10))

    assert (await _row(services, execution))["held"] is None
    assert "REMEDIATION_NOT_HELD" not in await _timeline(services, incident)


@pytest.mark.parametrize(
    ("aws_code", "error"),
    [
        ("AccessDeniedException", "AWS_ACCESS_DENIED: AWS answered AccessDeniedException: not allowed"),
        ("InvalidInstanceId", "AWS_INVALID_INSTANCE: AWS answered InvalidInstanceId: not allowed"),
    ],
)
async def test_an_aws_refusal_no_retry_can_mend_fails_at_once(services, factory, aws_env, aws_code, error):
    company = await _aws_company(services, factory)
    incident = await rows.incident(services, company.id)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, incident=incident)
    sessions = AwsSessions(Clock())
    client = sessions.client_sync(company.id, ACCESS, "ssm")

    with Stubber(client) as stub:
        stub.add_client_error("send_command", service_error_code=aws_code, service_message="not allowed")
        await _executor(services, sessions).run_once(t0)
        stub.assert_no_pending_responses()

    row = await _row(services, execution)
    assert (row["status"], row["error"], row["command_id"]) == ("FAILED", error, None)
    assert await services.pool.fetchval("SELECT status FROM incidents WHERE id = $1", incident) == "ESCALATED"
    assert _commands(comment_of(execution, "action")) == []


async def test_two_processes_claiming_at_once_send_one_command(services, factory, aws_env):
    # given one due execution and two executors (as two worker processes)
    company = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0)
    first, second = _executor(services), _executor(services)

    # when both step at the same moment
    await asyncio.gather(first.run_once(t0), second.run_once(t0))

    # then one of them sent it, once
    assert len(_commands(comment_of(execution, "action"))) == 1
    row = await _row(services, execution)
    assert (row["status"], row["attempts"]) == ("RUNNING", 0)


async def test_a_poll_that_sees_nothing_new_announces_nothing(services, factory, aws_env):
    company = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    execution = await _start(services, company, t0, instances=(I1,))
    executor = _executor(services)
    await executor.run_once(t0)
    command_id = (await _row(services, execution))["command_id"]
    _edit(command_id, I1, "InProgress")
    await executor.run_once(t0 + timedelta(seconds=2))  # the first sight of the invocation
    stored = (await _invocations(services, execution))[("action", I1)]["updated_at"]

    remediation = topic(company.id, "remediation")
    async with services.bus.subscribe({remediation}) as sub:
        # when a poll finds the invocation as it was, then one finds it with new output
        await executor.run_once(t0 + timedelta(seconds=4))
        await services.pool.execute(
            "SELECT pg_notify('aw_events', $1)", f'{{"topic": "{remediation}", "kind": "SENTINEL"}}'
        )
        _edit(command_id, I1, "InProgress", StandardOutputContent="half way\n")
        await executor.run_once(t0 + timedelta(seconds=8))

        # then the first poll published nothing (the sentinel comes first), the second its change
        async with asyncio.timeout(5):
            kinds = [(await sub.queue.get()).kind, (await sub.queue.get()).kind]
    assert kinds == ["SENTINEL", "RUNNING"]
    seen = (await _invocations(services, execution))[("action", I1)]
    assert seen["stdout"] == "half way\n"
    assert seen["updated_at"] > stored


async def test_secrets_the_data_key_cannot_open_fail_that_companys_runs_only(services, factory, aws_env):
    # given a company whose stored secret was encrypted with another key, and a healthy company
    broken = await _aws_company(services, factory)
    await services.pool.execute(
        "UPDATE company_aws_settings SET secret_access_key_enc = $2 WHERE company_id = $1",
        broken.id,
        b"not-a-fernet-token",
    )
    healthy = await _aws_company(services, factory)
    t0 = datetime.now(UTC)
    stuck = await _start(services, broken, t0)
    fine = await _start(services, healthy, t0)

    await _executor(services).run_once(t0)

    row = await _row(services, stuck)
    assert (row["status"], row["error"]) == (
        "FAILED",
        "the company's AWS secrets cannot be decrypted with the data key: set its AWS access again",
    )
    assert _commands(comment_of(stuck, "action")) == []
    assert (await _row(services, fine))["status"] == "RUNNING"
