"""What one correlated alert costs the correlation worker and its PostgreSQL backend.

`bench/ingest.py` measures throughput, which on a shared 2-core machine moves by 10-25% from run to
run (CPU frequency, the hypervisor's neighbours). This benchmark counts what varies far less: it
stores a flow of alerts shaped like the ingest benchmark's (500 assets x 20 signatures, 5% resolves,
all inside one correlation window), lets the real worker correlate them in batches of a given size
on one connection, and prints per alert: WAL bytes written, the worker backend's CPU (from /proc),
this process's CPU, wall time, and the rows each table gained. Nothing else should run meanwhile.

    .venv/bin/python bench/correlation_cost.py                 # embedded PostgreSQL in a temp dir
    DATABASE_URL=postgresql://... .venv/bin/python bench/correlation_cost.py --alerts 50000

With DATABASE_URL, a scratch database is created beside the given one and dropped afterwards; the
backend's CPU is read from /proc, so the server must run on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import cost_database  # noqa: E402
from db.correlation import CorrelationWorker  # noqa: E402
from db.engine import create_pool  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from domain.ids import uuid7  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SIGNATURES = [f"Signature{i:02d}" for i in range(20)]

# A flow of alerts as the single-alert benchmark sends them, stored uncorrelated in id order.
STORE = """
INSERT INTO alerts (id, company_id, asset_name, signature, severity, severity_raw, message, tool, category,
                    fingerprint, status, event_time, tags, raw)
SELECT ($4::uuid[])[g], $1, s.asset, s.sig, s.sev, s.sev, s.sig || ' on ' || s.asset || ': value ' || g, 'prometheus',
       'Server', md5('prometheus|' || s.asset || '|' || s.sig),
       CASE WHEN g % 20 = 0 THEN 'resolved' ELSE 'firing' END, now() - interval '1 minute' + g * interval '1 ms',
       '{"env": "prod", "region": "eu-west-1"}'::jsonb,
       jsonb_build_object('asset_name', s.asset, 'signature', s.sig, 'severity', s.sev, 'status', 'firing')
FROM (
    SELECT g, 'srv-' || lpad((abs(hashint4(g)) % 500)::text, 4, '0') || '.prod.example.net' AS asset,
           (ARRAY['critical', 'high', 'medium', 'low'])[g % 4 + 1] AS sev,
           ($2::text[])[abs(hashint4(g * 7)) % 20 + 1] AS sig
    FROM generate_series(1, $3::int) g
) s
"""
COUNTS = """
SELECT (SELECT count(*) FROM incidents) AS incidents, (SELECT count(*) FROM incident_events) AS events,
       (SELECT count(*) FROM alerts WHERE correlated_at IS NOT NULL) AS correlated
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def _measure(url: str, alerts: int, batch: int) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        company = uuid.uuid4()
        await pool.execute(
            "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc) "
            "VALUES ($1, 'cost bench', $2, 'x', '\\x00')",
            company,
            uuid.uuid4().hex,
        )
        await pool.execute(STORE, company, SIGNATURES, alerts, [uuid7() for _ in range(alerts)])
        await pool.execute("ANALYZE")
        worker = CorrelationWorker(pool, batch_size=batch)
        async with pool.acquire() as conn:
            await worker.prepare(conn)
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            start_lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
            backend_cpu, own_cpu, wall = _cpu_seconds(backend), time.process_time(), time.perf_counter()
            batches = 0
            while (await worker.run_once(datetime.now(UTC), conn)).alerts:
                batches += 1
            wall = time.perf_counter() - wall
            own_cpu = time.process_time() - own_cpu
            backend_cpu = _cpu_seconds(backend) - backend_cpu
            wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", start_lsn)
            counts = await conn.fetchrow(COUNTS)
    finally:
        await pool.close()
    n = counts["correlated"]
    print(
        f"correlated {n:,} alerts in {batches:,} batches of up to {batch:,}; {wall:.2f} s = {n / wall:,.0f} alerts/s"
    )
    print(
        f"  per alert: WAL {float(wal) / n:,.0f} bytes, worker backend CPU {backend_cpu / n * 1e6:,.0f} us, "
        f"worker process CPU {own_cpu / n * 1e6:,.0f} us, wall {wall / n * 1e6:,.0f} us"
    )
    print(
        f"  rows: {counts['incidents']:,} incidents, {counts['events']:,} timeline events "
        f"({counts['events'] / n:.2f} per alert)"
    )


async def _run(alerts: int, batch: int) -> None:
    async with cost_database("aw_cost") as url:
        await _measure(url, alerts, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=100, help="the worker's batch size (default 100)")
    args = parser.parse_args()
    asyncio.run(_run(args.alerts, args.batch))


if __name__ == "__main__":
    main()
