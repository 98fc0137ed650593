"""Group commit for the ingest hot path (raw asyncpg, no ORM).

Every webhook request becomes an `IngestRequest` on a queue. A committer task (one by default) takes
all the requests waiting, writes them in one statement, which is one round trip and one transaction
(deliveries for idempotency, the alerts, one NOTIFY per company chunk), and only then resolves each
request's future: a 2xx always means committed.
While one transaction waits for its fsync, the next batch builds up, so throughput grows with load
instead of paying one commit per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from db.events import topic
from domain.alerts import NormalizedAlert, Tool
from domain.errors import DomainError
from domain.ids import uuid7
from domain.ingest import AlertBatch, DeliveryReused, ReplayedSignature, ServiceUnavailable, StoredAlerts

if TYPE_CHECKING:
    from db.pool import Conn, Pooled

log = logging.getLogger(__name__)

# The fields of `alert_ingest_row` (migration 0007), the type in which a batch's alerts arrive: one
# array of rows, each a tuple in this order. asyncpg encodes a tuple per alert for about half of
# what seventeen parallel column arrays cost it (it checks each array element against four ABCs).
# `req_key` is the delivery key the alert came with (NULL for unkeyed requests).
ALERT_ROW = (
    "req_key",
    "id",
    "company_id",
    "asset_name",
    "asset_ref",
    "signature",
    "severity",
    "severity_raw",
    "message",
    "tool",
    "category",
    "fingerprint",
    "dedup_key",
    "status",
    "event_time",
    "tags",
    "raw",
    "delivery_key",
)
ALERT_COLUMNS = ALERT_ROW[1:]
# The fields of `delivery_ingest_row`: each keyed request's idempotency key, first answer and what it
# carried (migration 0009 appended `content_hash`).
DELIVERY_ROW = ("company_id", "delivery_key", "signature_hash", "response", "content_hash")
NOTIFY_CHUNK = 150  # alert ids per NOTIFY, well under the 8000-byte payload limit
# The channel name, built in SQL around each company id exactly as db.events.topic builds it.
_TOPIC_PREFIX, _TOPIC_SUFFIX = topic("{}", "alerts").split("{}")

# A whole batch in one statement, so one round trip and one implicit transaction (the committing
# Sync): claim the idempotency keys (a key already stored, or being stored by a concurrent batch,
# is skipped), insert the alerts of the requests whose keys were claimed (and of unkeyed ones),
# announce them per company in NOTIFYs of at most NOTIFY_CHUNK ids (sent at commit; built in SQL as
# db.events.BusEvent's JSON, `{"topic", "kind": "RECEIVED", "ids"}`), and read the
# stored answers of the keys that were already there (the statement's snapshot sees every earlier
# commit; a key committed concurrently after it began is looked up again afterwards).
WRITE_BATCH = f"""
WITH d AS (
    INSERT INTO webhook_deliveries ({", ".join(DELIVERY_ROW)})
    SELECT * FROM unnest($1::delivery_ingest_row[])
    ON CONFLICT DO NOTHING
    RETURNING company_id, delivery_key
), a AS (
    INSERT INTO alerts ({", ".join(ALERT_COLUMNS)})
    SELECT {", ".join("x." + c for c in ALERT_COLUMNS)}
    FROM unnest($2::alert_ingest_row[]) x
    LEFT JOIN d ON d.company_id = x.company_id AND d.delivery_key = x.req_key
    WHERE x.req_key IS NULL OR d.delivery_key IS NOT NULL
    RETURNING company_id, id
), n AS (
    SELECT pg_notify('aw_events', json_build_object(
        'topic', '{_TOPIC_PREFIX}' || company_id || '{_TOPIC_SUFFIX}', 'kind', 'RECEIVED', 'ids', json_agg(id ORDER BY id)
    )::text)
    FROM (SELECT company_id, id, (row_number() OVER (PARTITION BY company_id ORDER BY id) - 1) / {NOTIFY_CHUNK} AS chunk
          FROM a) s
    GROUP BY company_id, chunk
), k AS (
    SELECT company_id, delivery_key FROM unnest($1::delivery_ingest_row[]) k
    WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.company_id = k.company_id AND d.delivery_key = k.delivery_key)
)
SELECT (SELECT count(*) FROM n) AS notified,
       (SELECT array_agg(d.company_id::text || ':' || d.delivery_key) FROM d) AS inserted,
       (SELECT json_agg(json_build_array(k.company_id, k.delivery_key, w.response, w.content_hash))
        FROM k CROSS JOIN LATERAL (
            SELECT response, content_hash FROM webhook_deliveries w
            WHERE w.company_id = k.company_id AND w.delivery_key = k.delivery_key
            OFFSET 0  -- keeps it one primary-key probe per repeat, never a scan of the table
        ) w) AS prior
