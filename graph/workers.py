"""Background workers run by `serve` (and alone by `alertwhisperer worker`): a registry of loops.

- correlation: woken by the `alerts` NOTIFY every ingest commit sends (and by a 1 s poll, so nothing
  waits on a lost notification), it drains uncorrelated alerts batch by batch.
- reaction:<name>: one per reaction to incident changes (`db.reactions`), woken by the outbox's
  NOTIFY and a 1 s poll.
- mailer: sends notification emails after their change committed (`db.mailer`), woken by the
  `system:emails` NOTIFY and a 5 s poll.
- executor: remediation executions through SSM (`db.executor`), woken by `system:executions` and a
  1 s poll; every 30 s it also settles which succeeded remediations held (`db.remediation_held`).
- demo-executor: the simulated executions of demo companies (`adapters.simulated`), as `executor`.
- demo: steps the demo runs that fell due (`db.demo.DemoRunner`), woken by their `company:*:demo`
  events and by their due times; each run is claimed with SKIP LOCKED and a lease.
- sla-monitor: every ALERTWHISPERER_SLA_CHECK_SECONDS (15 s), acts on the SLA warnings and breaches
  that fell due (`db.sla.SlaMonitor`; every process may run it, rows are claimed with SKIP LOCKED).
- kpi-rollups: every second (and at once while more is marked), recomputes the KPI rollups of the
  hours the `kpi-rollups` reaction and the SLA/held triggers marked; every 5 s it recounts the current
  and previous hours' alerts (`db.kpis`; one process at a time, a transaction-level advisory lock).
- patch-compliance: every 60 s, one process at a time, reads the patch states of the companies due
  (each at most hourly) through SSM (`db.kpis.PatchRefresh`).
- sweeper: every 30 s, one process at a time (advisory lock), auto-resolves quiet incidents,
  re-analyses open incidents whose analysis is behind (repeats write no outbox row),
  expires old idempotency records, keeps the recent webhook deliveries of each company and
  integration bounded, and purges deleted companies in batches (for at most 5 s a round).

Each loop is a `LoopSpec` in LOOPS, run by `run_loop`: one way to start, step, back off after an
error, and say how it is doing (`db.health.LoopBeats`, read by `/readyz`). A loop that cannot start
(an import or set-up error) is an error in the log and a `failed_to_start` row, retried with back-off,
never silently absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

from adapters import metrics
from db import company_purge, delivery_log
from db.analysis import IncidentAnalysisReaction, reanalyse_stale
from db.approvals import ApprovalExpiryLoop, ApprovalWithdrawal
from db.assignment import AutoAssignment
from db.correlation import CorrelationWorker
from db.decisions import DecisionReaction, release_followers
from db.demo import DEMO_TOPIC, DemoRunner
from db.escalation_notices import EscalationNotices
from db.events import BusEvent
from db.executions import EXECUTIONS_TOPIC
from db.executor import Executor
from db.health import BEAT_SECONDS, LoopBeats
from db.kpis import KpiRollupMarks, KpiRollups, PatchRefresh
from db.llm_analysis import LlmAnalysisReaction
from db.mailer import MailerRun
from db.notifications import EMAILS_TOPIC
from db.reactions import REACTIONS_TOPIC, Reaction, ReactionRunner
from db.remediation_held import RemediationHeld, settle_held
from db.retention import RETENTION_LOCK, AlertRetention
from db.sla import REACTION as SLA_REACTION
from db.sla import SlaClocks, SlaMonitor
from db.sweeps import IncidentSweeper

if TYPE_CHECKING:
    from db.pool import Conn, Pooled
    from domain.aws import AwsAccess
    from domain.ports import RemoteExecutor

log = logging.getLogger(__name__)

SWEEP_LOCK = 7461002
SWEEP_SECONDS = 30.0
POLL_SECONDS = 1.0
MAILER_POLL_SECONDS = 5.0
GATHER_SECONDS = 0.005
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
SLA_MIN_WAIT_SECONDS = 0.1
RETENTION_SECONDS = 300.0
RETENTION_STEP_SECONDS = 10.0
KPI_ALERTS_SECONDS = 5.0
PATCH_CHECK_SECONDS = 60.0
PATCH_FIRST_SECONDS = 15.0
STOPPED_BEAT_SECONDS = 5.0


class LoopBody(Protocol):
    """One background loop once started: `step` does one unit of work (True: more is waiting, step
    again at once), `idle` waits for the next, `close` gives back what it holds."""

    async def step(self) -> bool: ...

    async def idle(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LoopSpec:
    name: str
    start: Callable[[Any, asyncio.Event], Awaitable[LoopBody]]


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failed steps (or starts) in a row: 1, 2, 4 … up to 30."""
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2.0 ** max(0, failures - 1))


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop but the request got lost on the way
    (a `wait_for` whose awaitable finished at the same moment swallows it on Python 3.11, an error
    raised while cleaning up replaces it): a loop that went on would keep its process from exiting."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def woken(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. `asyncio.timeout`, not `wait_for`: on Python 3.11
    `wait_for` returns normally when cancelled just as the event is set, and the loop never stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class _Reporter:
    """A loop's beats: at once when its state changes, else at most every BEAT_SECONDS; a beat that
    cannot be written (the database is away) is skipped, never the loop's own failure."""

    def __init__(self, beats: LoopBeats, name: str) -> None:
        self.beats = beats
        self.name = name
        self._last: tuple[str, int] | None = None
        self._at = 0.0

    async def __call__(self, state: str, error: str | None = None, failures: int = 0) -> None:
        if self._last == (state, failures) and time.monotonic() - self._at < BEAT_SECONDS:
            return
        try:
            async with asyncio.timeout(5):
                await self.beats.beat(self.name, state, error, failures)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("loop beat not written", exc_info=True)
            return
        self._last, self._at = (state, failures), time.monotonic()


