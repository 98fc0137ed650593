"""The remediation executor: sends each due execution's command through SSM, follows every instance's
invocation to its end, runs the health check, and resolves or escalates the incident.

Everything an execution needs to go on is in its row (`remediation_executions`: phase, command ids,
deadline, attempts), so any process resumes any execution after a restart. A step is three moves:

1. claim: due rows (`phase <> 'done' AND next_check_at <= now`) are locked with `FOR UPDATE SKIP
   LOCKED`, leased (next_check_at pushed `lease` ahead, attempts + 1) and committed, so no transaction
   stays open across an AWS call and no other process takes them while the lease runs;
2. the AWS call, outside any transaction;
3. the outcome, written in one transaction that checks the lease is still ours (next_check_at and
   attempts as the claim left them), with the `remediationChanged` bus event and, at the end, the
   incident's change, its timeline and the admins' notification.

A claim that finds attempts above 1 in the send phases means an earlier claim never wrote its outcome
(a crash, possibly between SendCommand and storing the id): the command is looked up by its comment
(`alertwhisperer:execution:<id>`) before anything is sent, so a command is never sent twice.
Simulated executions (demo mode, `companies.demo`) are taken only by an executor made with
`simulated=True`, whose remote is the simulated one (`adapters.simulated`): no AWS access is read.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from adapters import metrics
from db.events import BusEvent, topic
from db.incident_writer import add_timeline, apply_action
from db.notifications import company_admins, enqueue
from domain.aws import AwsAccess, AwsAuthType, AwsError
from domain.incidents import REMEDIATION_ACTOR, IncidentAction, IncidentEventKind
from domain.notifications import NotificationKind
from domain.ports import CommandState, Invocation, RemoteCommand, RemoteExecutor

if TYPE_CHECKING:
    import asyncpg

    from db.pool import Conn

log = logging.getLogger(__name__)

COMMENT_PREFIX = "alertwhisperer:execution:"
# How long a claimed execution is ours: more than the slowest AWS call with botocore's retries.
LEASE = timedelta(seconds=120)
# What SSM may take beyond the command's own timeout to report every instance's end.
GRACE_SECONDS = 60
FIRST_POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 30.0
# The executor's own tries of one AWS step (after botocore's retries) before the execution fails.
MAX_AWS_ATTEMPTS = 6
# Claims of one step that ended in no outcome at all (a crash, an unexpected error) before it fails.
MAX_CLAIMS = 10
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 120.0
# AWS errors no retry can mend: the execution fails at once.
FATAL_AWS_CODES = frozenset(
    {"AWS_ACCESS_DENIED", "AWS_INVALID_CREDENTIALS", "AWS_INVALID_INSTANCE", "AWS_INVALID_DOCUMENT"}
)
NO_ACCESS = "the company has no AWS access set (it was removed after this run was started)"
UNREADABLE_ACCESS = (
    "the company's AWS secrets cannot be decrypted with the data key: set its AWS access again"
)
# Statuses a run may end in, worst first: several instances ending differently end it as the worst.
ENDINGS = (
    (CommandState.FAILED, "FAILED"),
    (CommandState.TIMED_OUT, "TIMED_OUT"),
    (CommandState.CANCELLED, "CANCELLED"),
)


def comment_of(execution_id: uuid.UUID, step: str) -> str:
    """The SSM Comment that names an execution's command (the health check's has its own)."""
    base = f"{COMMENT_PREFIX}{execution_id}"
    return base if step == "action" else f"{base}:health"


def remediation_topic(company_id: uuid.UUID) -> str:
    """The bus topic of a company's execution changes (`remediationChanged`)."""
    return topic(company_id, "remediation")


def poll_delay(elapsed: float) -> float:
    """Seconds to the next poll when the command was sent `elapsed` seconds ago: 2, 4, 8 … 30."""
    return min(MAX_POLL_SECONDS, max(FIRST_POLL_SECONDS, elapsed))


def retry_delay(attempts: int) -> float:
    """Seconds before trying an AWS step again after its `attempts`-th failure: 5, 10, 20 … 120."""
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class Leased:
    """A claimed execution as the claim left it (`lease`, `attempts`: the guard of the outcome)."""

    id: uuid.UUID
    company_id: uuid.UUID
    incident_id: uuid.UUID | None
    runbook_id: uuid.UUID
    runbook_version: int
    instance_ids: Sequence[str]
    document: str
    commands: Sequence[str]
    health_check: str | None
    timeout_seconds: int
    status: str
    phase: str
    command_id: str | None
    health_command_id: str | None
    attempts: int
    deadline_at: datetime | None
    lease: datetime

    @property
    def step(self) -> str:
        return "action" if self.phase in ("send", "poll") else "health_check"


