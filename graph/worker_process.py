"""`alertwhisperer worker`: the background loops (correlation, sweeps) in a process of their own.

The loops need a raw asyncpg pool, the LISTEN/NOTIFY bus that wakes them and the settings: nothing
of the API. So this module imports no GraphQL, HTTP, SQLAlchemy or Alembic code (a test checks), and
the idle worker stays small (bench/README.md, "Idle footprint"). `serve` migrates before it starts
its worker; a worker started on its own migrates in a short-lived child process, so Alembic's modules
are never resident in the worker either.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from adapters import metrics
from adapters.clock import SystemClock
from adapters.llm import llm_analysers
from adapters.ses import ses_mailer
from db.events import EventBus
from db.pool import asyncpg_dsn, create_pool
from domain.ports import Analyser, Clock, Mailer, RemoteExecutor
from graph.settings import Settings, resolve_database_url

log = logging.getLogger(__name__)

PARENT_PID_ENV = "ALERTWHISPERER_PARENT_PID"
POOL_CLOSE_SECONDS = 10.0


@dataclass
class WorkerServices:
    """What the background loops use (the API's `Services` has these too, so either runs them)."""

    settings: Settings
    database_url: str
    pool: asyncpg.Pool
    bus: EventBus
    clock: Clock = field(default_factory=SystemClock)
    executor: RemoteExecutor | None = None
    mailer: Mailer | None = None
    # The LLMs, in the order they are tried (none configured: the rules alone).
    analysers: list[Analyser] = field(default_factory=list)


@contextlib.asynccontextmanager
async def build_worker_services(settings: Settings, url: str) -> AsyncIterator[WorkerServices]:
    pool = await create_pool(url, max_size=settings.db_pool_size)
    bus = EventBus(asyncpg_dsn(url))
    await bus.start()
    unwatch = metrics.watch_asyncpg_pool(pool)
    try:
        yield WorkerServices(
            settings=settings,
            database_url=url,
            pool=pool,
            bus=bus,
            mailer=ses_mailer(settings.email_from, settings.ses_region),
            analysers=llm_analysers(settings),
        )
    finally:
        unwatch()
        await bus.stop()
        # Pool.close waits for every connection to come back, without end: bounded, so a connection
        # left busy (a query the server is slow to cancel) cannot keep a stopping worker alive.
        try:
            async with asyncio.timeout(POOL_CLOSE_SECONDS):
                await pool.close()
        except TimeoutError:
            log.warning("database pool not closed in time; its connections are terminated")
            pool.terminate()


async def start_workers_safely(services: Any) -> list[asyncio.Task[None]]:
    try:
        from graph.workers import start_workers
    except Exception as exc:
        # Not silently absent (an ImportError here once turned correlation off without a word): an
        # error in the log, and a `failed_to_start` row that keeps /readyz unavailable.
        log.error("background workers failed to start", exc_info=True)
        return [asyncio.create_task(_report_unstartable(services, exc), name="workers-unstartable")]
    return await start_workers(services)


async def _report_unstartable(services: Any, exc: BaseException) -> None:
    from db.health import BEAT_SECONDS, LoopBeats

    beats = LoopBeats(services.pool)
    while True:
        with contextlib.suppress(Exception):
            await beats.beat("workers", "failed_to_start", f"{type(exc).__name__}: {exc}"[:2000], 1)
        await asyncio.sleep(BEAT_SECONDS)


async def _exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """A worker started by `serve` stops when `serve` is gone (its parent changes)."""
    while True:
        await asyncio.sleep(interval)
        if os.getppid() != parent_pid:
            break
    log.warning("serve is gone; worker stopping")


def _migrate_in_child() -> None:
    done = subprocess.run([sys.executable, "-m", "graph.cli", "migrate"], stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(done.returncode)


def quiet_garbage_collector() -> None:
    """Keep the cyclic garbage collector from pausing the event loop for tens of milliseconds.

    Everything allocated while starting (the schema, SQLAlchemy's mappers, the imported modules:
    hundreds of thousands of objects) never becomes garbage, yet every full collection would walk it
    again. `gc.freeze()` moves it out of the collector's sight, and a larger first-generation
    threshold makes collections rarer under the steady churn of request objects.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def run_worker_forever(settings: Settings) -> None:
    """The background workers without the HTTP server, until SIGTERM/SIGINT (or `serve` is gone)."""
    parent = os.environ.get(PARENT_PID_ENV)
    url = await asyncio.to_thread(resolve_database_url, settings)
    if not parent:  # `serve` migrated before starting us
        await asyncio.to_thread(_migrate_in_child)
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main.cancel)  # stop between batches; a cut batch rolls back
    stop_metrics = (
        metrics.serve_worker_metrics(
            settings.worker_metrics_host, settings.worker_metrics_port, settings.metrics_token
        )
        if settings.worker_metrics_port
        else None
    )
    if stop_metrics is not None:
        log.info(
            "worker metrics served",
            extra={"host": settings.worker_metrics_host, "port": settings.worker_metrics_port},
        )
    async with contextlib.AsyncExitStack() as stack:
        if stop_metrics is not None:
            stack.callback(stop_metrics)
        services = await stack.enter_async_context(build_worker_services(settings, url))
        tasks = await start_workers_safely(services)
        if parent:
            tasks.append(asyncio.create_task(_exit_with_parent(int(parent)), name="parent-watch"))
        quiet_garbage_collector()
        log.info("workers running", extra={"tasks": len(tasks)})
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
