"""Decision lag (issue 15, "Speed"): from an incident's commit to its stored decision, at a steady
rate of new incidents. Prints figures; asserts nothing.

    .venv/bin/python bench/decisions.py                      # embedded PostgreSQL, 100 incidents/s, 10 s
    DATABASE_URL=postgresql://... .venv/bin/python bench/decisions.py --rate 200 --seconds 20
    DATABASE_URL=postgresql://... .venv/bin/python bench/decisions.py --with-ingest   # issue 15's figure

A producer commits incidents with their CREATED outbox change (as the correlation worker does) at
`--rate` per second, spread over companies that each have AWS settings, assets on both platforms and
the global runbook library, so decisions run, ask for approval (critical assets, approval-needing
runbooks) and escalate (no runbook) in a fixed spread. The real `decisions` reaction runs as a worker would
(`ReactionRunner`, woken by the outbox's NOTIFY on a LISTEN connection, and a 1 s poll). The lag of
an incident is the time from its producer's commit to the commit of the reaction batch that stored
its decision.

`--with-ingest` measures it as issue 15 asks: while `bench/ingest.py --phases bce --stored 0` runs
(the real server and worker process, on a scratch database of the same PostgreSQL with DATABASE_URL),
the producer starts when phase (b) starts and runs for `--seconds` inside (b)'s window (warm-up
included); the ingest run's own (b), (c), (e) figures are printed after, for comparison with the
previous ones. The decision runner here is this process, not the ingest server's worker (which runs
its own `decisions` reaction for the ingest's incidents): both share the machine's cores and the
database server, which is the contention measured. No burst phase in this mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


class IngestLoad:
    """`bench/ingest.py` (b), (c), (e) in a child process; `b_started` is set when (b) begins."""

    COMMAND = ["bench/ingest.py", "--phases", "bce", "--stored", "0", "--warmup", "2"]

    def __init__(self, url: str | None, seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self.b_started = asyncio.Event()
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = dict(os.environ)
        if self.url is not None:
            env["DATABASE_URL"] = self.url
        # (b)'s window covers the producer's run: its warm-up (2 s) plus at least `seconds`.
        duration = str(max(10.0, self.seconds))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.COMMAND,
            "--duration",
            duration,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def read(self) -> int:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if line.startswith("(b) "):
                self.b_started.set()
        self.b_started.set()  # it ended (or failed) without (b): do not wait forever
        return await self.proc.wait()


async def _measure(
    url: str, rate: float, seconds: float, burst: int, ingest: IngestLoad | None = None
) -> None:
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
        batches: list[tuple[float, int]] = []  # (wall seconds of run_once, changes claimed)
        cpu_start = time.process_time()

        async def consume() -> None:
            while True:
                wake.clear()
                reaction.batch = []
                began = time.perf_counter()
                claimed = await runner.run_once()
                at = time.perf_counter()
                if claimed:
                    batches.append((at - began, claimed))
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
        reader = None
        if ingest is not None:
            await ingest.start()
            reader = asyncio.create_task(ingest.read())
            await ingest.b_started.wait()
            if reader.done():
                raise RuntimeError("bench/ingest.py ended before (b):\n" + "\n".join(ingest.lines))
            # (b)'s load reaches full speed within its warm-up; start with it, not before.
            await asyncio.sleep(0.5)
        await produce()
        await asyncio.wait_for(consumer, timeout=120)
        cpu = time.process_time() - cpu_start
        if reader is not None:
            status = await reader
            if status != 0:
                print("\n".join(ingest.lines) if ingest else "")
                raise RuntimeError(f"bench/ingest.py failed ({status})")
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
        drained = max(time.perf_counter() - started, 1e-9)
        lags = [decided[i] - committed[i] for i in committed if i in decided]
        outcomes = await pool.fetch(
            "SELECT action, approval_required, count(*) AS n FROM incident_decisions GROUP BY 1, 2 ORDER BY 1, 2"
        )
    finally:
        if listener is not None:
            await listener.close()
        await pool.close()
    load = (await asyncio.to_thread(Path("/proc/loadavg").read_text)).split()[0]
    beside = "while bench/ingest.py (b) runs" if ingest is not None else "no ingest beside it"
    print(
        f"decisions: {len(lags):,} incidents at {rate:,.0f}/s for {seconds:.0f} s, {beside}"
        f" (load average {load})"
    )
    print(
        f"  lag commit -> stored decision: p50 {pct(lags, 50) * 1000:.1f} ms, p99 {pct(lags, 99) * 1000:.1f} ms,"
        f" max {max(lags) * 1000:.1f} ms"
    )
    walls = [w for w, _ in batches]
    print(
        f"  runner: {len(batches):,} batches, {sum(n for _, n in batches) / max(len(batches), 1):.1f} changes"
        f" each; a batch's wall p50 {pct(walls, 50) * 1000:.1f} ms, p99 {pct(walls, 99) * 1000:.1f} ms;"
        f" this process's CPU (producer and runner) {cpu / max(len(lags), 1) * 1000:.2f} ms per incident"
    )
    if burst:
        print(f"  a burst of {burst:,} drained by one runner: {burst / drained:,.0f} decisions/s")
    print(
        "  outcomes: "
        + ", ".join(
            f"{r['action']}{' (approval)' if r['approval_required'] else ''} {r['n']}" for r in outcomes
        )
    )


async def _run(rate: float, seconds: float, burst: int, with_ingest: bool) -> None:
    if not with_ingest:
        async with cost_database("aw_decisions") as url:
            await _measure(url, rate, seconds, burst)
        return
    shared = os.environ.get("DATABASE_URL")
    async with cost_database("aw_decisions") as url, contextlib.AsyncExitStack() as stack:
        # With DATABASE_URL the ingest gets a scratch database of the same server (never the named
        # one); without it, an embedded cluster of its own.
        ingest_url = await stack.enter_async_context(cost_database("aw_ingest")) if shared else None
        ingest = IngestLoad(ingest_url, seconds)
        await _measure(url, rate, seconds, 0, ingest)
    print("\nbench/ingest.py " + " ".join(ingest.COMMAND[1:]) + " beside it:")
    keep = (
        "(a)",
        "(b)",
        "(c)",
        "(e)",
        "  accepted",
        "  latency",
        "  alerts/s",
        "  sustained",
        "  backlog",
        "  single",
        "  batches",
        "  correlation",
        "  CPU",
        "  machine",
    )
    for line in ingest.lines:
        if line.startswith(keep) or "alerts/s" in line:
            print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="new incidents per second (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the producer runs (default 10)")
    parser.add_argument("--burst", type=int, default=1000, help="incidents of the drain phase (default 1000)")
    parser.add_argument(
        "--with-ingest",
        action="store_true",
        help="measure while bench/ingest.py (b) runs, and print its (b), (c), (e) (no burst phase)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile this process (producer and runner): top functions"
    )
    args = parser.parse_args()
    if not args.profile:
        asyncio.run(_run(args.rate, args.seconds, args.burst, args.with_ingest))
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(asyncio.run, _run(args.rate, args.seconds, args.burst, args.with_ingest))
    print("\ncProfile of this process, by own time:")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats("db/|domain/", 20)


if __name__ == "__main__":
    main()