"""


def content_hash(tool: Tool, alerts: list[NormalizedAlert]) -> str:
    """What a request carried, for telling a repeat (same hash) from a key reused for other alerts:
    the tool and each alert's raw payload (the tool's own objects, so event times a missing timestamp
    left to the clock do not count)."""
    text = orjson.dumps([tool.value, [a.raw for a in alerts]], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


# What the webhook answers: the stored response (first answer for repeats).
IngestResult = StoredAlerts


@dataclass(slots=True)
class IngestRequest:
    company_id: uuid.UUID
    alerts: list[NormalizedAlert]
    delivery_key: str | None = None
    signature_hash: str | None = None
    content_hash: str | None = None  # see `content_hash`; compared for repeats of `delivery_key`
    alert_ids: list[uuid.UUID] = field(default_factory=list)
    future: asyncio.Future[IngestResult] | None = None


def _response(ids: list[uuid.UUID]) -> dict[str, Any]:
    return {"status": "received", "alert_ids": [str(i) for i in ids]}


def _stored(response: Any) -> dict[str, Any]:
    """A stored first answer (jsonb arrives as text from asyncpg, already decoded inside json_agg)."""
    return orjson.loads(response) if isinstance(response, str) else dict(response)


def _repeat(req: IngestRequest, response: Any, stored_hash: str | None) -> IngestResult | DeliveryReused:
    """The answer to a repeated delivery key: the first answer when the request carries what the
    first one did (rows stored before content hashes existed have none, and are replayed)."""
    if stored_hash is not None and req.content_hash is not None and stored_hash != req.content_hash:
        return DeliveryReused()
    return IngestResult(_stored(response), replayed=True)


_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _jsonb(value: Any) -> str:
    """JSON text PostgreSQL accepts: JSONB refuses NUL characters, so they become U+FFFD."""
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(lambda m: m.group(1) + "\\ufffd", text)
    return text


def _row(req: IngestRequest, key: str | None, alert: NormalizedAlert, alert_id: uuid.UUID) -> tuple[Any, ...]:
    """One `alert_ingest_row` (fields in ALERT_ROW's order)."""
    return (
        key,
        alert_id,
        req.company_id,
        alert.asset_name,
        alert.asset_ref,
        alert.signature,
        alert.severity.value,
        alert.severity_raw,
        alert.message,
        alert.tool.value,
        alert.category.value,
        alert.fingerprint,
        alert.dedup_key,
        "resolved" if alert.resolved else "firing",
        alert.event_time,
        _jsonb(alert.tags),
        _jsonb(alert.raw),
        req.delivery_key,
    )


class AlertWriter:
    """Batches ingest requests into shared transactions: the `AlertStore` of `domain.ingest`."""

    # One committer by default: while its statement commits, the next requests gather, so batches
    # grow with the load. More committers split the same flow into smaller batches, and each
    # statement has a fixed cost in Postgres, so they lower throughput and raise latency (the
    # figures are in bench/README.md, "Where the comments' figures went").
    def __init__(self, pool: asyncpg.Pool, committers: int = 1, max_batch_alerts: int = 5000) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[IngestRequest] = asyncio.Queue()
        self._committers = committers
        self._max_batch = max_batch_alerts
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"ingest-committer-{i}") for i in range(self._committers)
        ]

    async def stop(self) -> None:
        # Let queued requests finish first: they are waiting for an answer (bounded, if the
        # database is gone the requests fail and their senders retry).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=10)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def store(self, batch: AlertBatch) -> StoredAlerts:
        """The port: commit `batch`; any failure but a refusal means nothing was committed."""
        alerts = list(batch.alerts)
        request = IngestRequest(
            company_id=batch.company_id,
            alerts=alerts,
            delivery_key=batch.delivery_key,
            signature_hash=batch.signature_hash,
            content_hash=content_hash(batch.tool, alerts) if batch.delivery_key is not None else None,
        )
        try:
            return await self.submit(request)
        except DomainError:
            raise
        except Exception as exc:
            # The batch's statement is its own transaction: when it failed, none of it is stored, and
            # the committer logged why (a retry may succeed whether the database was away or not).
            raise ServiceUnavailable() from exc

    async def submit(self, req: IngestRequest) -> IngestResult:
        """Queue `req` and wait until it is committed (or found to be a repeat)."""
        req.alert_ids = [uuid7() for _ in req.alerts]
        req.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(req)
        return await req.future

    async def _run(self) -> None:
        # Each committer keeps one connection for its whole life: no pool round trips (acquire,
        # reset on release) between batches. A broken connection is replaced on the next batch, and
        # while none can be had the waiting requests fail at once (their senders retry) instead of
        # waiting for a committer that would otherwise have died with the connection attempt.
        conn: Pooled | None = None
        try:
            while True:
                batch = await self._next_batch()
                try:
                    try:
                        conn = await self._connection(conn)
                    except Exception as exc:
                        log.warning("ingest cannot reach the database: %s", exc)
                        conn = None
                        for req in batch:
                            if req.future and not req.future.done():
                                req.future.set_exception(exc)
                        continue
                    await self._write(conn, batch)
                finally:
                    for _ in batch:
                        self._queue.task_done()
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await self._pool.release(conn)

    async def _connection(self, conn: Pooled | None) -> Pooled:
        """`conn` while it works, else a new one from the pool (the broken one goes back to it)."""
        if conn is not None:
            try:
                if not conn.is_closed():
                    return conn
            except asyncpg.InterfaceError:  # the pool took back a connection whose server side is gone
                pass
            log.warning("ingest connection lost; taking a new one")
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
        return await self._pool.acquire()

    async def _next_batch(self) -> list[IngestRequest]:
        """Every request waiting (at least one, up to max_batch_alerts alerts)."""
        first = await self._queue.get()
        batch = [first]
        size = len(first.alerts)
        while size < self._max_batch and not self._queue.empty():
            nxt = self._queue.get_nowait()
            batch.append(nxt)
            size += len(nxt.alerts)
        return batch

    async def _write(self, conn: Conn, batch: list[IngestRequest]) -> None:
        try:
            await self._commit_with_retry(conn, batch)
        except Exception:
            # One bad request must not fail the others: commit them one by one.
            log.exception(
                "ingest batch failed; retrying its requests one by one", extra={"requests": len(batch)}
            )
            for req in batch:
                try:
                    await self._commit_with_retry(conn, [req])
                except Exception as exc:
                    log.exception("ingest request failed")
                    if req.future and not req.future.done():
                        req.future.set_exception(exc)

    async def _commit_with_retry(self, conn: Conn, batch: list[IngestRequest]) -> None:
        for attempt in range(5):
            try:
                results = await self._commit(conn, batch)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                await asyncio.sleep(0.005 * (attempt + 1))
                continue
            for req, result in zip(batch, results, strict=True):
                if req.future and not req.future.done():
                    if isinstance(result, Exception):
                        req.future.set_exception(result)
                    else:
                        req.future.set_result(result)
            return
        raise RuntimeError("ingest batch kept deadlocking")

    async def _commit(self, conn: Conn, batch: list[IngestRequest]) -> list[IngestResult | Exception]:
        """Write `batch` in one statement (one round trip, its own transaction) and answer each request.

        Requests repeating a key already used earlier in this batch are not written: they are answered
        like any repeat once the batch is committed (the first one is then the stored delivery).
        """
        results: list[IngestResult | Exception | None] = [None] * len(batch)
        keyed: list[tuple[int, IngestRequest, str]] = []
        plain: list[int] = []
        seen: set[tuple[uuid.UUID, str]] = set()
        later: list[tuple[int, IngestRequest]] = []
        for i, r in enumerate(batch):
            if not (r.delivery_key or r.signature_hash):
                plain.append(i)
                continue
            key = r.delivery_key or f"sig:{r.signature_hash}"
            marks = [(r.company_id, key)] + (
                [(r.company_id, f"\0{r.signature_hash}")] if r.signature_hash else []
            )
            if any(m in seen for m in marks):
                later.append((i, r))
                continue
            seen.update(marks)
            keyed.append((i, r, key))
        # One order for every committer: concurrent batches inserting the same keys cannot deadlock.
        keyed.sort(key=lambda irk: (irk[1].company_id.bytes, irk[2]))
        rows: list[tuple[Any, ...]] = []
        for _, r, key in keyed:
            rows.extend(
                _row(r, key, alert, alert_id) for alert, alert_id in zip(r.alerts, r.alert_ids, strict=True)
            )
        for r in (batch[i] for i in plain):
            rows.extend(
                _row(r, None, alert, alert_id) for alert, alert_id in zip(r.alerts, r.alert_ids, strict=True)
            )
        row = await conn.fetchrow(
            WRITE_BATCH,
            [
                (
                    r.company_id,
                    key,
                    r.signature_hash,
                    orjson.dumps(_response(r.alert_ids)).decode(),
                    r.content_hash,
                )
                for _, r, key in keyed
            ],
            rows,
        )
        if row is None:  # the statement ends in a one-row SELECT
            raise RuntimeError("the ingest statement returned no row")
        inserted = set(row["inserted"] or ())
        prior = {(p[0], p[1]): p for p in orjson.loads(row["prior"])} if row["prior"] else {}
        missing = []
        for i, r, key in keyed:
            if f"{r.company_id}:{key}" in inserted:
                results[i] = IngestResult(_response(r.alert_ids), replayed=False)
                continue
            found = prior.get((str(r.company_id), key)) if r.delivery_key else None
            if found is not None:
                results[i] = _repeat(r, found[2], found[3])
            elif r.delivery_key:
                missing.append((i, r))  # committed by a concurrent batch after this statement began
            else:
                results[i] = ReplayedSignature()
        for i in plain:
            results[i] = IngestResult(_response(batch[i].alert_ids), replayed=False)
        if missing or later:
            await self._answer_repeats(conn, missing + later, results)
        return [r if r is not None else RuntimeError("unanswered") for r in results]

    @staticmethod
    async def _answer_repeats(
        conn: Conn, losers: list[tuple[int, IngestRequest]], results: list[Any]
    ) -> None:
        # Two index probes per request (its key, its signature): a join on "key OR signature" was
        # planned as a read of every stored delivery while the table was young.
        rows = await conn.fetch(
            """
            SELECT d.company_id, d.delivery_key, d.signature_hash, d.response, d.content_hash
            FROM unnest($1::uuid[], $2::varchar[], $3::varchar[]) AS k(company_id, delivery_key, signature_hash)
            CROSS JOIN LATERAL (
                SELECT company_id, delivery_key, signature_hash, response, content_hash FROM webhook_deliveries
                WHERE company_id = k.company_id AND delivery_key = k.delivery_key
                UNION
                SELECT company_id, delivery_key, signature_hash, response, content_hash FROM webhook_deliveries
                WHERE company_id = k.company_id AND signature_hash = k.signature_hash
            ) d
            """,
            [r.company_id for _, r in losers],
            [r.delivery_key or f"sig:{r.signature_hash}" for _, r in losers],
            [r.signature_hash for _, r in losers],
        )
        by_key = {(row[0], row[1]): row for row in rows}
        for i, r in losers:
            row = by_key.get((r.company_id, r.delivery_key)) if r.delivery_key else None
            # A repeated X-Delivery-ID gets the first answer; a signature seen before under another
            # (or no) delivery id is a replay and is refused.
            results[i] = _repeat(r, row[3], row[4]) if row is not None else ReplayedSignature()