async def run_loop(
    spec: LoopSpec, services: Any, wake: asyncio.Event, beats: LoopBeats | None = None
) -> None:
    """Start `spec` (retrying a failed start with back-off) and step it until cancelled."""
    report = _Reporter(beats or LoopBeats(services.pool), spec.name)
    failures = 0
    while True:
        try:
            body = await spec.start(services, wake)
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            log.error("background loop failed to start", exc_info=True, extra={"loop": spec.name})
            await report("failed_to_start", _error_text(exc), failures)
            await asyncio.sleep(backoff(failures))
    failures = 0
    await report("running")
    try:
        while True:
            stop_if_cancelled()
            try:
                more = await body.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A cancellation a step's clean-up turned into another error (a rollback on the
                # connection whose query was cancelled) is still the loop's end, not a failed step.
                stop_if_cancelled()
                failures += 1
                log.exception("background loop step failed; retrying", extra={"loop": spec.name})
                await report("failing", _error_text(exc), failures)
                await asyncio.sleep(backoff(failures))
                continue
            failures = 0
            await report("running")
            if not more:
                await body.idle()
    finally:
        await body.close()
        # Bounded: a slow database does not hold the process's exit (the beat only informs /readyz).
        with contextlib.suppress(BaseException):
            async with asyncio.timeout(STOPPED_BEAT_SECONDS):
                await report.beats.beat(spec.name, "stopped", None, 0)


class CorrelationLoop:
    def __init__(self, services: Any, wake: asyncio.Event, batch_size: int = 1000) -> None:
        self.pool: asyncpg.Pool = services.pool
        self.wake = wake
        self.batch_size = batch_size
        self.worker = CorrelationWorker(self.pool, batch_size=batch_size)
        self.conn: Pooled | None = None

    async def step(self) -> bool:
        self.wake.clear()
        self.conn = await _worker_connection(self.pool, self.worker, self.conn)
        began = time.perf_counter()
        stats = await self.worker.run_once(conn=self.conn)
        metrics.correlation_batch(
            time.perf_counter() - began, stats.alerts, stats.incidents_created, stats.incidents_updated
        )
        return stats.alerts >= self.batch_size  # more waiting: keep draining

    async def idle(self) -> None:
        await woken(self.wake, POLL_SECONDS)
        if GATHER_SECONDS:
            # Every batch has a fixed cost (a transaction of six round trips); a few milliseconds
            # after a wake-up, the alerts committed meanwhile share it instead of each paying it.
            await asyncio.sleep(GATHER_SECONDS)

    async def close(self) -> None:
        if self.conn is not None:
            await _release(self.pool, self.conn)
            self.conn = None


