"""What one incident change costs each reaction to the incident-change feed, in CPU and statements.

`bench/ingest.py` measures throughput, which on a shared 2-core machine moves with whatever else
runs. This counts what varies much less: it seeds a feed shaped like the ingest benchmark's (20
companies x 25 assets x 20 signatures, most without a runbook, so most incidents are escalated; a
few library signatures on assets with AWS settings, so some runs are enqueued or approvals asked;
dependency chains between assets; 5% of the incidents resolved, half of those reopened), registers
every reaction, and then lets each drain its inbox in turn on one connection (the order of the
worker's cascade: decisions, whose escalations feed the assignment, the notices and the others;
assignment, whose ASSIGNED changes feed analysis, SLA and the rest). Per reaction it prints the
changes it claimed, its backend's CPU (from /proc) and this process's CPU per 1,000 of them, and the
statements it sent per change (query logger; BEGIN/COMMIT/SAVEPOINT and the pool's reset included).

    .venv/bin/python bench/reaction_cost.py                       # embedded PostgreSQL, 5,000 incidents
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/reaction_cost.py

With DATABASE_URL, a scratch database is created beside the given one and dropped afterwards; the
backend's CPU is read from /proc, so the server must run on this machine. The LLM reaction runs with
one stub provider (as a worker with Bedrock configured does) and no company has LLM analysis on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench.scratch import cost_database  # noqa: E402
from db.analysis import IncidentAnalysisReaction  # noqa: E402
from db.assignment import AutoAssignment  # noqa: E402
from db.decisions import DecisionReaction  # noqa: E402
from db.escalation_notices import EscalationNotices  # noqa: E402
from db.llm_analysis import LlmAnalysisReaction  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.pool import HOT_SETTINGS, HotConnection, asyncpg_dsn  # noqa: E402
from db.reactions import ReactionRunner  # noqa: E402
from db.remediation_held import RemediationHeld  # noqa: E402
from db.sla import SlaClocks  # noqa: E402
from domain.ids import uuid7  # noqa: E402
from domain.ports import LlmReply  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
COMPANIES = 20
ASSETS = 25
SIGNATURES = [f"Signature{i:02d}" for i in range(20)] + ["disk_space_low", "high_memory", "nginx_down"]
SEVERITIES = ["critical", "high", "medium", "low"]

COMPANY = "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc) VALUES ($1, $2, $3, 'x', '\\x00')"
AWS = (
    "INSERT INTO company_aws_settings (company_id, auth_type, region, role_arn, external_id_enc)"
    " VALUES ($1, 'role', 'eu-west-1', 'arn:aws:iam::111122223333:role/AW', '\\x00')"
)
ASSET = (
    "INSERT INTO assets (id, company_id, name, cloud_instance_id, platform, is_critical)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
DEPENDS = "INSERT INTO asset_dependencies (company_id, asset_id, depends_on_id) VALUES ($1, $2, $3)"
USER = "INSERT INTO users (id, email, name, password_hash, role, skills) VALUES ($1, $2, $3, 'x', $4, $5)"
MEMBER = "INSERT INTO memberships (user_id, company_id) VALUES ($1, $2)"
INCIDENTS = """
INSERT INTO incidents (id, company_id, correlation_key, asset_id, asset_name, signature, status, severity,
    category, alert_count, duplicate_count, tool_sources, active_fingerprints, flap_times, first_alert_at,
    last_alert_at, critical_asset, created_at, updated_at)
SELECT i, c, 'k' || i::text, a, n, s, 'NEW', v, 'Server', 2, 0, '{prometheus}', '{}', '{}', t, t, false, t, t
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
     AS u(i, c, a, n, s, v, t)
"""
ALERTS = """
INSERT INTO alerts (id, company_id, incident_id, asset_name, signature, severity, severity_raw, message, tool,
    category, fingerprint, status, event_time, received_at, tags, raw, correlated_at)
SELECT gen_random_uuid(), c, i, n, s, v, v, s || ' on ' || n, 'prometheus', 'Server', md5(n || s), 'firing',
       t + k * interval '1 second', t, '{}'::jsonb, '{}'::jsonb, t
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS u(i, c, n, s, v, t),
     generate_series(0, 1) k
"""
CHANGES = """
INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
    before_severity, after_severity, actor, at)
