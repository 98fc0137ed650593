"""The reads of the KPI rollups and patch states (`kpis`, `kpisUpdated`): raw SQL on the pool, in
the caller's tenant scope (`db.scope.scope_sql`) and narrowed to the companies asked for; a handful
of statements over `kpi_hourly`, whatever the number of alerts behind it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from db.scope import scope_sql
from domain.kpis import KpiBucket, KpiSums, PatchComplianceSource, PatchFigure
from domain.tenancy import TenantScope

if TYPE_CHECKING:
    from db.pool import Conn

#: A patching runbook: in the security category, with "patch" in its name or one of its signatures.
PATCH_RUNBOOK_SQL = (
    "v.category = 'SECURITY' AND (v.name ILIKE '%patch%' OR EXISTS ("
    "SELECT 1 FROM unnest(v.signatures || v.signature_patterns) AS sig WHERE sig ILIKE '%patch%'))"
)
# Per company: the instances SSM reported (now), or else its patch runbooks' finished runs in range.
PATCH_FIGURES = f"""
SELECT c.id AS company_id, p.instances, p.compliant_instances, r.runs, r.succeeded_runs
FROM unnest($2::uuid[]) AS c(id)
LEFT JOIN LATERAL (
    SELECT count(*) AS instances,
           count(*) FILTER (WHERE s.missing = 0 AND s.failed = 0 AND s.installed_rejected = 0
                            AND s.installed_pending_reboot = 0) AS compliant_instances
    FROM patch_states s WHERE s.company_id = c.id AND {scope_sql("s.company_id", 1)}) p ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS runs, count(*) FILTER (WHERE e.status = 'SUCCEEDED') AS succeeded_runs
    FROM remediation_executions e
    JOIN runbook_versions v ON v.runbook_id = e.runbook_id AND v.version = e.runbook_version
    WHERE e.company_id = c.id AND {scope_sql("e.company_id", 1)}
      AND e.status IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT')
      AND e.finished_at >= $3 AND e.finished_at < $4 AND {PATCH_RUNBOOK_SQL}) r ON true
"""
# ---- reads ---------------------------------------------------------------------------------------

_SUMS = """
sum(alerts)::bigint AS alerts, sum(incidents)::bigint AS incidents, sum(acknowledged)::bigint AS acknowledged,
sum(ack_seconds) AS ack_seconds, sum(resolved)::bigint AS resolved, sum(resolve_seconds) AS resolve_seconds,
sum(self_healed)::bigint AS self_healed, sum(auto_remediated)::bigint AS auto_remediated,
sum(response_met)::bigint AS response_met, sum(response_breached)::bigint AS response_breached,
sum(resolution_met)::bigint AS resolution_met, sum(resolution_breached)::bigint AS resolution_breached
"""
_WHERE = f"""
FROM kpi_hourly k
WHERE {scope_sql("k.company_id", 1)} AND k.company_id = ANY($2::uuid[]) AND k.hour >= $3 AND k.hour < $4
"""
TOTALS = f"SELECT {_SUMS} {_WHERE}"
BY_COMPANY = f"SELECT k.company_id AS key, {_SUMS} {_WHERE} GROUP BY k.company_id"
BY_HOUR = f"SELECT k.hour AS key, {_SUMS} {_WHERE} GROUP BY k.hour ORDER BY k.hour"
BY_DAY = f"SELECT date_trunc('day', k.hour, 'UTC') AS key, {_SUMS} {_WHERE} GROUP BY 1 ORDER BY 1"
# Resolve-time buckets per company: the whole UTC days of the range ($5 to $6) from their day rows,
# the hours before and after them from the hourly rows.
BUCKETS = f"""
SELECT r.company_id, x.bucket, sum(x.n)::bigint AS n
FROM (
    SELECT d.company_id, d.resolve_buckets AS buckets, d.resolve_bucket_counts AS counts
    FROM kpi_daily_buckets d
    WHERE {scope_sql("d.company_id", 1)} AND d.company_id = ANY($2::uuid[]) AND d.day >= $5 AND d.day < $6
    UNION ALL
    SELECT k.company_id, k.resolve_buckets, k.resolve_bucket_counts
    FROM kpi_hourly k
    WHERE {scope_sql("k.company_id", 1)} AND k.company_id = ANY($2::uuid[]) AND k.hour >= $3 AND k.hour < $4
      AND (k.hour < $5 OR k.hour >= $6) AND k.resolved > 0
) r CROSS JOIN LATERAL unnest(r.buckets, r.counts) AS x(bucket, n)
GROUP BY r.company_id, x.bucket
"""


def whole_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The UTC days wholly inside [start, end): from the first midnight at or after `start` to the last
    at or before `end` (an empty span when there is none)."""
    first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(days=1)
    last = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return first, max(first, last)