class SweeperLoop:
    def __init__(self, services: Any, interval: float = SWEEP_SECONDS) -> None:
        self.pool: asyncpg.Pool = services.pool
        self.interval = interval
        self.sweeper = IncidentSweeper(self.pool)

    async def step(self) -> bool:
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK):
                return False  # another process sweeps this round
            try:
                resolved = await self.sweeper.auto_resolve()
                expired = await self.sweeper.expire_deliveries()
                pruned = await self.sweeper.prune_changes()
                records = await delivery_log.prune(self.pool)
                purged = await company_purge.purge(self.pool)
                reanalysed = await reanalyse_stale(self.pool, datetime.now(UTC))
                released = await release_followers(self.pool, datetime.now(UTC))
                if resolved or expired or pruned or records or purged or reanalysed or released:
                    log.info(
                        "sweep",
                        extra={
                            "auto_resolved": resolved,
                            "deliveries_expired": expired,
                            "changes_pruned": pruned,
                            "delivery_records_pruned": records,
                            "company_purge_batches": purged,
                            "incidents_reanalysed": reanalysed,
                            "followers_decided_again": released,
                        },
                    )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", SWEEP_LOCK)
        return False

    async def idle(self) -> None:
        await asyncio.sleep(self.interval)

    async def close(self) -> None:
        return None


class RetentionLoop:
    """Deletes alerts past their company's retention (db/retention.py): one process at a time, in
    steps of about RETENTION_STEP_SECONDS, then a rest of RETENTION_SECONDS once a pass is done."""

    def __init__(self, services: Any, interval: float = RETENTION_SECONDS) -> None:
        self.pool: asyncpg.Pool = services.pool
        self.clock = services.clock
        self.interval = interval
        settings = services.settings
        self.retention = AlertRetention(settings.retention_batch, settings.retention_pause_seconds)

    async def step(self) -> bool:
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK):
                return False  # another process purges
            try:
                deleted, more = await self.retention.run(conn, self.clock.now(), RETENTION_STEP_SECONDS)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)
        metrics.alerts_purged(deleted)
        if deleted:
            log.info("retention", extra={"alerts_deleted": deleted, "more": more})
        return more

    async def idle(self) -> None:
        await asyncio.sleep(self.interval)

    async def close(self) -> None:
        return None


class ReactionLoop:
    """Drives one reaction: woken by the NOTIFY the outbox trigger sends, and by a poll (retries fall
    due without a notification, and a notification can be lost)."""

    def __init__(
        self, services: Any, reaction: Reaction, poll: float = POLL_SECONDS, batch: int = 20
    ) -> None:
        self.runner = ReactionRunner(services.pool, reaction, batch=batch)
        self.poll = poll
        self.wake = asyncio.Event()

        def on_event(event: BusEvent) -> None:
            if event.topic == REACTIONS_TOPIC:
                self.wake.set()

        services.bus.add_hook(on_event)

    async def step(self) -> bool:
        self.wake.clear()
        return await self.runner.run_once() >= self.runner.batch

    async def idle(self) -> None:
        await woken(self.wake, self.poll)

    async def close(self) -> None:
        return None


