"""The SLA monitor with 100,000 open incidents: how late it acts on a breach, and what a pass costs.

Stores `--incidents` open incidents with their clocks (`incident_sla`), all due far in the future but
`--due` of them, whose response deadlines fall at random instants over the first `--spread` seconds.
The real monitor (`db.sla.SlaMonitor`) then passes on the real clock as the worker's loop does (at
the next due time it knows of, and at least every `--check-seconds`, the default of
ALERTWHISPERER_SLA_CHECK_SECONDS; `--no-wake`: only every `--check-seconds`) until every breach was
acted on, and the benchmark prints the detection lag (from each deadline to the commit of the pass
that acted on it: p50 / p99 / max), then the cost of a pass that finds nothing due with the whole table waiting
(wall time, this process's CPU, the monitor backend's CPU from /proc), and the claim's plan.

    .venv/bin/python bench/sla_monitor.py                      # embedded PostgreSQL in a temp dir
    DATABASE_URL=postgresql://... .venv/bin/python bench/sla_monitor.py --incidents 100000

With DATABASE_URL, a scratch database is created beside the given one and dropped afterwards; the
backend's CPU is read from /proc, so the server must run on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import cost_database  # noqa: E402
from db.engine import create_pool  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.sla import CLAIM_DUE, SlaMonitor  # noqa: E402
from graph.workers import SLA_MIN_WAIT_SECONDS  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

COMPANY = """
INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc)
VALUES ($1, 'bench', md5(random()::text) || md5(random()::text), 'bench', '\\x00')
"""
INCIDENTS = """
INSERT INTO incidents (id, company_id, correlation_key, asset_name, signature, status, severity, category,
                       alert_count, tool_sources, active_fingerprints, flap_times, first_alert_at, last_alert_at)
SELECT uuidv7(), $1, 'k-' || g, 'srv-' || (g % 500), 'Sig' || (g % 20), 'NEW', 'critical', 'Server', 1,
       ARRAY['prometheus'], '{}', '{}', $2, $2
FROM generate_series(1, $3::int) g
"""
# Every clock far from due, but `$4` whose response deadline falls within `$5` seconds of `$2`.
CLOCKS = """
INSERT INTO incident_sla (incident_id, company_id, severity, response_started_at, resolution_started_at,
                          response_deadline, resolution_deadline, response_warn_at, resolution_warn_at,
                          response_warned, next_due_at, version)
SELECT i.id, i.company_id, 'critical', $2::timestamptz, $2::timestamptz, d.deadline, $3::timestamptz,
       d.deadline, $3::timestamptz, true,
       d.deadline, 1
FROM (SELECT id, company_id, row_number() OVER (ORDER BY id) AS n FROM incidents WHERE company_id = $1) i
CROSS JOIN LATERAL (
    SELECT CASE WHEN i.n <= $4::int THEN $2::timestamptz + random() * make_interval(secs => $5::float8)
                ELSE $3::timestamptz END AS deadline
) d
"""
NEW_EVENTS = "SELECT id, deadline FROM sla_events WHERE id > $1 AND kind = 'breach' ORDER BY id"


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main(args: argparse.Namespace) -> None:
    async with cost_database("aw_sla_bench") as url:
        await asyncio.to_thread(upgrade_to_head, url)
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            await run(pool, args)
        finally:
            await pool.close()


async def run(pool: object, args: argparse.Namespace) -> None:
    company = uuid.uuid4()
    start = datetime.now(UTC) + timedelta(seconds=5)
    far = start + timedelta(days=30)
    began = time.perf_counter()
    await pool.execute(COMPANY, company)  # type: ignore[attr-defined]
    await pool.execute(INCIDENTS, company, start - timedelta(minutes=30), args.incidents)  # type: ignore[attr-defined]
    await pool.execute(CLOCKS, company, start, far, args.due, float(args.spread))  # type: ignore[attr-defined]
    await pool.execute("ANALYZE incident_sla")  # type: ignore[attr-defined]
    print(
        f"stored {args.incidents:,} open incidents with clocks ({args.due} due) in {time.perf_counter() - began:.1f} s"
    )

    monitor = SlaMonitor(pool)
    passes: list[float] = []
    lags: list[float] = []
    seen = 0
    deadline = time.monotonic() + args.spread + 5 + 3 * args.check_seconds
    while time.monotonic() < deadline:
        t = time.perf_counter()
        while await monitor.run_once(datetime.now(UTC)) >= monitor.batch:
            pass
        committed = datetime.now(UTC)
        passes.append(time.perf_counter() - t)
        # Lag: from each deadline to the commit of the pass that acted on it.
        rows = await pool.fetch(NEW_EVENTS, seen)  # type: ignore[attr-defined]
        lags += [(committed - r["deadline"]).total_seconds() for r in rows]
        seen = max([seen, *(r["id"] for r in rows)])
        if len(lags) >= args.due:
            break
        # As the worker's loop (graph.workers.SlaMonitorLoop) waits: for the next due time it knows
        # of, at most one interval after this pass began.
        wait = args.check_seconds - (time.perf_counter() - t)
        due = await monitor.next_due()
        if due is not None and not args.no_wake:
            wait = min(wait, (due - datetime.now(UTC)).total_seconds())
        await asyncio.sleep(max(SLA_MIN_WAIT_SECONDS, wait))
    print(
        f"breaches acted on: {len(lags)} of {args.due}, check every {args.check_seconds:g} s, {len(passes)} passes"
        f" (longest {max(passes) * 1000:.0f} ms)"
    )
    if lags:
        print(
            f"detection lag: p50 {statistics.median(lags):.2f} s, p99 {pct(lags, 99):.2f} s, max {max(lags):.2f} s"
        )

    # A pass that finds nothing due, with every incident's clock waiting in the table.
    pid = await pool.fetchval("SELECT pg_backend_pid()")  # type: ignore[attr-defined]
    idle: list[float] = []
    cpu0, backend0 = time.process_time(), backend_cpu(pid)
    for _ in range(args.idle_passes):
        t = time.perf_counter()
        await monitor.run_once(datetime.now(UTC))
        idle.append(time.perf_counter() - t)
    cpu, backend = time.process_time() - cpu0, backend_cpu(pid) - backend0
    n = args.idle_passes
    print(
        f"idle pass over {args.incidents:,} open incidents: wall p50 {statistics.median(idle) * 1000:.2f} ms,"
        f" p99 {pct(idle, 99) * 1000:.2f} ms; CPU per pass: monitor {cpu / n * 1000:.2f} ms,"
        f" PostgreSQL backend {backend / n * 1000:.2f} ms"
    )
    plan = await pool.fetch("EXPLAIN (ANALYZE, BUFFERS) " + CLAIM_DUE, datetime.now(UTC), 200)  # type: ignore[attr-defined]
    print("claim plan:\n  " + "\n  ".join(r[0] for r in plan))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument(
        "--spread", type=float, default=60.0, help="seconds over which the due deadlines fall"
    )
    parser.add_argument("--check-seconds", type=float, default=15.0)
    parser.add_argument("--idle-passes", type=int, default=200)
    parser.add_argument("--no-wake", action="store_true", help="pass only every --check-seconds")
    asyncio.run(main(parser.parse_args()))