def _sums(row: Any) -> KpiSums:
    def n(name: str) -> int:
        return int(row[name] or 0)

    return KpiSums(
        alerts=n("alerts"),
        incidents=n("incidents"),
        acknowledged=n("acknowledged"),
        ack_seconds=float(row["ack_seconds"] or 0),
        resolved=n("resolved"),
        resolve_seconds=float(row["resolve_seconds"] or 0),
        self_healed=n("self_healed"),
        auto_remediated=n("auto_remediated"),
        response_met=n("response_met"),
        response_breached=n("response_breached"),
        resolution_met=n("resolution_met"),
        resolution_breached=n("resolution_breached"),
    )


class KpiReader:
    """The rollups of the companies a caller may read (`scope`), narrowed to `companies`."""

    def __init__(self, conn: Conn | asyncpg.Pool, scope: TenantScope) -> None:
        self.conn = conn
        self.scope = scope

    def _args(self, companies: Sequence[uuid.UUID], start: datetime, end: datetime) -> list[Any]:
        return [self.scope.bind(), list(companies), start, end]

    async def totals(self, companies: Sequence[uuid.UUID], start: datetime, end: datetime) -> KpiSums:
        return _sums(await self.conn.fetchrow(TOTALS, *self._args(companies, start, end)))

    async def by_company(
        self, companies: Sequence[uuid.UUID], start: datetime, end: datetime
    ) -> dict[uuid.UUID, KpiSums]:
        rows = await self.conn.fetch(BY_COMPANY, *self._args(companies, start, end))
        return {r["key"]: _sums(r) for r in rows}

    async def series(
        self, companies: Sequence[uuid.UUID], start: datetime, end: datetime, bucket: KpiBucket
    ) -> list[tuple[datetime, KpiSums]]:
        """The points that have a rollup row (the caller fills the empty ones)."""
        statement = BY_HOUR if bucket is KpiBucket.HOUR else BY_DAY
        rows = await self.conn.fetch(statement, *self._args(companies, start, end))
        return [(r["key"], _sums(r)) for r in rows]

    async def resolve_buckets(
        self, companies: Sequence[uuid.UUID], start: datetime, end: datetime
    ) -> dict[uuid.UUID, dict[int, int]]:
        """Per company: resolve-time bucket -> incidents resolved in the range."""
        found: dict[uuid.UUID, dict[int, int]] = {}
        days = whole_days(start, end)
        for r in await self.conn.fetch(BUCKETS, *self._args(companies, start, end), *days):
            found.setdefault(r["company_id"], {})[int(r["bucket"])] = int(r["n"])
        return found

    async def patch_figures(
        self, companies: Sequence[uuid.UUID], start: datetime, end: datetime
    ) -> dict[uuid.UUID, PatchFigure]:
        rows = await self.conn.fetch(PATCH_FIGURES, *self._args(companies, start, end))
        found: dict[uuid.UUID, PatchFigure] = {}
        for r in rows:
            if r["instances"]:
                found[r["company_id"]] = PatchFigure(
                    int(r["compliant_instances"]), int(r["instances"]), PatchComplianceSource.SSM
                )
            elif r["runs"]:
                found[r["company_id"]] = PatchFigure(
                    int(r["succeeded_runs"]), int(r["runs"]), PatchComplianceSource.RUNBOOKS
                )
        return found