class LazyAws:
    """The services' AWS sessions and data-key cipher, made on first use when the services have none:
    an idle worker loads neither boto3 nor the cipher."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self._sessions: Any = None
        self._cipher: Any = None

    def sessions(self) -> Any:
        if self._sessions is None:
            sessions = getattr(self.services, "aws", None)
            if sessions is None:
                from adapters.aws import AwsSessions

                sessions = AwsSessions(self.services.clock)
            self._sessions = sessions
        return self._sessions

    def decrypt(self, token: bytes) -> str:
        if self._cipher is None:
            cipher = getattr(self.services, "cipher", None)
            if cipher is None:
                from adapters.crypto import DataCipher

                cipher = DataCipher(self.services.settings.data_key)
            self._cipher = cipher
        text: str = self._cipher.decrypt(token)
        return text


class ExecutorLoop:
    """Drives remediation executions (`db.executor.Executor`), woken by EXECUTIONS_TOPIC and a poll
    (polls and retries fall due without a notification).

    boto3 and the data key's cipher are loaded on the first execution, not at start: an idle worker
    holds neither (the API's `Services` already has its `aws` sessions, and they are used).
    """

    def __init__(
        self,
        services: Any,
        poll: float = POLL_SECONDS,
        held_every: float = SWEEP_SECONDS,
        simulated: bool = False,
    ) -> None:
        self.services = services
        self.poll = poll
        self.held_every = held_every
        self._held_at = 0.0
        self.simulated = simulated
        self.aws = LazyAws(services)
        remote = _simulated_remote if simulated else self._remote
        self.executor = Executor(services.pool, remote, self.aws.decrypt, simulated=simulated)
        self.wake = asyncio.Event()

        def on_event(event: BusEvent) -> None:
            if event.topic == EXECUTIONS_TOPIC:
                self.wake.set()

        services.bus.add_hook(on_event)

    def _remote(self, company_id: Any, access: AwsAccess) -> RemoteExecutor:
        executor: RemoteExecutor = self.aws.sessions().executor(company_id, access)
        return executor

    async def step(self) -> bool:
        self.wake.clear()
        if not self.simulated and time.monotonic() - self._held_at >= self.held_every:
            await settle_held(self.services.pool, self.services.clock.now())
            self._held_at = time.monotonic()
        return await self.executor.run_once(self.services.clock.now()) >= self.executor.batch

    async def idle(self) -> None:
        await woken(self.wake, self.poll)

    async def close(self) -> None:
        return None


def _simulated_remote(company_id: Any, instance_ids: Any) -> RemoteExecutor:
    from adapters.simulated import SimulatedExecutor

    return SimulatedExecutor(instance_ids)


class DemoLoop:
    """Steps demo runs (`db.demo`): at the earliest due step it knows of, when a run starts or stops
    (its bus event), and at least every POLL_SECONDS."""

    def __init__(self, services: Any, poll: float = POLL_SECONDS) -> None:
        self.services = services
        self.poll = poll
        self._sender: Any = None
        self._cipher: Any = None
        self.runner = DemoRunner(
            services.pool, self._send_through, self._decrypt, services.settings.demo_step_seconds
        )
        self.wake = asyncio.Event()

        def on_event(event: BusEvent) -> None:
            if event.topic.endswith(":" + DEMO_TOPIC):
                self.wake.set()

        services.bus.add_hook(on_event)

    def _send_through(self) -> Any:
        if self._sender is None:
            from graph.demo_sender import demo_sender

            self._sender = demo_sender(self.services)
        return self._sender

    def _decrypt(self, token: bytes) -> str:
        if self._cipher is None:
            cipher = getattr(self.services, "cipher", None)
            if cipher is None:
                from adapters.crypto import DataCipher

                cipher = DataCipher(self.services.settings.data_key)
            self._cipher = cipher
        text: str = self._cipher.decrypt(token)
        return text

    async def step(self) -> bool:
        self.wake.clear()
        return await self.runner.run_once(self.services.clock.now()) >= self.runner.batch

    async def idle(self) -> None:
        wait = self.poll
        due = await self.runner.next_due()
        if due is not None:
            wait = max(0.0, min(wait, (due - self.services.clock.now()).total_seconds()))
        await woken(self.wake, wait)

    async def close(self) -> None:
        return None


def reaction_loop(make: Callable[[Any], Reaction], name: str, batch: int = 20) -> LoopSpec:
    """The LoopSpec of a reaction: `make(services)` builds it; it registers before its first step."""

    async def start(services: Any, wake: asyncio.Event) -> LoopBody:
        loop = ReactionLoop(services, make(services), batch=batch)
        await loop.runner.register()
        return loop

    return LoopSpec(f"reaction:{name}", start)


class MailerLoop:
    """Sends notification emails (`db.mailer`): woken by the NOTIFY a new email sends, and by a poll
    (retries fall due without one)."""

    def __init__(self, services: Any, poll: float = MAILER_POLL_SECONDS) -> None:
        self.run = MailerRun(services.pool, services.mailer, services.settings.public_url)
        self.clock = services.clock
        self.poll = poll
        self.wake = asyncio.Event()

        def on_event(event: BusEvent) -> None:
            if event.topic == EMAILS_TOPIC:
                self.wake.set()

        services.bus.add_hook(on_event)

    async def step(self) -> bool:
        self.wake.clear()
        stats = await self.run.run_once(self.clock.now())
        return stats.claimed >= self.run.batch

    async def idle(self) -> None:
        await woken(self.wake, self.poll)

    async def close(self) -> None:
        return None


# The reactions to incident changes (decisions, notifications, SLA clocks...) join LOOPS here, one
# `reaction_loop(...)` each.
REACTIONS: list[LoopSpec] = [
    reaction_loop(lambda services: EscalationNotices(), EscalationNotices.name),
    reaction_loop(lambda services: AutoAssignment(), AutoAssignment.name),
    reaction_loop(lambda services: IncidentAnalysisReaction(), IncidentAnalysisReaction.name),
    reaction_loop(lambda services: RemediationHeld(), RemediationHeld.name),
    # A model call takes seconds: its batch leaves each one to a claim of its own (`handle_batch`).
    reaction_loop(
        lambda services: LlmAnalysisReaction(
            services.analysers, services.settings.llm_min_priority, services.settings.llm_timeout_seconds
        ),
        LlmAnalysisReaction.name,
    ),
    reaction_loop(lambda services: DecisionReaction(), "decisions"),
    reaction_loop(lambda services: ApprovalWithdrawal(), ApprovalWithdrawal.name),
    reaction_loop(lambda services: SlaClocks(), SLA_REACTION),
    reaction_loop(lambda services: KpiRollupMarks(), KpiRollupMarks.name, batch=100),
]


class SlaMonitorLoop:
    """Acts on the SLA warnings and breaches that fell due (on the services' clock): at the earliest due
    time it knows of, and at least every `sla_check_seconds`. Any number of processes run it: each
    claims its due rows with SKIP LOCKED."""

    def __init__(self, services: Any, interval: float | None = None) -> None:
        self.monitor = SlaMonitor(services.pool)
        self.clock = services.clock
        self.interval = services.settings.sla_check_seconds if interval is None else interval
        self._began = time.monotonic()

    async def step(self) -> bool:
        self._began = time.monotonic()
        return await self.monitor.run_once(self.clock.now()) >= self.monitor.batch

    async def idle(self) -> None:
        # The next pass comes at the earliest due time already known, and at most one interval after
        # this one began (for deadlines set meanwhile, by incidents opened since).
        wait = self.interval - (time.monotonic() - self._began)
        due = await self.monitor.next_due()
        if due is not None:
            wait = min(wait, (due - self.clock.now()).total_seconds())
        # (not less than SLA_MIN_WAIT_SECONDS: a due row another process holds is not spun on)
        await asyncio.sleep(max(SLA_MIN_WAIT_SECONDS, wait))

    async def close(self) -> None:
        return None


class KpiRollupLoop:
    """Keeps `kpi_hourly` current (`db.kpis.KpiRollups`): the marked hours as soon as a poll finds
    them, the alert counts every `alerts_every` seconds."""

    def __init__(
        self, services: Any, poll: float = POLL_SECONDS, alerts_every: float = KPI_ALERTS_SECONDS
    ) -> None:
        self.rollups = KpiRollups(services.pool)
        self.poll = poll
        self.alerts_every = alerts_every
        self._alerts_at = 0.0

    async def step(self) -> bool:
        if time.monotonic() - self._alerts_at >= self.alerts_every:
            await self.rollups.recount_alerts()
            self._alerts_at = time.monotonic()
        return await self.rollups.run_once() >= self.rollups.batch

    async def idle(self) -> None:
        await asyncio.sleep(self.poll)

    async def close(self) -> None:
        return None


class PatchComplianceLoop:
    """Reads the companies' patch states through SSM (`db.kpis.PatchRefresh`); boto3 and the data
    key's cipher are loaded on the first company that is due, as the executor does."""

    def __init__(
        self, services: Any, interval: float = PATCH_CHECK_SECONDS, first_after: float = PATCH_FIRST_SECONDS
    ) -> None:
        self.services = services
        self.interval = interval
        # Not at start-up: a restarting fleet does not ask SSM at once, and a worker that only
        # starts and stops loads no boto3.
        self._first_at = time.monotonic() + first_after
        self.aws = LazyAws(services)
        self.refresh = PatchRefresh(services.pool, self._source, self.aws.decrypt)

    def _source(self, company_id: Any, access: AwsAccess) -> Any:
        return self.aws.sessions().patch_states(company_id, access)

    async def step(self) -> bool:
        if time.monotonic() >= self._first_at:
            await self.refresh.run_once(self.services.clock.now())
        return False

    async def idle(self) -> None:
        await asyncio.sleep(min(self.interval, max(0.0, self._first_at - time.monotonic()) or self.interval))

    async def close(self) -> None:
        return None


async def _start_kpi_rollups(services: Any, wake: asyncio.Event) -> LoopBody:
    return KpiRollupLoop(services)


async def _start_patch_compliance(services: Any, wake: asyncio.Event) -> LoopBody:
    return PatchComplianceLoop(services)


async def _start_sla_monitor(services: Any, wake: asyncio.Event) -> LoopBody:
    return SlaMonitorLoop(services)


async def _start_correlation(services: Any, wake: asyncio.Event) -> LoopBody:
    return CorrelationLoop(services, wake)


async def _start_executor(services: Any, wake: asyncio.Event) -> LoopBody:
    return ExecutorLoop(services)


async def _start_demo_executor(services: Any, wake: asyncio.Event) -> LoopBody:
    return ExecutorLoop(services, simulated=True)


async def _start_demo(services: Any, wake: asyncio.Event) -> LoopBody:
    return DemoLoop(services)


async def _start_sweeper(services: Any, wake: asyncio.Event) -> LoopBody:
    return SweeperLoop(services)


async def _start_mailer(services: Any, wake: asyncio.Event) -> LoopBody:
    return MailerLoop(services)


async def _start_retention(services: Any, wake: asyncio.Event) -> LoopBody:
    return RetentionLoop(services)


async def _start_approval_expiry(services: Any, wake: asyncio.Event) -> LoopBody:
    return ApprovalExpiryLoop(services.pool)


LOOPS: list[LoopSpec] = [
    LoopSpec("correlation", _start_correlation),
    LoopSpec("sweeper", _start_sweeper),
    LoopSpec("mailer", _start_mailer),
    LoopSpec("executor", _start_executor),
    LoopSpec("demo-executor", _start_demo_executor),
    LoopSpec("demo", _start_demo),
    LoopSpec("approval-expiry", _start_approval_expiry),
    LoopSpec("sla-monitor", _start_sla_monitor),
    LoopSpec("retention", _start_retention),
    LoopSpec("kpi-rollups", _start_kpi_rollups),
    LoopSpec("patch-compliance", _start_patch_compliance),
    *REACTIONS,
]


async def correlation_loop(services: Any, wake: asyncio.Event, batch_size: int = 1000) -> None:
    """The correlation loop alone, with a batch size of its own (tests and benchmarks)."""

    async def start(services: Any, wake: asyncio.Event) -> LoopBody:
        return CorrelationLoop(services, wake, batch_size)

    await run_loop(LoopSpec("correlation", start), services, wake)


async def _worker_connection(pool: asyncpg.Pool, worker: CorrelationWorker, conn: Pooled | None) -> Pooled:
    """The worker keeps one connection between batches (none of the pool's reset round trips per
    batch): `conn` while it works, else a newly prepared one (the broken one goes back to the pool)."""
    if conn is not None:
        if _usable(conn):
            return conn
        await _release(pool, conn)
    fresh = await pool.acquire()
    try:
        await worker.prepare(fresh)
    except BaseException:
        await _release(pool, fresh)
        raise
    return fresh


def _usable(conn: Conn) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took back a connection whose server side went away
        return False


async def _release(pool: asyncpg.Pool, conn: Pooled) -> None:
    with contextlib.suppress(Exception):
        await pool.release(conn)


async def start_workers(services: Any, loops: list[LoopSpec] | None = None) -> list[asyncio.Task[None]]:
    wake = asyncio.Event()

    def on_event(event: BusEvent) -> None:
        if event.topic.endswith(":alerts"):
            wake.set()

    services.bus.add_hook(on_event)
    beats = LoopBeats(services.pool)
    with contextlib.suppress(Exception):
        await beats.prune()
    return [
        asyncio.create_task(run_loop(spec, services, wake, beats), name=spec.name)
        for spec in (LOOPS if loops is None else loops)
    ]
