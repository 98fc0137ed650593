"""The `kpis` query over 30 days with 1,000,000 alerts and 200,000 incidents stored (issue 17: goal
p99 <= 50 ms).

Stores `--alerts` alerts and `--incidents` incidents (with their SLA clocks; 80% resolved, 60%
acknowledged, 20% resolved by a runbook, half of those held) spread over `--days` days for one
company (INSERT ... SELECT generate_series), builds that company's hourly rollups with the workers'
own statement (`KpiRollups.rebuild`, timed), then asks the real application (its ASGI entry point,
no HTTP server) `--queries` times for the company's KPIs over the whole range with `series(bucket:
DAY)`, one request at a time as a company admin, and prints p50 / p99 / max of the request times,
plus the same for the MSP-wide view (`companyId` omitted).

    .venv/bin/python bench/kpis.py                         # embedded PostgreSQL in a temp dir
    DATABASE_URL=postgresql://... .venv/bin/python bench/kpis.py --queries 500

With DATABASE_URL, a scratch database is created beside the given one and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import cost_database  # noqa: E402
from db.kpis import KpiRollups  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.repositories.kpis import BUCKETS, BY_DAY, PATCH_FIGURES, TOTALS, whole_days  # noqa: E402
from domain.rbac import Role  # noqa: E402
from graph.app import create_app  # noqa: E402
from graph.settings import Settings  # noqa: E402
from tests.helpers import Factory  # noqa: E402

ALERTS = """
INSERT INTO alerts (id, company_id, asset_name, signature, severity, message, tool, category, fingerprint,
                    status, event_time, received_at, raw, correlated_at)
SELECT gen_random_uuid(), $1, 'srv-' || (g % 500), 'Sig' || (g % 20), 'high', 'bench', 'prometheus', 'Server',
       'f-' || (g % 10000), 'firing', t, t, '{}'::jsonb, t
FROM generate_series(1, $2::int) g, LATERAL (SELECT $3::timestamptz + random() * $4::interval + g * interval '0' AS t) x
"""
INCIDENTS = """
INSERT INTO incidents (id, company_id, correlation_key, asset_name, signature, status, severity, category,
                       alert_count, tool_sources, active_fingerprints, flap_times, first_alert_at, last_alert_at,
                       created_at, acknowledged_at, resolved_at, auto_remediated)
SELECT gen_random_uuid(), $1, 'k-' || g, 'srv-' || (g % 500), 'Sig' || (g % 20),
       CASE WHEN r < 0.8 THEN 'RESOLVED' ELSE 'NEW' END, 'high', 'Server', 5, ARRAY['prometheus'], '{}', '{}',
       t, t, t,
       CASE WHEN r < 0.6 THEN t + random() * interval '30 minutes' END,
       CASE WHEN r < 0.8 THEN t + exp(random() * 9) * interval '1 second' * 10 END,
       r < 0.16
FROM generate_series(1, $2::int) g,
     LATERAL (SELECT $3::timestamptz + random() * $4::interval + g * interval '0' AS t, random() + g * 0 AS r) x
"""
CLOCKS = """
INSERT INTO incident_sla (incident_id, company_id, severity, response_started_at, resolution_started_at,
                          response_deadline, resolution_deadline, response_met_at, resolution_met_at, version)
SELECT id, company_id, 'high', created_at, created_at, created_at + interval '2 hours',
       created_at + interval '8 hours', coalesce(acknowledged_at, resolved_at), resolved_at, 1
