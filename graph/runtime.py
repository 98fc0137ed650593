"""Background work started with the server: the ingest committers, workers and sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

from db.ingest import AlertWriter
from db.ratelimit import RateLimiter
from db.webhook_auth import WebhookCompanyCache
from graph.webhooks.service import IngestService
from graph.webhooks.sns import SnsGateway

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def start_background(services: Any, app: Any) -> AsyncIterator[None]:
    writer = AlertWriter(services.pool)
    ingest = IngestService(
        companies=WebhookCompanyCache(services.pool, services.cipher),
        limiter=RateLimiter(services.pool),
        writer=writer,
        sns=SnsGateway(verify=services.settings.sns_verify),
    )
    services.extras["ingest"] = ingest
    services.bus.add_hook(ingest.on_event)
    await writer.start()
    workers = await _start_workers(services) if services.settings.run_workers else []
    try:
        yield
    finally:
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await writer.stop()


async def _start_workers(services: Any) -> list[asyncio.Task[None]]:
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


async def _exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """A worker started by `serve` stops when `serve` is gone (its parent changes)."""
    while True:
        await asyncio.sleep(interval)
        if os.getppid() != parent_pid:
            break
    log.warning("serve is gone; worker stopping")


async def run_worker_forever(settings: Any) -> None:
    """`alertwhisperer worker`: the background workers without the HTTP server."""
    from db.migrate import upgrade_to_head
    from graph.services import build_services, resolve_database_url

    url = await asyncio.to_thread(resolve_database_url, settings)
    await asyncio.to_thread(upgrade_to_head, url)
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main.cancel)  # stop between batches; a cut batch rolls back
    async with build_services(settings, url) as services:
        tasks = await _start_workers(services)
        parent = os.environ.get("ALERTWHISPERER_PARENT_PID")
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