SELECT c, i, 1, 'CREATED', NULL, 'NEW', NULL, v, 'system:correlation', t
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) AS u(i, c, v, t)
"""
# A few incidents resolved by the correlation worker, half of those reopened (what remediation-held
# and the decisions' REOPENED trigger look at), each with the outbox change the worker writes.
RESOLVE = """
WITH r AS (
    UPDATE incidents SET status = 'RESOLVED', resolved_at = updated_at, version = version + 1
    WHERE id = ANY($1) RETURNING id, company_id, version, severity, updated_at
)
INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
    before_severity, after_severity, actor, at)
SELECT company_id, id, version, 'RESOLVED', 'NEW', 'RESOLVED', severity, severity, 'system:correlation',
       updated_at + interval '1 minute'
FROM r
"""
REOPEN = """
WITH r AS (
    UPDATE incidents SET status = 'NEW', resolved_at = NULL, version = version + 1
    WHERE id = ANY($1) RETURNING id, company_id, version, severity, updated_at
)
INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
    before_severity, after_severity, actor, at)
SELECT company_id, id, version, 'REOPENED', 'RESOLVED', 'NEW', severity, severity, 'system:correlation',
       updated_at + interval '2 minutes'
FROM r
"""
TOP = 0  # --top: the statements that took longest (wall), per reaction
SLOWEST: dict[str, tuple[int, float]] = {}
PENDING = "SELECT count(*) FROM reaction_inbox WHERE reaction = $1 AND state = 'pending'"
DEAD = "SELECT reaction, count(*) FROM reaction_inbox WHERE state = 'dead' GROUP BY 1"


class StubProvider:
    """A provider that is never asked (no company turned LLM analysis on)."""

    source = "BEDROCK"
    model = "stub"

    async def complete(self, system: str, prompt: str, timeout: float) -> LlmReply:  # noqa: ASYNC109 (the port's)
        raise AssertionError("no company has LLM analysis on")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def _seed(pool: Any, incidents: int) -> None:
    assets: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    for c in range(COMPANIES):
        company = uuid7()
        await pool.execute(COMPANY, company, f"bench {c}", uuid.uuid4().hex)
        if c % 2 == 0:
            await pool.execute(AWS, company)
        previous = None
        for a in range(ASSETS):
            asset = uuid7()
            name = f"srv-{c:02d}-{a:02d}"
            platform = "WINDOWS" if a % 4 == 3 else "LINUX"
            await pool.execute(ASSET, asset, company, name, f"i-{asset.hex[:17]}", platform, a == 0)
            if previous is not None and a % 5:
                await pool.execute(DEPENDS, company, asset, previous)  # chains of five
            previous = asset
            assets.append((company, asset, name))
        for role, count in (("company_admin", 1), ("technician", 3)):
            for u in range(count):
                user = uuid7()
                await pool.execute(
                    USER, user, f"{role}-{c}-{u}@bench.example", f"{role} {u}", role, ["Server"] if u else []
                )
                await pool.execute(MEMBER, user, company)
    start = datetime.now(UTC) - timedelta(minutes=30)
    ids, companies, asset_ids, names, sigs, sevs, ats = [], [], [], [], [], [], []
    for n in range(incidents):
        company, asset, name = assets[(n * 7) % len(assets)]
        ids.append(uuid7())
        companies.append(company)
        asset_ids.append(asset)
        names.append(name)
        sigs.append(SIGNATURES[n % len(SIGNATURES)])
        sevs.append(SEVERITIES[n % 4])
        ats.append(start + timedelta(milliseconds=n * 10))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(INCIDENTS, ids, companies, asset_ids, names, sigs, sevs, ats)
        await conn.execute(ALERTS, ids, companies, names, sigs, sevs, ats)
    await pool.execute("ANALYZE")
    # The feed, in statements of 100 changes as correlation batches write them.
    for i in range(0, incidents, 100):
        await pool.execute(
            CHANGES, ids[i : i + 100], companies[i : i + 100], sevs[i : i + 100], ats[i : i + 100]
        )
    resolved = ids[::20]
    await pool.execute(RESOLVE, resolved)
    await pool.execute(REOPEN, resolved[::2])


async def _drain(pool: Any, runner: ReactionRunner) -> tuple[int, float, float, float, int]:
    """Drain the reaction's inbox on the pool's one connection: (claimed, backend CPU s, own CPU s,
    wall s, statements)."""
    statements = 0

    def count(query: Any) -> None:
        nonlocal statements
        statements += 1
        if TOP:
            key = " ".join(query.query.split())[:90]
            n, t = SLOWEST.get(key, (0, 0.0))
            SLOWEST[key] = (n + 1, t + query.elapsed)

    async with pool.acquire() as conn:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        raw = conn._con  # the connection behind the pool's proxy: the logger stays across checkouts
    raw.add_query_logger(count)
    claimed = 0
    backend_cpu, own_cpu, wall = _cpu_seconds(backend), time.process_time(), time.perf_counter()
    try:
        while got := await runner.run_once(datetime.now(UTC) + timedelta(days=1)):
            claimed += got
    finally:
        wall = time.perf_counter() - wall
        own_cpu = time.process_time() - own_cpu
        backend_cpu = _cpu_seconds(backend) - backend_cpu
        raw.remove_query_logger(count)
    for key, (n, t) in sorted(SLOWEST.items(), key=lambda kv: -kv[1][1])[:TOP]:
        print(f"    {t * 1000:9.1f} ms wall in {n:6,} x {key}")
    SLOWEST.clear()
    return claimed, backend_cpu, own_cpu, wall, statements


async def _measure(url: str, incidents: int) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    # One connection: every statement of a drain runs on the backend whose CPU is read.
    # One connection (the worker's settings), never replaced after asyncpg's default 50,000 queries.
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=1,
        max_size=1,
        max_queries=10**9,
        server_settings=HOT_SETTINGS,
        connection_class=HotConnection,
    )
    try:
        reactions: list[tuple[Any, int]] = [
            (DecisionReaction(), 20),
            (AutoAssignment(), 20),
            (EscalationNotices(), 20),
            (IncidentAnalysisReaction(), 20),
            (SlaClocks(), 20),
            (RemediationHeld(), 20),
            # as graph/workers.py registers it: one change a claim until it could batch its skips
            (
                LlmAnalysisReaction([StubProvider()]),
                20 if hasattr(LlmAnalysisReaction, "handle_batch") else 1,
            ),  # type: ignore[list-item]
        ]
        runners = [ReactionRunner(pool, r, batch=b) for r, b in reactions]
        for runner in runners:
            await runner.register()
        await _seed(pool, incidents)
        feed = await pool.fetchval("SELECT count(*) FROM incident_changes")
        print(
            f"{incidents:,} incidents, {feed:,} changes in the feed before the reactions ran"
            f" (load average {os.getloadavg()[0]:.2f})"
        )
        print(
            f"{'reaction':<20} {'claimed':>8} {'backend ms/1k':>14} {'worker ms/1k':>13} "
            f"{'total ms/1k':>12} {'stmts/change':>13} {'wall s':>7}"
        )
        total_backend = total_own = 0.0
        for runner in runners:
            claimed, backend_cpu, own_cpu, wall, statements = await _drain(pool, runner)
            total_backend += backend_cpu
            total_own += own_cpu
            per = 1000 / max(1, claimed)
            print(
                f"{runner.reaction.name:<20} {claimed:>8,} {backend_cpu * 1000 * per:>14,.0f} "
                f"{own_cpu * 1000 * per:>13,.0f} {(backend_cpu + own_cpu) * 1000 * per:>12,.0f} "
                f"{statements / max(1, claimed):>13.2f} {wall:>7.2f}"
            )
        per_incident = 1000 / incidents
        print(
            f"all reactions, per 1,000 incidents: backend {total_backend * 1000 * per_incident:,.0f} ms, "
            f"worker {total_own * 1000 * per_incident:,.0f} ms"
        )
        counts = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM incident_changes) AS changes,"
            " (SELECT count(*) FROM incident_events) AS events,"
            " (SELECT count(*) FROM notifications) AS notifications,"
            " (SELECT count(*) FROM incident_decisions) AS decisions,"
            " (SELECT count(*) FROM incident_analyses) AS analyses,"
            " (SELECT count(*) FROM incident_sla) AS clocks,"
            " (SELECT count(*) FROM remediation_executions) AS executions,"
            " (SELECT count(*) FROM remediation_approvals) AS approvals,"
            " (SELECT count(*) FROM incidents WHERE assigned_to IS NOT NULL) AS assigned"
        )
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        for r in await pool.fetch(DEAD):
            print(f"  dead-lettered: {r['reaction']} {r['count']}")
        for runner in runners:
            left = await pool.fetchval(PENDING, runner.reaction.name)
            if left:
                print(f"  still pending (changes written by later reactions): {runner.reaction.name} {left}")
    finally:
        await pool.close()


async def _run(incidents: int) -> None:
    async with cost_database("aw_reactions") as url:
        await _measure(url, incidents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=5_000)
    parser.add_argument("--top", type=int, default=0, help="also list the N slowest statements of each")
    args = parser.parse_args()
    global TOP
    TOP = args.top
    asyncio.run(_run(args.incidents))


if __name__ == "__main__":
    main()
