"""Background work started with the server: the ingest committers, workers and sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from db.delivery_log import DeliveryRecorder
from db.ingest import AlertWriter
from db.ratelimit import RateLimiter
from db.webhook_auth import WebhookCompanyCache
from graph.webhooks.service import IngestService
from graph.webhooks.sns import SnsGateway
from graph.worker_process import quiet_garbage_collector, start_workers_safely

log = logging.getLogger(__name__)

__all__ = ["quiet_garbage_collector", "start_background"]


@contextlib.asynccontextmanager
async def start_background(services: Any, app: Any) -> AsyncIterator[None]:
    writer = AlertWriter(services.pool)
    ingest = IngestService(
        companies=WebhookCompanyCache(services.pool, services.cipher),
        limiter=RateLimiter(services.pool),
        writer=writer,
        sns=SnsGateway(verify=services.settings.sns_verify),
        deliveries=DeliveryRecorder(services.pool),
    )
    services.ingest = ingest
    services.bus.add_hook(ingest.on_event)
    await writer.start()
    workers = await start_workers_safely(services) if services.settings.run_workers else []
    try:
        yield
    finally:
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await writer.stop()
        with contextlib.suppress(Exception):
            await ingest.deliveries.flush()
