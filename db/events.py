"""Postgres LISTEN/NOTIFY event bus.

Events are thin (ids + kind) and published with `pg_notify` inside the committing transaction, so a
subscriber on any server process hears exactly what committed. One dedicated connection per process
LISTENs (asyncpg's pool would `UNLISTEN *` on release) and fans events out to bounded per-subscriber
queues: a slow subscriber loses its oldest events, never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

log = logging.getLogger(__name__)

CHANNEL = "aw_events"
MAX_PAYLOAD = 7900  # NOTIFY payloads must stay under 8000 bytes


def topic(company_id: Any, name: str) -> str:
    """Channel names are built from the authenticated scope: `company:{id}:{topic}`."""
    return f"company:{company_id}:{name}"


def encode(topic_name: str, data: dict[str, Any]) -> str:
    payload = orjson.dumps({"topic": topic_name, **data}).decode()
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError("event payload too large for NOTIFY")
    return payload


@dataclass(eq=False)
class Subscription:
    topics: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    dropped: int = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: a slow reader must not block the bus
            self.dropped += 1
        self.queue.put_nowait(event)


class EventBus:
    """One LISTEN connection per process, fanning events out to subscriptions by topic."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._hooks: list[Callable[[dict[str, Any]], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        self._closing = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    def add_hook(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Called for every event (in-process consumers such as the worker wake-up and caches)."""
        self._hooks.append(hook)

    async def _run(self) -> None:
        backoff = 0.2
        while not self._closing:
            try:
                lost = asyncio.Event()
                self._conn = await asyncpg.connect(self._dsn)
                self._conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await self._conn.add_listener(CHANNEL, self._on_notify)
                self._ready.set()
                backoff = 0.2
                await lost.wait()
                log.warning("event bus connection closed; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bus connection lost; reconnecting")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if not isinstance(payload, str):
            log.warning("ignoring a non-text event payload")
            return
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("ignoring malformed event payload")
            return
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                log.exception("event hook failed")
        for sub in list(self._subs.get(event.get("topic", ""), ())):
            sub.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: set[str]) -> AsyncIterator[Subscription]:
        sub = Subscription(frozenset(topics))
        for t in sub.topics:
            self._subs[t].add(sub)
        try:
            yield sub
        finally:
            for t in sub.topics:
                self._subs[t].discard(sub)
                if not self._subs[t]:
                    del self._subs[t]
