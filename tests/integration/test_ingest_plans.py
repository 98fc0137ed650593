"""The ingest committer's cached plans stay index lookups after its tables grow from empty."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from db.ingest import AlertWriter, IngestRequest, IngestResult
from domain.alerts import Category, NormalizedAlert, Severity, Tool
from tests.helpers import fresh_database


def _request(company: uuid.UUID, key: str) -> IngestRequest:
    alert = NormalizedAlert(
        asset_name="web-01",
        signature="high_cpu",
        severity=Severity.HIGH,
        severity_raw="high",
        message="m",
        tool=Tool.GENERIC,
        event_time=datetime.now(UTC),
        resolved=False,
        fingerprint="f",
        category=Category.SERVER,
    )
    return IngestRequest(company_id=company, alerts=[alert], delivery_key=key, alert_ids=[uuid.uuid4()])


async def _seq_scans(conn: asyncpg.Connection, reader: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")  # `conn`'s counts, reported as it goes idle
    return int(
        await reader.fetchval("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'webhook_deliveries'")
    )


async def test_a_repeat_is_looked_up_by_key_after_the_deliveries_table_grew_from_empty(database_url):
    # given a fresh install (the deliveries table analysed while empty, as autovacuum does) whose
    # committer connection, from the hot pool, answered repeats while the table was small (the
    # statement's plan is cached after a few runs), then a day's worth of deliveries, not analysed yet
    company = uuid.uuid4()
    async with fresh_database(database_url) as pool, pool.acquire() as conn, pool.acquire() as reader:
        await conn.execute("ALTER TABLE webhook_deliveries SET (autovacuum_enabled = false)")
        await conn.execute("ANALYZE webhook_deliveries")
        writer = AlertWriter(pool)
        first: dict[str, IngestResult | Exception] = {}
        for i in range(8):
            results = await writer._commit(conn, [_request(company, f"d{i}"), _request(company, "d0")])
            first[f"d{i}"] = results[0]
        await conn.execute(
            "INSERT INTO webhook_deliveries (company_id, delivery_key, response) "
            "SELECT $1, 'old-' || g, '{}' FROM generate_series(1, 20000) g",
            company,
        )
        before = await _seq_scans(conn, reader)

        # when a batch with a new delivery and a repeat is committed
        new, repeat = await writer._commit(conn, [_request(company, "d8"), _request(company, "d3")])

        # then the repeat gets the first answer, found without reading the whole table
        stored = first["d3"]
        assert isinstance(repeat, IngestResult)
        assert isinstance(stored, IngestResult)
        assert (repeat.replayed, repeat.response) == (True, stored.response)
        assert isinstance(new, IngestResult)
        assert not new.replayed
        assert await _seq_scans(conn, reader) == before
