"""Group commit for the ingest hot path (raw asyncpg, no ORM).

Every webhook request becomes an `IngestRequest` on a queue. A few committer tasks each take all the
requests waiting, write them in one transaction (deliveries for idempotency, alerts by COPY, one
NOTIFY per company chunk) and only then resolve each request's future: a 2xx always means committed.
While one transaction waits for its fsync, the next batch builds up, so throughput grows with load
instead of paying one commit per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from db.events import topic
from domain.alerts import NormalizedAlert
from domain.ids import uuid7

log = logging.getLogger(__name__)

ALERT_COLUMNS = (
    "id", "company_id", "asset_name", "asset_ref", "signature", "severity", "severity_raw", "message",
    "tool", "category", "fingerprint", "dedup_key", "status", "event_time", "tags", "raw", "delivery_key",
)
NOTIFY_CHUNK = 150  # alert ids per NOTIFY, well under the 8000-byte payload limit


class ReplayedSignature(Exception):
    """A signed request whose signature was already accepted under another delivery."""


@dataclass(slots=True)
class IngestRequest:
    company_id: uuid.UUID
    alerts: list[NormalizedAlert]
    delivery_key: str | None = None
    signature_hash: str | None = None
    alert_ids: list[uuid.UUID] = field(default_factory=list)
    future: asyncio.Future[IngestResult] | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the webhook answers: the stored response (first answer for repeats)."""

    response: dict[str, Any]
    replayed: bool


def _response(ids: list[uuid.UUID]) -> dict[str, Any]:
    return {"status": "received", "alert_ids": [str(i) for i in ids]}


_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _jsonb(value: Any) -> str:
    """JSON text PostgreSQL accepts: JSONB refuses NUL characters, so they become U+FFFD."""
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(lambda m: m.group(1) + "\\ufffd", text)
    return text


def _record(req: IngestRequest, alert: NormalizedAlert, alert_id: uuid.UUID) -> tuple[Any, ...]:
    return (
        alert_id, req.company_id, alert.asset_name, alert.asset_ref, alert.signature, alert.severity.value,
        alert.severity_raw, alert.message, alert.tool.value, alert.category.value, alert.fingerprint,
        alert.dedup_key, "resolved" if alert.resolved else "firing", alert.event_time,
        _jsonb(alert.tags), _jsonb(alert.raw), req.delivery_key,
    )


class AlertWriter:
    """Batches ingest requests into shared transactions."""

    def __init__(self, pool: asyncpg.Pool, committers: int = 3, max_batch_alerts: int = 5000) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[IngestRequest] = asyncio.Queue()
        self._committers = committers
        self._max_batch = max_batch_alerts
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"ingest-committer-{i}") for i in range(self._committers)]

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

    async def submit(self, req: IngestRequest) -> IngestResult:
        """Queue `req` and wait until it is committed (or found to be a repeat)."""
        req.alert_ids = [uuid7() for _ in req.alerts]
        req.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(req)
        return await req.future

    async def _run(self) -> None:
        # Each committer keeps one connection for its whole life: no pool round trips (acquire,
        # reset on release) between batches. A broken connection is replaced on the next batch.
        while True:
            conn = await self._pool.acquire()
            try:
                await self._serve(conn)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                log.warning("ingest connection lost; taking a new one")
            finally:
                with contextlib.suppress(Exception):
                    await self._pool.release(conn)

    async def _serve(self, conn: asyncpg.Connection) -> None:
        while True:
            if conn.is_closed():
                return
            first = await self._queue.get()
            batch = [first]
            size = len(first.alerts)
            while size < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                batch.append(nxt)
                size += len(nxt.alerts)
            try:
                await self._commit_with_retry(conn, batch)
            except Exception:
                # One bad request must not fail the others: commit them one by one.
                log.exception("ingest batch failed; retrying its requests one by one", extra={"requests": len(batch)})
                for req in batch:
                    try:
                        await self._commit_with_retry(conn, [req])
                    except Exception as exc:
                        log.exception("ingest request failed")
                        if req.future and not req.future.done():
                            req.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_with_retry(self, conn: asyncpg.Connection, batch: list[IngestRequest]) -> None:
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

    async def _commit(self, conn: asyncpg.Connection, batch: list[IngestRequest]) -> list[IngestResult | Exception]:
        results: list[IngestResult | Exception | None] = [None] * len(batch)
        async with conn.transaction():
            keyed = [(i, r) for i, r in enumerate(batch) if r.delivery_key or r.signature_hash]
            accepted = set(range(len(batch)))
            if keyed:
                accepted -= {i for i, _ in keyed}
                keyed.sort(key=lambda ir: (str(ir[1].company_id), ir[1].delivery_key or ""))
                rows = await conn.fetch(
                    """
                    INSERT INTO webhook_deliveries (company_id, delivery_key, signature_hash, response)
                    SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::jsonb[])
                    ON CONFLICT DO NOTHING
                    RETURNING company_id, delivery_key
                    """,
                    [r.company_id for _, r in keyed],
                    [r.delivery_key or f"sig:{r.signature_hash}" for _, r in keyed],
                    [r.signature_hash for _, r in keyed],
                    [orjson.dumps(_response(r.alert_ids)).decode() for _, r in keyed],
                )
                inserted = {(row[0], row[1]) for row in rows}
                losers = []
                for i, r in keyed:
                    key = (r.company_id, r.delivery_key or f"sig:{r.signature_hash}")
                    if key in inserted:
                        inserted.discard(key)  # a second request with the same key in this batch lost
                        accepted.add(i)
                    else:
                        losers.append((i, r))
                if losers:
                    await self._answer_repeats(conn, losers, results)
            records = [
                _record(batch[i], alert, alert_id)
                for i in sorted(accepted)
                for alert, alert_id in zip(batch[i].alerts, batch[i].alert_ids, strict=True)
            ]
            if records:
                await conn.copy_records_to_table("alerts", records=records, columns=ALERT_COLUMNS)
                await conn.execute(
                    "SELECT pg_notify('aw_events', x) FROM unnest($1::text[]) x", self._notifications(batch, accepted)
                )
        for i in accepted:
            results[i] = IngestResult(_response(batch[i].alert_ids), replayed=False)
        return [r if r is not None else RuntimeError("unanswered") for r in results]

    @staticmethod
    def _notifications(batch: list[IngestRequest], accepted: set[int]) -> list[str]:
        by_company: dict[uuid.UUID, list[str]] = defaultdict(list)
        for i in accepted:
            by_company[batch[i].company_id].extend(str(a) for a in batch[i].alert_ids)
        out = []
        for company_id, ids in by_company.items():
            for start in range(0, len(ids), NOTIFY_CHUNK):
                out.append(
                    orjson.dumps(
                        {"topic": topic(company_id, "alerts"), "kind": "RECEIVED", "ids": ids[start : start + NOTIFY_CHUNK]}
                    ).decode()
                )
        return out

    @staticmethod
    async def _answer_repeats(
        conn: asyncpg.Connection, losers: list[tuple[int, IngestRequest]], results: list[Any]
    ) -> None:
        rows = await conn.fetch(
            """
            SELECT d.company_id, d.delivery_key, d.signature_hash, d.response
            FROM webhook_deliveries d
            JOIN unnest($1::uuid[], $2::varchar[], $3::varchar[]) AS k(company_id, delivery_key, signature_hash)
              ON d.company_id = k.company_id
             AND (d.delivery_key = k.delivery_key OR d.signature_hash = k.signature_hash)
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
            results[i] = IngestResult(orjson.loads(row[3]), replayed=True) if row is not None else ReplayedSignature()
