"""Postgres LISTEN/NOTIFY event bus, and the one shape of what travels on it (`BusEvent`).

Events are thin (ids + kind) and published with `pg_notify` inside the committing transaction, so a
subscriber on any server process hears exactly what committed. One dedicated connection per process
LISTENs (asyncpg's pool would `UNLISTEN *` on release) and fans events out to bounded per-subscriber
queues: a slow subscriber loses its oldest events, never delays the others.

Every publisher sends a `BusEvent` (`db.publishing.publish` in a session's transaction, `BusEvent.to_json` for the
raw-SQL writers' parameters); the ingest statement builds the same JSON in SQL from `EVENT_FIELDS`, and
migration 0013's trigger sends the bare `{"topic": "system:reactions"}`. Every hook and subscriber gets
`BusEvent`s. A change that makes an in-process cache stale (a company's API key, HMAC secret, limits,
settings, deletion) is published by the repository that makes it, in its transaction, on
COMPANIES_TOPIC: every process's caches hear it, whichever process or tool made the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

log = logging.getLogger(__name__)

CHANNEL = "aw_events"
MAX_PAYLOAD = 7900  # NOTIFY payloads must stay under 8000 bytes
NOTIFY_MANY = f"SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) p"


async def notify_many(conn: Any, events: Sequence[BusEvent]) -> None:
    """Publish the events at the commit of `conn`'s transaction, in one statement (a raw-SQL writer's
    batch; `db.publishing.publish` is a session's way)."""
    if events:
        await conn.execute(NOTIFY_MANY, [e.to_json() for e in events])


def topic(company_id: Any, name: str) -> str:
    """Channel names are built from the authenticated scope: `company:{id}:{topic}`."""
    return f"company:{company_id}:{name}"


# Credentials, limits or settings of the company `id` changed (`kind` says which), or it was deleted:
# every process drops what it cached about it.
COMPANIES_TOPIC = "system:companies"
COMPANY_CREDENTIALS, COMPANY_SETTINGS, COMPANY_DELETED = "credentials", "settings", "deleted"
# The JSON fields of an event, in the order `BusEvent.to_json` writes them.
EVENT_FIELDS = ("topic", "kind", "id", "ids", "changes")


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One notification: its `topic` and, as the topic needs, the `kind` of change and the `id` of one
    row, the `ids` of many (alerts received), or `(incident id, change kind)` pairs (a worker batch)."""

    topic: str
    kind: str | None = None
    id: str | None = None
    ids: tuple[str, ...] = ()
    changes: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        """The NOTIFY payload (fields left empty are left out); ValueError when it would not fit."""
        data: dict[str, Any] = {"topic": self.topic}
        if self.kind is not None:
            data["kind"] = self.kind
        if self.id is not None:
            data["id"] = self.id
        if self.ids:
            data["ids"] = self.ids
        if self.changes:
            data["changes"] = self.changes
        payload = orjson.dumps(data)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("event payload too large for NOTIFY")
        return payload.decode()

    @classmethod
    def from_json(cls, payload: str) -> BusEvent | None:
        """The event of a NOTIFY payload; None for one that is not an event (malformed, mistyped)."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("topic"), str):
            return None
        kind, id_ = data.get("kind"), data.get("id")
        ids, changes = data.get("ids") or (), data.get("changes") or ()
        if not (
            (kind is None or isinstance(kind, str))
            and (id_ is None or isinstance(id_, str))
            and isinstance(ids, list | tuple)
            and all(isinstance(i, str) for i in ids)
            and isinstance(changes, list | tuple)
            and all(
                isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], str)
                for c in changes
            )
        ):
            return None
        return cls(data["topic"], kind, id_, tuple(ids), tuple((c[0], c[1]) for c in changes))


def company_changed(company_id: Any, kind: str) -> BusEvent:
    """What the companies repository publishes when it changes something a process may have cached."""
    return BusEvent(COMPANIES_TOPIC, kind=kind, id=str(company_id))


@dataclass(eq=False)
class Subscription:
    topics: frozenset[str]
    queue: asyncio.Queue[BusEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    dropped: int = 0

    def offer(self, event: BusEvent) -> None:
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
        self._hooks: list[Callable[[BusEvent], None]] = []
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

    def add_hook(self, hook: Callable[[BusEvent], None]) -> None:
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
        event = BusEvent.from_json(payload)
        if event is None:
            log.warning("ignoring malformed event payload")
            return
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                log.exception("event hook failed")
        for sub in list(self._subs.get(event.topic, ())):
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
