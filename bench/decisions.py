"""Decision lag (issue 15, "Speed"): from an incident's commit to its stored decision, at a steady
rate of new incidents. Prints figures; asserts nothing.

    .venv/bin/python bench/decisions.py                      # embedded PostgreSQL, 100 incidents/s, 10 s
    DATABASE_URL=postgresql://... .venv/bin/python bench/decisions.py --rate 200 --seconds 20

A producer commits incidents with their CREATED outbox change (as the correlation worker does) at
`--rate` per second, spread over companies that each have AWS settings, assets on both platforms and
the global runbook library, so decisions run, ask for approval (critical assets, approval-needing
runbooks) and escalate (no runbook) in a fixed spread. The real `decisions` reaction runs as a worker would
(`ReactionRunner`, woken by the outbox's NOTIFY on a LISTEN connection, and a 1 s poll). The lag of
an incident is the time from its producer's commit to the commit of the reaction batch that stored
its decision. The ingest load of `bench/ingest.py` (b) does not run beside it here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench.scratch import cost_database  # noqa: E402
from db.decisions import DecisionReaction  # noqa: E402
from db.engine import asyncpg_dsn, create_pool  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.reactions import REACTIONS_TOPIC, IncidentChange, ReactionRunner  # noqa: E402
from domain.ids import uuid7  # noqa: E402

COMPANIES = 20
ASSETS_PER_COMPANY = 10
# Signatures of the global library (auto-approved LOW, approval-needing, none) in a realistic spread.
SIGNATURES = ["disk_space_low", "high_memory", "nginx_down", "service_down", "backup_failed", "no_such_alert"]

COMPANY = "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc) VALUES ($1, $2, $3, 'x', '\\x00')"
AWS = (
    "INSERT INTO company_aws_settings (company_id, auth_type, region, role_arn, external_id_enc)"
    " VALUES ($1, 'role', 'eu-west-1', 'arn:aws:iam::111122223333:role/AW', '\\x00')"
)
ASSET = (
    "INSERT INTO assets (id, company_id, name, cloud_instance_id, platform, is_critical)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
INCIDENT = """
INSERT INTO incidents (id, company_id, correlation_key, asset_id, asset_name, signature, status, severity,
    category, alert_count, duplicate_count, tool_sources, active_fingerprints, flap_times, first_alert_at,
    last_alert_at, critical_asset, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'NEW', 'high', 'Server', 1, 0, '{generic}', '{}', '{}', $7, $7, $8, $7, $7)
"""
CHANGE = """
INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
    before_severity, after_severity, actor, at)
VALUES ($1, $2, 1, 'CREATED', NULL, 'NEW', NULL, 'high', 'system:correlation', $3)
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Timed(DecisionReaction):
    """The real reaction, noting which incidents each batch decided."""

    def __init__(self) -> None:
        super().__init__()
        self.batch: list[uuid.UUID] = []

    async def handle_batch(self, conn: Any, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        left = await super().handle_batch(conn, changes)
        self.batch.extend(c.incident_id for c in changes)
        return left


async def _setup(pool: Any) -> list[tuple[uuid.UUID, uuid.UUID, str, bool]]:
    assets = []
    for c in range(COMPANIES):
        company = uuid7()
        await pool.execute(COMPANY, company, f"bench {c}", uuid.uuid4().hex)
        await pool.execute(AWS, company)
        for a in range(ASSETS_PER_COMPANY):
            asset = uuid7()
            name = f"host-{c}-{a}"
            platform = "WINDOWS" if a % 4 == 3 else "LINUX"
            await pool.execute(ASSET, asset, company, name, f"i-{asset.hex[:17]}", platform, a == 0)
            assets.append((company, asset, name, a == 0))
    return assets


async def _measure(url: str, rate: float, seconds: float, burst: int) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    pool = await create_pool(url, min_size=2, max_size=6)
    listener = None
    try:
        assets = await _setup(pool)
        reaction = Timed()
        runner = ReactionRunner(pool, reaction, batch=100)
        await runner.register()
        committed: dict[uuid.UUID, float] = {}
        decided: dict[uuid.UUID, float] = {}
        wake = asyncio.Event()
        listener = await asyncpg.connect(asyncpg_dsn(url))
        await listener.add_listener(
            "aw_events", lambda *args: wake.set() if REACTIONS_TOPIC in str(args[-1]) else None
        )
        done = asyncio.Event()

        async def consume() -> None:
            while True:
                wake.clear()
                reaction.batch = []
                claimed = await runner.run_once()
                at = time.perf_counter()
                for incident in reaction.batch:
                    decided[incident] = at
                if done.is_set() and len(decided) >= len(committed):
                    return
                if claimed < runner.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=1.0)

        async def produce() -> None:
            total = int(rate * seconds)
            start = time.perf_counter()
            for i in range(total):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                company, asset, name, critical = assets[i % len(assets)]
                incident = uuid7()
                now = datetime.now(UTC)
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        INCIDENT,
                        incident,
                        company,
                        f"k{i}",
                        asset,
                        name,
                        SIGNATURES[i % len(SIGNATURES)],
                        now,
                        critical,
                    )
                    await conn.execute(CHANGE, company, incident, now)
                committed[incident] = time.perf_counter()
            done.set()

        consumer = asyncio.create_task(consume())
        await produce()
        await asyncio.wait_for(consumer, timeout=120)
        # A burst, committed at once, drained by the reaction alone: what one runner sustains.
        async with pool.acquire() as conn, conn.transaction():
            for i in range(burst):
                company, asset, name, critical = assets[i % len(assets)]
                incident, now = uuid7(), datetime.now(UTC)
                signature = SIGNATURES[i % len(SIGNATURES)]
                await conn.execute(
                    INCIDENT, incident, company, f"b{i}", asset, name, signature, now, critical
                )
                await conn.execute(CHANGE, company, incident, now)
        started = time.perf_counter()
        while await runner.run_once():
            pass
        drained = time.perf_counter() - started
        lags = [decided[i] - committed[i] for i in committed if i in decided]
        outcomes = await pool.fetch(
            "SELECT action, approval_required, count(*) AS n FROM incident_decisions GROUP BY 1, 2 ORDER BY 1, 2"
        )
    finally:
        if listener is not None:
            await listener.close()
        await pool.close()
    load = (await asyncio.to_thread(Path("/proc/loadavg").read_text)).split()[0]
    print(f"decisions: {len(lags):,} incidents at {rate:,.0f}/s for {seconds:.0f} s (load average {load})")
    print(
        f"  lag commit -> stored decision: p50 {pct(lags, 50) * 1000:.1f} ms, p99 {pct(lags, 99) * 1000:.1f} ms,"
        f" max {max(lags) * 1000:.1f} ms"
    )
    print(f"  a burst of {burst:,} drained by one runner: {burst / drained:,.0f} decisions/s")
    print(
        "  outcomes: "
        + ", ".join(
            f"{r['action']}{' (approval)' if r['approval_required'] else ''} {r['n']}" for r in outcomes
        )
    )


async def _run(rate: float, seconds: float, burst: int) -> None:
    async with cost_database("aw_decisions") as url:
        await _measure(url, rate, seconds, burst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="new incidents per second (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the producer runs (default 10)")
    parser.add_argument("--burst", type=int, default=1000, help="incidents of the drain phase (default 1000)")
    args = parser.parse_args()
    asyncio.run(_run(args.rate, args.seconds, args.burst))


if __name__ == "__main__":
    main()
