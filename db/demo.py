"""Demo runs: started by `demoStart` (or `serve --demo`), stepped by the `demo` worker loop.

A run is its row in `demo_runs`: the scenario, the next step and when it is due, and a lease. The
runner claims due runs with `FOR UPDATE SKIP LOCKED` and a lease (committed before anything is
sent), posts the step's native webhooks through a `DemoSender` (the real ingest path: API key, HMAC
signature, idempotency, rate limit, normaliser), then writes the step's outcome while the lease is
still its own and announces it on `company:{id}:demo` (`demoProgress`). A process that dies mid-step
leaves the lease to run out; the next claim sends the step again under the same delivery ids, which
the webhook answers as replays (nothing is stored twice).

A looping run (serve --demo) ends as FINISHED and starts the next run of its scenario in the same
transaction, after a pause.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import asyncpg
import orjson

from db.events import COMPANIES_TOPIC, COMPANY_SETTINGS, BusEvent, topic
from domain import demo
from domain.demo import DemoScenario, DemoStatus
from domain.errors import Conflict, DomainError
from domain.signing import sign
from domain.sla import SlaPolicy, SlaTarget

if TYPE_CHECKING:
    from db.pool import Conn

log = logging.getLogger(__name__)

DEMO_TOPIC = "demo"
LEASE = timedelta(seconds=60)
RETRY_SECONDS = 2.0
NOTIFY = "SELECT pg_notify('aw_events', $1)"
COLUMNS = (
    "id, company_id, scenario, status, step, total_steps, alerts_sent, cycle, loop, message, "
    "api_key_enc, started_by, next_step_at, lease_until, started_at, finished_at"
)


def demo_topic(company_id: uuid.UUID) -> str:
    return topic(company_id, DEMO_TOPIC)


class AlreadyRunning(Conflict):
    default_code = "ALREADY_RUNNING"


class NotDemoCompany(DomainError):
    default_code = "NOT_DEMO_COMPANY"


@dataclass(frozen=True, slots=True)
class DemoRunRow:
    id: uuid.UUID
    company_id: uuid.UUID
    scenario: str
    status: str
    step: int
    total_steps: int
    alerts_sent: int
    cycle: int
    loop: bool
    message: str
    api_key_enc: bytes
    started_by: str
    next_step_at: datetime
    lease_until: datetime | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def run_key(self) -> str:
        """What makes this run's alert ids its own (another run's repeat another problem)."""
        return self.id.hex[:12]


def _row(r: asyncpg.Record) -> DemoRunRow:
    return DemoRunRow(**dict(r))


async def announce(conn: Conn, run: DemoRunRow) -> None:
    event = BusEvent(demo_topic(run.company_id), kind=run.status, id=str(run.id))
    await conn.execute(NOTIFY, event.to_json())


INSERT = f"""
INSERT INTO demo_runs (id, company_id, scenario, status, total_steps, loop, message, api_key_enc,
                       started_by, next_step_at, started_at, cycle, updated_at)
VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9, $10, $11, $10)
ON CONFLICT (company_id) WHERE status = 'RUNNING' DO NOTHING
RETURNING {COLUMNS}
"""


async def start_run(
    conn: Conn,
    *,
    company_id: uuid.UUID,
    scenario: DemoScenario,
    api_key_enc: bytes,
    started_by: str,
    now: datetime,
    loop: bool = False,
    delay: float = 0.0,
    cycle: int = 1,
) -> DemoRunRow:
    """A RUNNING run whose first step is due `delay` seconds from `now` (in the caller's transaction);
    AlreadyRunning when the company has one under way."""
    row = await conn.fetchrow(
        INSERT,
        uuid.uuid4(),
        company_id,
        scenario.value,
        demo.total_steps(scenario),
        loop,
        "starting" if delay <= 0 else "next run in a moment",
        api_key_enc,
        started_by[:64],
        now + timedelta(seconds=delay),
        now,
        cycle,
    )
    if row is None:
        raise AlreadyRunning("a demo run is already under way for this company: stop it first")
    run = _row(row)
    await announce(conn, run)
    return run


STOP = f"""
UPDATE demo_runs SET status = 'STOPPED', finished_at = $2, lease_until = NULL, message = $3, updated_at = $2
WHERE company_id = $1 AND status = 'RUNNING'
RETURNING {COLUMNS}
"""


async def stop_run(conn: Conn, company_id: uuid.UUID, now: datetime, by: str) -> DemoRunRow | None:
    """Stop the company's run under way (its current step, if one is being sent, is the last);
    None when there is none."""
    row = await conn.fetchrow(STOP, company_id, now, f"stopped by {by}"[:200])
    if row is None:
        return None
    run = _row(row)
    await announce(conn, run)
    return run


async def latest_run(conn: Conn, company_id: uuid.UUID) -> DemoRunRow | None:
    """The company's run under way, else its last one."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM demo_runs WHERE company_id = $1 "
        "ORDER BY status = 'RUNNING' DESC, started_at DESC, id DESC LIMIT 1",
        company_id,
    )
    return _row(row) if row else None


