"""How the background work is doing, in the database: loop beats, quarantined companies, correlation lag.

The loops run in worker processes and `/readyz` is answered by API processes, so what a loop knows of
itself is written to `background_loops` (throttled to one beat per BEAT_SECONDS while nothing
changes) and read back here. A process that died stops beating; its rows are ignored after
STALE_AFTER and pruned after a day.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from db.reactions import backlog

if TYPE_CHECKING:
    from db.pool import Conn

BEAT_SECONDS = 10.0
STALE_AFTER = timedelta(minutes=2)
PRUNE_AFTER = timedelta(days=1)
# The oldest waiting alert is looked for among this many waiting alerts: past a quarantined company's
# backlog of more than this, the lag reads as zero rather than walking the whole backlog per probe.
LAG_PROBE_ALERTS = 10_000

BEAT = """
INSERT INTO background_loops AS b (name, instance, state, error, failures)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name, instance) DO UPDATE SET
    state = EXCLUDED.state, error = EXCLUDED.error, failures = EXCLUDED.failures, beat_at = now()
"""
PRUNE = "DELETE FROM background_loops WHERE beat_at < now() - $1::interval"
LOOPS = """
SELECT name, instance, state, error, failures, started_at, beat_at FROM background_loops
WHERE beat_at > now() - $1::interval ORDER BY name, instance
"""
QUARANTINED = """
SELECT company_id, error, failures, first_failed_at, retry_at FROM correlation_quarantine ORDER BY first_failed_at
"""
LAG = f"""
SELECT extract(epoch FROM now() - min(received_at)) FROM (
    SELECT company_id, received_at FROM alerts WHERE correlated_at IS NULL ORDER BY id LIMIT {LAG_PROBE_ALERTS}
) p WHERE company_id <> ALL($1::uuid[])
"""


def instance_name() -> str:
    """This process, as its loops' rows name it."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class LoopBeats:
    """Writes one process's loop states to `background_loops`."""

    def __init__(self, pool: asyncpg.Pool, instance: str | None = None) -> None:
        self.pool = pool
        self.instance = instance or instance_name()

    async def beat(self, name: str, state: str, error: str | None = None, failures: int = 0) -> None:
        await self.pool.execute(BEAT, name, self.instance, state, error, failures)

    async def prune(self) -> None:
        await self.pool.execute(PRUNE, PRUNE_AFTER)


@dataclass(frozen=True, slots=True)
class CorrelationHealth:
    lag_seconds: float
    quarantined: list[dict[str, Any]]
    loops: list[dict[str, Any]]
    reactions: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _iso(value: datetime) -> str:
    return value.isoformat()


async def correlation_health(conn: Conn) -> CorrelationHealth:
    quarantined = await conn.fetch(QUARANTINED)
    lag = await conn.fetchval(LAG, [q["company_id"] for q in quarantined])
    loops = await conn.fetch(LOOPS, STALE_AFTER)
    reactions = await backlog(conn)
    return CorrelationHealth(
        lag_seconds=max(0.0, float(lag or 0.0)),
        # The error's kind only: its message may carry a tenant's data, and /readyz is unauthenticated
        # (the worker's log has the whole error).
        quarantined=[
            {
                "company_id": str(q["company_id"]),
                "error": q["error"].split(":", 1)[0],
                "failures": q["failures"],
                "since": _iso(q["first_failed_at"]),
                "retry_at": _iso(q["retry_at"]),
            }
            for q in quarantined
        ],
        loops=[
            {
                "name": r["name"],
                "instance": r["instance"],
                "state": r["state"],
                "error": (r["error"] or "").split(":", 1)[0] or None,
                "failures": r["failures"],
                "beat_at": _iso(r["beat_at"]),
            }
            for r in loops
        ],
        reactions=[
            {
                "name": r.name,
                "pending": r.pending,
                "dead": r.dead,
                "oldest_pending_seconds": None
                if r.oldest_pending_seconds is None
                else round(r.oldest_pending_seconds, 3),
            }
            for r in reactions
        ],
    )