CLAIM = """
WITH due AS (
    SELECT id FROM remediation_executions
    WHERE phase <> 'done' AND next_check_at <= $1 AND simulated = $4
    ORDER BY next_check_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE remediation_executions e
SET next_check_at = $2, attempts = e.attempts + 1, updated_at = $1
FROM due WHERE e.id = due.id
RETURNING e.id, e.company_id, e.incident_id, e.runbook_id, e.runbook_version, e.instance_ids,
          e.document, e.commands, e.health_check, e.timeout_seconds, e.status, e.phase, e.command_id,
          e.health_command_id, e.attempts, e.deadline_at, e.next_check_at
"""
ACCESS = """
SELECT company_id, auth_type, region, role_arn, external_id_enc, access_key_id, secret_access_key_enc
FROM company_aws_settings WHERE company_id = ANY($1::uuid[])
"""
# Every outcome is written only while the lease is still ours.
GUARD = "WHERE id = $1 AND next_check_at = $2 AND attempts = $3"
SENT = f"""
UPDATE remediation_executions SET
    status = 'RUNNING', phase = 'poll', command_id = $4, sent_at = $5, deadline_at = $6,
    next_check_at = $7, attempts = 0, error = NULL, updated_at = $5
{GUARD}
"""
HEALTH_SENT = f"""
UPDATE remediation_executions SET
    phase = 'health_poll', health_command_id = $4, deadline_at = $6, next_check_at = $7, attempts = 0,
    error = NULL, updated_at = $5
{GUARD}
"""
WAIT = f"""
UPDATE remediation_executions SET phase = $4, next_check_at = $5, attempts = 0, error = NULL,
    updated_at = $6
{GUARD}
"""
RETRY = f"""
UPDATE remediation_executions SET next_check_at = $4, error = $5, updated_at = $6
{GUARD}
"""
FINISH = f"""
UPDATE remediation_executions SET
    status = $4, phase = 'done', error = $5, finished_at = $6, next_check_at = $6, attempts = 0,
    updated_at = $6
{GUARD}
"""
INVOCATION = """
INSERT INTO remediation_invocations (execution_id, step, instance_id, company_id, status, status_detail,
                                     stdout, stderr, started_at, finished_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (execution_id, step, instance_id) DO UPDATE SET
    status = excluded.status, status_detail = excluded.status_detail, stdout = excluded.stdout,
    stderr = excluded.stderr, started_at = excluded.started_at, finished_at = excluded.finished_at,
    updated_at = excluded.updated_at
WHERE (remediation_invocations.status, remediation_invocations.status_detail, remediation_invocations.stdout,
       remediation_invocations.stderr, remediation_invocations.started_at, remediation_invocations.finished_at)
      IS DISTINCT FROM (excluded.status, excluded.status_detail, excluded.stdout, excluded.stderr,
                        excluded.started_at, excluded.finished_at)
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"

# (company id, its AWS access) -> its RemoteExecutor; for the simulated executor (company id, the
# execution's instance ids).
RemoteFactory = Callable[[uuid.UUID, Any], RemoteExecutor]


def access_of_row(row: Any, decrypt: Callable[[bytes], str]) -> AwsAccess:
    """A company's AWS access from its raw `company_aws_settings` row (ACCESS): the same reading as
    `db.repositories.aws_settings.access_of`, for the worker process, which holds no ORM."""
    if row["auth_type"] == AwsAuthType.ROLE.value:
        return AwsAccess(
            row["region"],
            AwsAuthType.ROLE,
            role_arn=row["role_arn"],
            external_id=decrypt(row["external_id_enc"]),
        )
    return AwsAccess(
        row["region"],
        AwsAuthType.ACCESS_KEY,
        access_key_id=row["access_key_id"],
        secret_access_key=decrypt(row["secret_access_key_enc"]),
    )


class Executor:
    """Drives executions one step at a time (`run_once`); several processes may run one each.

    `remote(company_id, access)` is the company's RemoteExecutor (SSM); `decrypt` opens the stored
    secrets of the company's AWS settings (the data key's cipher).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        remote: RemoteFactory,
        decrypt: Callable[[bytes], str],
        *,
        batch: int = 10,
        lease: timedelta = LEASE,
        simulated: bool = False,
    ) -> None:
        self.pool = pool
        self.remote = remote
        self.decrypt = decrypt
        self.batch = batch
        self.lease = lease
        self.simulated = simulated

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim up to `batch` due executions and take each one step on; the number claimed."""
        now = now or datetime.now(UTC)
        leased, access = await self.claim(now)

        async def one(execution: Leased) -> None:
            try:
                await self.advance(execution, access.get(execution.company_id), now)
            except Exception:
                # Not the batch's end: the others go on, and this one is claimed again once its
                # lease runs out (at most MAX_CLAIMS times).
                log.exception("execution %s: step failed; retried after its lease", execution.id)

        # Side by side, so every claimed execution is handled well within its lease (one after
        # the other, slow AWS answers could outlast the lease of the batch's last ones).
        await asyncio.gather(*(one(e) for e in leased))
        return len(leased)

    async def claim(self, now: datetime) -> tuple[list[Leased], dict[uuid.UUID, AwsAccess | str]]:
        """Lease the due executions (committed at once) and read their companies' AWS access."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                rows = await conn.fetch(CLAIM, now, now + self.lease, self.batch, self.simulated)
            leased = [_leased(r) for r in rows]
            if not leased or self.simulated:
                return leased, {}
            settings = await conn.fetch(ACCESS, list({e.company_id for e in leased}))
        return leased, {r["company_id"]: self._readable_access(r) for r in settings}

    def _readable_access(self, row: asyncpg.Record) -> AwsAccess | str:
        try:
            return self._access(row)
        except Exception:  # a secret the data key cannot open fails that company's runs, not the batch
            log.exception("company %s: its AWS settings cannot be decrypted", row["company_id"])
            return UNREADABLE_ACCESS

    def _access(self, row: asyncpg.Record) -> AwsAccess:
        return access_of_row(row, self.decrypt)

    async def advance(self, execution: Leased, access: AwsAccess | str | None, now: datetime) -> None:
        """One step of one leased execution: send or poll, and write what came of it. `access`: the
        company's, or why there is none usable (the simulated executor needs none)."""
        if self.simulated:
            access = None
        elif access is None or isinstance(access, str):
            await self._finish(execution, "FAILED", access or NO_ACCESS, now)
            return
        if execution.attempts > MAX_CLAIMS:
            error = f"gave up after {MAX_CLAIMS} attempts that did not finish"
            await self._finish(execution, "FAILED", error, now)
            return
        remote = self.remote(execution.company_id, execution.instance_ids if self.simulated else access)
        try:
            if execution.phase in ("send", "health_send"):
                await self._send(execution, remote, now)
            else:
                await self._poll(execution, remote, now)
        except AwsError as exc:
            await self._aws_failed(execution, exc, now)

    # ---- the steps ----

    async def _send(self, execution: Leased, remote: RemoteExecutor, now: datetime) -> None:
        step = execution.step
        comment = comment_of(execution.id, step)
        command_id: str | None = None
        if execution.attempts > 1:
            # An earlier claim did not write its outcome: it may have sent the command already.
            found = await remote.find_by_comment(comment)
            command_id = found[0] if found else None
            if command_id is not None:
                log.info("execution %s: found its command %s by its comment", execution.id, command_id)
        if command_id is None:
            command_id = await remote.send(
                RemoteCommand(
                    instance_ids=list(execution.instance_ids),
                    document=execution.document,
                    commands=list(execution.commands)
                    if step == "action"
                    else [execution.health_check or "true"],
                    comment=comment,
                    timeout_seconds=execution.timeout_seconds,
                )
            )
        deadline = now + timedelta(seconds=execution.timeout_seconds + GRACE_SECONDS)
        first_poll = now + timedelta(seconds=FIRST_POLL_SECONDS)
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.execute(
                SENT if step == "action" else HEALTH_SENT,
                *self._guard(execution),
                command_id,
                now,
                deadline,
                first_poll,
            )
            if not _updated(stored):
                return self._lost(execution)
            if step == "action" and execution.incident_id is not None:
                await add_timeline(
                    conn,
                    execution.company_id,
                    execution.incident_id,
                    IncidentEventKind.REMEDIATION_STARTED,
                    now,
                    {**self._facts(execution), "command_id": command_id, "actor": REMEDIATION_ACTOR},
                )
            await self._announce(conn, execution, "RUNNING")

    async def _poll(self, execution: Leased, remote: RemoteExecutor, now: datetime) -> None:
        step = execution.step
        command_id = execution.command_id if step == "action" else execution.health_command_id
        assert command_id is not None  # stored with the phase that polls it
        seen = {i.instance_id: i for i in await remote.invocations(command_id)}
        invocations = [
            seen.get(i) or Invocation(i, CommandState.PENDING, "Pending") for i in execution.instance_ids
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            ended = await self._polled(conn, execution, invocations, now)
        counted(ended)

    async def _polled(
        self, conn: Conn, execution: Leased, invocations: list[Invocation], now: datetime
    ) -> str | None:
        """What one poll saw, written in the caller's transaction; the final status if it ended."""
        step = execution.step
        pending = [i for i in invocations if not i.state.final]
        if not await self._still_ours(conn, execution):
            self._lost(execution)
            return None
        changed = False
        for i in invocations:
            changed |= _updated(
                await conn.execute(
                    INVOCATION,
                    execution.id,
                    step,
                    i.instance_id,
                    execution.company_id,
                    i.state.value,
                    i.status_detail[:64],
                    i.stdout,
                    i.stderr,
                    i.started_at,
                    i.finished_at,
                    now,
                )
            )
        if pending:
            if execution.deadline_at is not None and now >= execution.deadline_at:
                names = ", ".join(i.instance_id for i in pending)
                what = "the health check" if step == "health_check" else "the command"
                reason = f"{what} did not finish within {execution.timeout_seconds} s on {names}"
                return await self._end(conn, execution, "TIMED_OUT", reason, now)
            next_poll = now + timedelta(seconds=poll_delay(self._elapsed(execution, now)))
            if execution.deadline_at is not None:
                next_poll = min(next_poll, execution.deadline_at)  # the timeout is not overslept
            await conn.execute(WAIT, *self._guard(execution), execution.phase, next_poll, now)
            if changed:  # a poll that saw nothing new announces nothing
                await self._announce(conn, execution, "RUNNING")
            return None
        failed = [i for i in invocations if i.state is not CommandState.SUCCEEDED]
        if not failed:
            if step == "action" and execution.health_check:
                await conn.execute(WAIT, *self._guard(execution), "health_send", now, now)
                await self._announce(conn, execution, "RUNNING")
                return None
            return await self._end(conn, execution, "SUCCEEDED", None, now)
        status = next(s for state, s in ENDINGS if any(i.state is state for i in failed))
        where = ", ".join(f"{i.instance_id} ({i.status_detail})" for i in failed)
        reason = (
            f"the health check failed on {where}"
            if step == "health_check"
            else f"the command ended {status} on {where}"
        )
        final = "FAILED" if step == "health_check" else status
        return await self._end(conn, execution, final, reason, now)

    async def _aws_failed(self, execution: Leased, exc: AwsError, now: datetime) -> None:
        error = f"{exc.code}: {exc.message}"[:2000]
        past_deadline = execution.deadline_at is not None and now >= execution.deadline_at
        if exc.code in FATAL_AWS_CODES or execution.attempts >= MAX_AWS_ATTEMPTS or past_deadline:
            status = "TIMED_OUT" if past_deadline and exc.code not in FATAL_AWS_CODES else "FAILED"
            await self._finish(execution, status, error, now)
            return
        log.warning("execution %s: AWS failed (%s); retrying", execution.id, exc.code)
        retry_at = now + timedelta(seconds=retry_delay(execution.attempts))
        async with self.pool.acquire() as conn, conn.transaction():
            # attempts stays as claimed: the next claim counts this failure in.
            if not _updated(await conn.execute(RETRY, *self._guard(execution), retry_at, error, now)):
                return self._lost(execution)
            await self._announce(conn, execution, execution.status)

    # ---- the end ----

    async def _finish(self, execution: Leased, status: str, error: str | None, now: datetime) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await self._still_ours(conn, execution):
                return self._lost(execution)
            ended = await self._end(conn, execution, status, error, now)
        counted(ended)

    async def _end(
        self, conn: Conn, execution: Leased, status: str, error: str | None, now: datetime
    ) -> str | None:
        """The execution's last write (in the caller's transaction, lease checked): its status, and
        for its incident a resolve (success) or an escalation with the reason. Returns the status
        written (None: the lease was lost), for the caller to count once the transaction committed."""
        if not _updated(await conn.execute(FINISH, *self._guard(execution), status, error, now)):
            self._lost(execution)
            return None
        await self._announce(conn, execution, status)
        incident = execution.incident_id
        if incident is None:
            return status
        facts = {**self._facts(execution), "status": status, "actor": REMEDIATION_ACTOR}
        if status == "SUCCEEDED":
            await add_timeline(
                conn, execution.company_id, incident, IncidentEventKind.REMEDIATION_SUCCEEDED, now, facts
            )
            await apply_action(
                conn,
                incident,
                IncidentAction.RESOLVE,
                REMEDIATION_ACTOR,
                now,
                data={"execution": str(execution.id)},
                remediated=True,
            )
            return status
        reason = error or status
        await add_timeline(
            conn,
            execution.company_id,
            incident,
            IncidentEventKind.REMEDIATION_FAILED,
            now,
            {**facts, "reason": reason},
        )
        await apply_action(
            conn,
            incident,
            IncidentAction.ESCALATE,
            REMEDIATION_ACTOR,
            now,
            data={"execution": str(execution.id), "reason": reason},
        )
        await enqueue(
            conn,
            company_id=execution.company_id,
            user_ids=await company_admins(conn, execution.company_id),
            kind=NotificationKind.REMEDIATION_FAILED,
            subject=f"Remediation {status.lower().replace('_', ' ')}: the incident needs a technician",
            body=reason,
            now=now,
            incident_id=incident,
            data={"execution": str(execution.id), "status": status},
            dedup_key=f"execution:{execution.id}:failed",
        )
        return status

    # ---- helpers ----

    @staticmethod
    def _guard(execution: Leased) -> tuple[uuid.UUID, datetime, int]:
        return execution.id, execution.lease, execution.attempts

    async def _still_ours(self, conn: Conn, execution: Leased) -> bool:
        held = await conn.fetchval(
            f"SELECT 1 FROM remediation_executions {GUARD} FOR UPDATE", *self._guard(execution)
        )
        return held is not None

    @staticmethod
    def _lost(execution: Leased) -> None:
        # The lease ran out and another claim took the execution: its outcome is the one that counts.
        log.warning("execution %s: lease lost; this outcome is dropped", execution.id)

    @staticmethod
    def _elapsed(execution: Leased, now: datetime) -> float:
        """Seconds since the polled command was sent (its deadline less the timeout and grace)."""
        if execution.deadline_at is None:
            return 0.0
        sent = execution.deadline_at - timedelta(seconds=execution.timeout_seconds + GRACE_SECONDS)
        return (now - sent).total_seconds()

    @staticmethod
    def _facts(execution: Leased) -> dict[str, Any]:
        return {
            "execution": str(execution.id),
            "runbook": str(execution.runbook_id),
            "runbook_version": execution.runbook_version,
            "instance_ids": list(execution.instance_ids),
        }

    @staticmethod
    async def _announce(conn: Conn, execution: Leased, status: str) -> None:
        event = BusEvent(remediation_topic(execution.company_id), kind=status, id=str(execution.id))
        await conn.execute(NOTIFY, event.to_json())


def _leased(r: asyncpg.Record) -> Leased:
    return Leased(
        id=r["id"],
        company_id=r["company_id"],
        incident_id=r["incident_id"],
        runbook_id=r["runbook_id"],
        runbook_version=r["runbook_version"],
        instance_ids=list(r["instance_ids"]),
        document=r["document"],
        commands=list(r["commands"]),
        health_check=r["health_check"],
        timeout_seconds=r["timeout_seconds"],
        status=r["status"],
        phase=r["phase"],
        command_id=r["command_id"],
        health_command_id=r["health_command_id"],
        attempts=r["attempts"],
        deadline_at=r["deadline_at"],
        lease=r["next_check_at"],
    )


def counted(ended: str | None) -> None:
    """Count an execution's end once its transaction committed: counted inside it, a rollback (a
    lost connection, an error in the incident's writes) would count an end that never happened."""
    if ended is not None:
        metrics.execution_finished(ended)


def _updated(status: str) -> bool:
    return status.split()[-1] != "0"