async def run_by_id(conn: Conn, run_id: uuid.UUID) -> DemoRunRow | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM demo_runs WHERE id = $1", run_id)
    return _row(row) if row else None


async def reusable_key(conn: Conn, company_id: uuid.UUID, decrypt: Callable[[bytes], str]) -> bytes | None:
    """The encrypted key of the company's last run, if that key is still the company's current one
    (a new run then needs no new key)."""
    from adapters.crypto import api_key_hash  # the API's: the worker never loads it for this

    row = await conn.fetchrow(
        "SELECT r.api_key_enc, c.api_key_hash FROM demo_runs r JOIN companies c ON c.id = r.company_id "
        "WHERE r.company_id = $1 ORDER BY r.started_at DESC LIMIT 1",
        company_id,
    )
    if row is None:
        return None
    try:
        key = decrypt(row["api_key_enc"])
    except Exception:  # another data key: a new key is made
        return None
    enc: bytes = row["api_key_enc"]
    return enc if api_key_hash(key) == row["api_key_hash"] else None


# ---- the runner -----------------------------------------------------------------------------------


class DemoSender(Protocol):
    """Posts one webhook request (`/api/webhooks/<tool>`); the HTTP status it was answered with."""

    async def post(self, tool: str, headers: dict[str, str], body: bytes) -> int: ...


CLAIM = f"""
WITH due AS (
    SELECT id FROM demo_runs
    WHERE status = 'RUNNING' AND next_step_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
    ORDER BY next_step_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE demo_runs r SET lease_until = $2, updated_at = $1 FROM due WHERE r.id = due.id
RETURNING {", ".join("r." + c.strip() for c in COLUMNS.split(","))}
"""
GUARD = "WHERE id = $1 AND status = 'RUNNING' AND lease_until = $2"
STEPPED = f"""
UPDATE demo_runs SET step = $3, alerts_sent = alerts_sent + $4, message = $5, next_step_at = $6,
    lease_until = NULL, status = $7, finished_at = $8, updated_at = $9
{GUARD}
RETURNING {COLUMNS}
"""
RETRY = f"""
UPDATE demo_runs SET next_step_at = $3, lease_until = NULL, message = $4, updated_at = $5 {GUARD}
"""
STOPPED = f"""
UPDATE demo_runs SET status = 'STOPPED', finished_at = $3, lease_until = NULL, message = $4, updated_at = $3
{GUARD}
RETURNING {COLUMNS}
"""
COMPANY = "SELECT hmac_secret_enc, sla_policy::text FROM companies WHERE id = $1 AND deleted_at IS NULL"
# Answers that mean the step's alerts are in: accepted, or accepted before (a resumed step).
ACCEPTED = (200, 202, 409)
# Answers a retry may mend: rate limited, the database away for a moment, the server restarting.
RETRYABLE = (429, 500, 502, 503, 504)