FROM incidents WHERE company_id = $1
"""
QUERY = """
query($c: ID, $from: DateTime!, $to: DateTime!) {
  kpis(companyId: $c, from: $from, to: $to) {
    totalAlerts totalIncidents noiseReductionPct mttaSeconds mttrSeconds mttrP90Seconds selfHealedCount
    selfHealedPct autoRemediationRatePct responseSlaCompliancePct resolutionSlaCompliancePct
    patchCompliancePct patchComplianceSource
    series(bucket: DAY) { start totalAlerts totalIncidents noiseReductionPct mttrSeconds selfHealedCount }
  }
}
"""


async def _post(app: Any, token: str, body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent = False
    status: list[int] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(chunks)


def _statements(company_id: uuid.UUID) -> list[tuple[str, str, list[uuid.UUID]]]:
    """The reads one `kpis` request makes, each with its company filter (every company in scope)."""
    one = [company_id]
    return [
        ("totals", TOTALS, one),
        ("resolve buckets", BUCKETS, one),
        ("patch", PATCH_FIGURES, one),
        ("series DAY", BY_DAY, one),
    ]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _time(
    app: Any, token: str, company: str | None, start: datetime, end: datetime, n: int
) -> list[float]:
    body = orjson.dumps(
        {"query": QUERY, "variables": {"c": company, "from": start.isoformat(), "to": end.isoformat()}}
    )
    status, answer = await _post(app, token, body)
    data = orjson.loads(answer)
    if status != 200 or "errors" in data:
        raise SystemExit(f"the query failed: {answer[:500]!r}")
    for _ in range(10):  # warm-up: caches, prepared statements, pool
        await _post(app, token, body)
    times = []
    for _ in range(n):
        began = time.perf_counter()
        await _post(app, token, body)
        times.append((time.perf_counter() - began) * 1000)
    k = data["data"]["kpis"]
    figures = {name: value for name, value in k.items() if name != "series"}
    print(f"  {len(k['series'])} daily points; {figures}")
    return times


def _report(label: str, times: list[float]) -> None:
    print(
        f"{label}: {len(times)} requests, p50 {statistics.median(times):.1f} ms, p99 {pct(times, 99):.1f} ms,"
        f" max {max(times):.1f} ms"
    )


async def _measure(url: str, args: argparse.Namespace, home: Path) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings.from_env(
        {"ALERTWHISPERER_HOME": str(home), "ALERTWHISPERER_BCRYPT_ROUNDS": "4", "ALERTWHISPERER_WORKERS": "0"}
    )
    app = create_app(settings, database_url=url, migrate=False)
    async with app.router.lifespan_context(app):
        services = app.state.services
        factory = Factory(services)
        company = await factory.company(f"Bench {uuid.uuid4().hex[:6]}")
        admin = await factory.user(Role.COMPANY_ADMIN, [company])
        msp = await factory.user(Role.MSP_ADMIN)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=args.days)
        span = timedelta(days=args.days)

        began = time.perf_counter()
        async with services.pool.acquire() as conn:
            for done in range(0, args.alerts, 250_000):
                await conn.execute(ALERTS, company.id, min(250_000, args.alerts - done), start, span)
            await conn.execute(INCIDENTS, company.id, args.incidents, start, span)
            await conn.execute(CLOCKS, company.id)
            # as autovacuum would leave them (index-only scans need the visibility map)
            await conn.execute("VACUUM (ANALYZE) alerts, incidents, incident_sla")
        print(
            f"stored {args.alerts:,} alerts and {args.incidents:,} incidents over {args.days} days"
            f" in {time.perf_counter() - began:.1f} s"
        )

        began = time.perf_counter()
        hours = await KpiRollups(services.pool).rebuild(company.id, start, end)
        took = time.perf_counter() - began
        print(f"rollups: {hours} hours recomputed in {took:.1f} s ({took / hours * 1000:.1f} ms per hour)")
        await services.pool.execute("ANALYZE kpi_hourly")

        async with services.pool.acquire() as conn:
            for label, statement, companies in _statements(company.id):
                extra = whole_days(start, end) if statement is BUCKETS else ()
                plan = await conn.fetchval(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", None, companies, start, end, *extra
                )
                print(f"  SQL {label}: {orjson.loads(plan)[0]['Execution Time']:.2f} ms")
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            await _time(app, admin.token, company.gid, start, end, 50)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        _report(
            f"kpis, one company, {args.days} days, series DAY",
            await _time(app, admin.token, company.gid, start, end, args.queries),
        )
        _report(
            f"kpis, MSP-wide (companyId omitted), {args.days} days, series DAY",
            await _time(app, msp.token, None, start, end, args.queries),
        )


async def _run(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="aw-kpis-bench-"))
    try:
        async with cost_database("aw_kpis_bench") as url:
            await _measure(url, args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile 50 requests first")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
