"""Background workers run by `serve` (and alone by `alertwhisperer worker`).

- correlation: woken by the `alerts` NOTIFY every ingest commit sends (and by a 1 s poll, so nothing
  waits on a lost notification), it drains uncorrelated alerts batch by batch.
- sweeper: every 30 s, one process at a time (advisory lock), auto-resolves quiet incidents,
  refreshes decaying priority scores and expires old idempotency records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from db.correlation import CorrelationWorker, IncidentSweeper

log = logging.getLogger(__name__)

SWEEP_LOCK = 7461002
SWEEP_SECONDS = 30.0
POLL_SECONDS = 1.0
GATHER_SECONDS = 0.005


async def correlation_loop(services: Any, wake: asyncio.Event, batch_size: int = 1000) -> None:
    worker = CorrelationWorker(services.pool, batch_size=batch_size)
    conn: asyncpg.Connection | None = None
    try:
        while True:
            wake.clear()
            try:
                conn = await _worker_connection(services.pool, worker, conn)
                stats = await worker.run_once(conn=conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("correlation batch failed; retrying")
                await asyncio.sleep(1)
                continue
            if stats.alerts >= batch_size:
                continue  # more waiting: keep draining
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
            if GATHER_SECONDS:
                # Every batch has a fixed cost (a transaction of six round trips); a few milliseconds
                # after a wake-up, the alerts committed meanwhile share it instead of each paying it.
                await asyncio.sleep(GATHER_SECONDS)
    finally:
        if conn is not None:
            await _release(services.pool, conn)


async def _worker_connection(
    pool: asyncpg.Pool, worker: CorrelationWorker, conn: asyncpg.Connection | None
) -> asyncpg.Connection:
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


def _usable(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took back a connection whose server side went away
        return False


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):
        await pool.release(conn)


async def sweeper_loop(services: Any, interval: float = SWEEP_SECONDS) -> None:
    sweeper = IncidentSweeper(services.pool)
    while True:
        try:
            async with services.pool.acquire() as conn:
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK):
                    try:
                        resolved = await sweeper.auto_resolve()
                        refreshed = await sweeper.refresh_priorities()
                        expired = await sweeper.expire_deliveries()
                        if resolved or expired:
                            log.info(
                                "sweep",
                                extra={
                                    "auto_resolved": resolved,
                                    "rescored": refreshed,
                                    "deliveries_expired": expired,
                                },
                            )
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock($1)", SWEEP_LOCK)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(interval)


async def start_workers(services: Any) -> list[asyncio.Task[None]]:
    wake = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if str(event.get("topic", "")).endswith(":alerts"):
            wake.set()

    services.bus.add_hook(on_event)
    return [
        asyncio.create_task(correlation_loop(services, wake), name="correlation"),
        asyncio.create_task(sweeper_loop(services), name="sweeper"),
    ]
