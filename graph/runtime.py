"""Background work started with the server: the ingest committers, workers and sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
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
    except ImportError:
        return []
    return await start_workers(services)


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


async def run_worker_forever(settings: Any) -> None:
    """`alertwhisperer worker`: the background workers without the HTTP server."""
    from db.migrate import upgrade_to_head
    from graph.services import build_services, resolve_database_url
    from graph.workers import start_workers

    url = await asyncio.to_thread(resolve_database_url, settings)
    await asyncio.to_thread(upgrade_to_head, url)
    async with build_services(settings, url) as services:
        tasks = await start_workers(services)
        quiet_garbage_collector()
        log.info("workers running", extra={"tasks": len(tasks)})
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