class DemoRunner:
    """Steps due demo runs (`run_once`); several processes may run one each."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: Callable[[], DemoSender],
        decrypt: Callable[[bytes], str],
        step_seconds: float = demo.DEFAULT_STEP_SECONDS,
        *,
        batch: int = 5,
        lease: timedelta = LEASE,
    ) -> None:
        self.pool = pool
        self.sender = sender  # built on the first claimed run (an idle worker loads no HTTP client)
        self.decrypt = decrypt
        self.step_seconds = step_seconds
        self.batch = batch
        self.lease = lease

    async def run_once(self, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, now, now + self.lease, self.batch)
        for r in rows:
            run = _row(r)
            try:
                await self.advance(run, now)
            except Exception:
                log.exception("demo run %s: step failed; retried after its lease", run.id)
        return len(rows)

    async def next_due(self) -> datetime | None:
        due: datetime | None = await self.pool.fetchval(
            "SELECT min(greatest(next_step_at, coalesce(lease_until, next_step_at))) FROM demo_runs "
            "WHERE status = 'RUNNING'"
        )
        return due

    async def advance(self, run: DemoRunRow, now: datetime) -> None:
        scenario = DemoScenario(run.scenario)
        steps = demo.steps(scenario, run.cycle)
        lease = run.lease_until
        assert lease is not None
        company = await self.pool.fetchrow(COMPANY, run.company_id)
        if company is None:
            await self._stop(run, now, "the company was deleted")
            return
        try:
            api_key = self.decrypt(run.api_key_enc)
            secret = self.decrypt(company["hmac_secret_enc"]).encode()
        except Exception:
            await self._stop(run, now, "the demo's credentials cannot be decrypted with this data key")
            return
        try:
            sender = self.sender()
        except RuntimeError as exc:  # this process cannot reach the webhooks: say so on the run
            await self._stop(run, now, str(exc))
            return
        step = steps[run.step]
        if step.short_sla:
            await self._short_sla(run, company["sla_policy"], now)
        # The step's time is when it fell due, so a resend after a crash is the same request.
        at = run.next_step_at
        sent = 0
        for request in demo.requests(step, run.run_key, run.step, at):
            body = orjson.dumps(request.body)
            stamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "x-api-key": api_key,
                "x-delivery-id": request.delivery_id,
                # Every request is signed: it passes whether the company requires signing or not.
                "x-timestamp": stamp,
                "x-signature": sign(secret, stamp, body),
            }
            status = await sender.post(request.tool.value, headers, body)
            if status in RETRYABLE:
                await self._retry(run, now, f"the webhook answered {status}; retrying")
                return
            if status == 401:
                await self._stop(run, now, "the demo's API key no longer works (rotated): start a new run")
                return
            if status not in ACCEPTED:
                log.warning("demo run %s: webhook answered %s", run.id, status, extra={"tool": request.tool})
                continue
            sent += request.alerts
        await self._stepped(run, steps, sent, now)

    async def _stepped(
        self, run: DemoRunRow, steps: tuple[demo.DemoStep, ...], sent: int, now: datetime
    ) -> None:
        done = run.step + 1
        last = done >= len(steps)
        status = DemoStatus.FINISHED if last else DemoStatus.RUNNING
        message = steps[run.step].note
        next_at = now + timedelta(seconds=(0.0 if last else steps[done].wait) * self.step_seconds)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                STEPPED,
                run.id,
                run.lease_until,
                done,
                sent,
                message,
                next_at,
                status.value,
                now if last else None,
                now,
            )
            if row is None:
                log.info("demo run %s: stopped or lease lost while stepping", run.id)
                return
            stepped = _row(row)
            await announce(conn, stepped)
            if last and run.loop:
                await start_run(
                    conn,
                    company_id=run.company_id,
                    scenario=DemoScenario(run.scenario),
                    api_key_enc=run.api_key_enc,
                    started_by=run.started_by,
                    now=now,
                    loop=True,
                    delay=demo.LOOP_PAUSE_STEPS * self.step_seconds,
                    cycle=run.cycle + 1,
                )

    async def _retry(self, run: DemoRunRow, now: datetime, message: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                RETRY, run.id, run.lease_until, now + timedelta(seconds=RETRY_SECONDS), message, now
            )

    async def _stop(self, run: DemoRunRow, now: datetime, message: str) -> None:
        log.warning("demo run %s stopped: %s", run.id, message)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(STOPPED, run.id, run.lease_until, now, message)
            if row is not None:
                await announce(conn, _row(row))

    async def _short_sla(self, run: DemoRunRow, stored: str | None, now: datetime) -> None:
        """The SLA_BREACH step's policy change: real targets on the company, audited and announced
        as any settings change is."""
        before = orjson.loads(stored) if stored else {}
        policy = SlaPolicy.from_dict(before)
        response, resolution = demo.SLA_BREACH_TARGETS
        targets = dict(policy.targets)
        targets[demo.SLA_BREACH_SEVERITY] = SlaTarget(response, resolution)
        after = SlaPolicy(
            targets=targets,
            business_hours=None,  # the breach is due in a minute whatever the time of day
            holidays=policy.holidays,
            warn_percent=policy.warn_percent,
        ).to_dict()
        if after == before:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE companies SET sla_policy = $2::jsonb, updated_at = $3 WHERE id = $1",
                run.company_id,
                orjson.dumps(after).decode(),
                now,
            )
            await conn.execute(
                "INSERT INTO audit_log (company_id, actor_email, action, entity_type, entity_id, before, after, at)"
                " VALUES ($1, $2, 'sla_policy.update', 'company', $3, $4::jsonb, $5::jsonb, $6)",
                run.company_id,
                None,
                str(run.company_id),
                orjson.dumps({"sla_policy": before}).decode(),
                orjson.dumps({"sla_policy": after, "by": f"demo run {run.id}"}).decode(),
                now,
            )
            await conn.execute(
                NOTIFY, BusEvent(COMPANIES_TOPIC, COMPANY_SETTINGS, str(run.company_id)).to_json()
            )
