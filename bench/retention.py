"""Retention benchmark (issue 19, "Operations"): ingest speed while the retention purges 1,000,000 alerts.

    .venv/bin/python bench/retention.py [--alerts N] [--duration S] [--batch B] [--pause S] [--quick]

Starts a fresh embedded PostgreSQL in a temporary ALERTWHISPERER_HOME (or uses DATABASE_URL), migrates,
creates the benchmark company of bench/ingest.py (HMAC on, rate limit out of the way), stores N alerts
received 100 days ago (correlated, no open incident: all of them past the 90-day default), runs the
real server (uvicorn, uvloop + httptools, background loops off so the purge runs only when measured)
and measures:

  (a) signed single-alert webhooks for S seconds, no purge: accepted alerts/s, p50/p99
  (b) the same while the retention (db/retention.py, the loop's own code: batches of B, a pause of P
      seconds between them) purges the old alerts from this process: accepted alerts/s, p50/p99,
      and the alerts the purge deleted meanwhile
  then the purge's rate over the whole purge (rows/s), going on alone once (b) ends.

Prints figures; asserts nothing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.httpclient import run_load  # noqa: E402
from bench.ingest import Bench, Config, out  # noqa: E402

LOAD_INSERT = """
INSERT INTO alerts (id, company_id, asset_name, signature, severity, severity_raw, message, tool, category,
                    fingerprint, status, event_time, received_at, tags, raw, correlated_at)
SELECT gen_random_uuid(), $1, 'srv-' || (g % 500), 'HighCPUUsage', 'high', 'high', 'CPU above 90%',
       'generic', 'Server', 'generic:old-' || g, 'firing', t, t, '{}'::jsonb,
       '{"asset_name": "srv", "signature": "HighCPUUsage"}'::jsonb, t
FROM generate_series($2::int, $3::int) g, LATERAL (SELECT now() - interval '100 days' + g * interval '1 ms' AS t) x
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alerts", type=int, default=1_000_000, help="old alerts to store (default 1,000,000)")
    p.add_argument("--duration", type=float, default=15.0, help="seconds measured per phase")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--batch", type=int, default=1000, help="the purge's batch (ALERTWHISPERER_RETENTION_BATCH)"
    )
    p.add_argument("--pause", type=float, default=0.05, help="its pause between batches, seconds")
    p.add_argument("--quick", action="store_true", help="100,000 alerts, 8 s phases")
    args = p.parse_args(argv)
    if args.quick:
        args.alerts, args.duration = 100_000, 8.0
    return args


def ingest_config(args: argparse.Namespace) -> Config:
    return Config(
        quick=args.quick,
        duration=args.duration,
        warmup=2.0,
        connections=args.connections,
        processes=1,
        stored=0,
        burst=0,
        probe_rate=0,
        probe_seconds=0,
        repeat_ratio=0.0,
        profile=None,
        workers=False,
        worker_process=False,
        checkpoint=False,
    )


async def load_old_alerts(bench: Bench, n: int) -> None:
    assert bench.pool is not None
    began = time.perf_counter()
    chunk = 100_000
    for start in range(0, n, chunk):
        await bench.pool.execute(LOAD_INSERT, bench.company_id, start, min(n, start + chunk) - 1)
    await bench.pool.execute("VACUUM ANALYZE alerts")
    out(f"stored {n:,} alerts received 100 days ago in {time.perf_counter() - began:.1f} s")


async def ingest(bench: Bench, args: argparse.Namespace, prefix: str) -> tuple[float, str]:
    assert bench.app is not None
    spec = bench.spec("generic", bench.app.port, "/api/webhooks/alerts", prefix, expected_rate=5_000)
    r = await run_load(spec, connections=args.connections, processes=1, warmup=2.0, duration=args.duration)
    return r.count(202) / r.duration, bench.latency_line(r)


async def purge(bench: Bench, args: argparse.Namespace, progress: list[int]) -> float:
    """The retention's own code, as its loop runs it (lock held, steps of 10 s), until nothing is left."""
    from db.retention import RETENTION_LOCK, AlertRetention

    assert bench.pool is not None
    retention = AlertRetention(args.batch, args.pause)
    began = time.perf_counter()
    async with bench.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", RETENTION_LOCK)
        try:
            while True:
                deleted, more = await retention.run(conn, datetime.now(UTC), 10.0)
                progress[0] += deleted
                if not more:
                    break
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)
    return time.perf_counter() - began


async def amain(args: argparse.Namespace) -> None:
    bench = Bench(ingest_config(args))
    try:
        await bench.setup()
        out(
            f"retention benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, batch {args.batch}, pause {args.pause} s"
        )
        await load_old_alerts(bench, args.alerts)
        await bench.start_app()

        rate, latency = await ingest(bench, args, "base")
        out(f"(a) ingest without purge: {rate:,.0f} alerts/s accepted, {latency}")

        progress = [0]
        purging = asyncio.create_task(purge(bench, args, progress))
        rate_during, latency = await ingest(bench, args, "purge")
        during = progress[0]
        out(
            f"(b) ingest during the purge: {rate_during:,.0f} alerts/s accepted ({rate_during / rate - 1:+.0%}), "
            f"{latency}; the purge deleted {during:,} alerts meanwhile"
        )
        seconds = await purging
        out(
            f"purge of {progress[0]:,} alerts: {seconds:.1f} s, {progress[0] / seconds:,.0f} alerts/s "
            f"(during ingest: ~{during / (args.duration + 2):,.0f} alerts/s)"
        )
        assert bench.pool is not None
        left = await bench.pool.fetchval(
            "SELECT count(*) FROM alerts WHERE company_id = $1 AND received_at < now() - interval '90 days'",
            bench.company_id,
        )
        out(f"old alerts left: {left}")
    finally:
        await bench.cleanup()


def main() -> None:
    asyncio.run(amain(parse_args()))


if __name__ == "__main__":
    main()
