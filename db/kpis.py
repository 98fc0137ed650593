"""KPI rollups per company and UTC hour (`kpi_hourly`), kept current by the workers, and the
companies' patch states read from SSM (raw SQL: the worker holds no ORM; the `kpis` query's reads
of them are `db.repositories.kpis`).

How the rollups stay right (`domain.kpis` says which incidents count where):

- A row is never incremented: the rollup pass recomputes each (company, hour) it touches from the
  source tables in one statement and upserts the result. Running it twice, after a crash, or on a
  row nothing changed in gives the same row, so nothing is ever counted twice.
- What to recompute is in `kpi_dirty_hours`: the `kpi-rollups` reaction marks an incident's opening
  hour and resolve hour (and, on a reopen, the hour of its last resolve) for each change of the
  outbox; triggers mark them when its SLA clocks are met or breached and when its remediation is
  judged held (migration 0034). A mark is made after (reaction) or with (trigger) the write it is
  about, so a pass that claims it reads that write.
- Alerts are many and write no change: every ALERT_PASS_SECONDS one statement recounts the current
  and the previous hour of every company from the alerts' (company, received_at) index and writes the
  counts that differ. `received_at` is the server's time at ingest, so an alert lands in one of those
  two hours; older hours (a backfill) are recounted by `rebuild`.
- One pass at a time across processes (`pg_try_advisory_xact_lock`): two recomputes of one hour side by
  side could commit the older snapshot last. Claimed marks are locked (`FOR UPDATE SKIP LOCKED`) and
  deleted in the pass's transaction; a mark made meanwhile waits on that lock (its upsert), then
  inserts a new mark once the pass committed, so a change is never lost between read and delete.
- A pass that changed a company's rows announces `company:{id}:kpis` in its transaction
  (`kpisUpdated` listens).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from db.events import BusEvent, topic
from db.executor import access_of_row
from domain.aws import AwsError
from domain.kpis import (
    BUCKETS_PER_DOUBLING,
    HOUR,
    MAX_BUCKET,
    InstancePatchState,
    hour_floor,
)

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

log = logging.getLogger(__name__)

REACTION = "kpi-rollups"
KPIS_TOPIC = "kpis"  # company:{id}:kpis, what `kpisUpdated` listens to
ROLLUP_LOCK = 7461034
PATCH_LOCK = 7461035
ROLLUP_BATCH = 500

_MARK_CHANGE = """
INSERT INTO kpi_dirty_hours (company_id, hour)
SELECT DISTINCT $1::uuid, h FROM (
    SELECT date_trunc('hour', i.created_at, 'UTC') AS h FROM incidents i WHERE i.id = $2
    UNION ALL
    SELECT date_trunc('hour', i.resolved_at, 'UTC') FROM incidents i WHERE i.id = $2 AND i.resolved_at IS NOT NULL
    UNION ALL
    (SELECT date_trunc('hour', c.at, 'UTC') FROM incident_changes c
     WHERE $4 AND c.incident_id = $2 AND c.version < $3 AND c.after_status = 'RESOLVED'
     ORDER BY c.version DESC LIMIT 1)
) x WHERE h IS NOT NULL
ORDER BY 2  -- one lock order for every marker: two marking the same hours cannot deadlock
ON CONFLICT (company_id, hour) DO UPDATE SET marked_at = now()
"""


class KpiRollupMarks:
    """The reaction that marks the hours an incident change touches for the rollup pass."""

    name = REACTION
    # Only changes that move what the KPIs read: a new incident, an acknowledgement, a resolve and
    # a reopen (RESOLVED -> NEW); an escalation or a wait on the client moves none of them.
    after_statuses = ("NEW", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED")

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        reopened = change.before_status == "RESOLVED" and change.after_status != "RESOLVED"
        await conn.execute(_MARK_CHANGE, change.company_id, change.incident_id, change.version, reopened)


_BUCKET_SQL = f"CASE WHEN secs < 1 THEN 0 ELSE least({MAX_BUCKET}, floor(log(2, secs) * {BUCKETS_PER_DOUBLING}))::int END"
_RESPONSE_BREACHED = "(s.response_breached OR s.response_met_at > s.response_deadline)"
_RESOLUTION_BREACHED = "(s.resolution_breached OR s.resolution_met_at > s.resolution_deadline)"
COLUMNS = (
    "alerts",
    "incidents",
    "acknowledged",
    "ack_seconds",
    "resolved",
    "resolve_seconds",
    "resolve_buckets",
    "resolve_bucket_counts",
    "self_healed",
    "auto_remediated",
    "response_met",
    "response_breached",
    "resolution_met",
    "resolution_breached",
)
# Every figure of the given (company, hour) pairs from the source tables, upserted; only rows whose
# figures changed are written (and returned). Each hour is read through LATERAL subqueries, so every
# read is an index range scan of that hour (company, created_at / resolved_at / received_at), never a
# join the planner could turn into a scan of the company's whole history.
RECOMPUTE = f"""
WITH k AS (SELECT DISTINCT company_id, hour FROM unnest($1::uuid[], $2::timestamptz[]) AS k(company_id, hour)
           WHERE EXISTS (SELECT 1 FROM companies c WHERE c.id = k.company_id))
INSERT INTO kpi_hourly (company_id, hour, {", ".join(COLUMNS)})
SELECT k.company_id, k.hour, a.alerts, o.incidents, o.acknowledged, o.ack_seconds,
       coalesce(r.resolved, 0), coalesce(r.resolve_seconds, 0),
       coalesce(r.buckets, '{{}}'), coalesce(r.counts, '{{}}'),
       coalesce(r.self_healed, 0), coalesce(r.auto_remediated, 0),
       o.response_met, o.response_breached, o.resolution_met, o.resolution_breached
FROM k
CROSS JOIN LATERAL (
    SELECT count(*)::int AS alerts FROM alerts a
    WHERE a.company_id = k.company_id AND a.received_at >= k.hour AND a.received_at < k.hour + interval '1 hour'
) a
CROSS JOIN LATERAL (
    SELECT count(*)::int AS incidents,
           count(i.acknowledged_at)::int AS acknowledged,
           coalesce(sum(extract(epoch FROM i.acknowledged_at - i.created_at)), 0)::float8 AS ack_seconds,
           count(*) FILTER (WHERE s.response_met_at IS NOT NULL AND NOT {_RESPONSE_BREACHED})::int AS response_met,
           count(*) FILTER (WHERE {_RESPONSE_BREACHED})::int AS response_breached,
           count(*) FILTER (WHERE s.resolution_met_at IS NOT NULL AND NOT {_RESOLUTION_BREACHED})::int
               AS resolution_met,
           count(*) FILTER (WHERE {_RESOLUTION_BREACHED})::int AS resolution_breached
    FROM incidents i LEFT JOIN incident_sla s ON s.incident_id = i.id
    WHERE i.company_id = k.company_id AND i.created_at >= k.hour AND i.created_at < k.hour + interval '1 hour'
) o
CROSS JOIN LATERAL (
    SELECT sum(n)::int AS resolved, sum(secs)::float8 AS resolve_seconds,
           sum(healed)::int AS self_healed, sum(auto)::int AS auto_remediated,
           array_agg(b::smallint ORDER BY b) AS buckets, array_agg(n ORDER BY b) AS counts
    FROM (
        SELECT {_BUCKET_SQL} AS b, count(*)::int AS n, sum(secs) AS secs,
               count(*) FILTER (WHERE auto) AS auto, count(*) FILTER (WHERE healed) AS healed
        FROM (
            SELECT extract(epoch FROM i.resolved_at - i.created_at) AS secs, i.auto_remediated AS auto,
                   i.auto_remediated AND EXISTS (
                       SELECT 1 FROM remediation_executions e WHERE e.incident_id = i.id AND e.held) AS healed
            FROM incidents i
            WHERE i.company_id = k.company_id AND i.resolved_at >= k.hour
              AND i.resolved_at < k.hour + interval '1 hour' AND i.status = 'RESOLVED'
        ) closed
        GROUP BY 1
    ) per_bucket
) r
ON CONFLICT (company_id, hour) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in COLUMNS)}, updated_at = now()
WHERE ({", ".join(f"kpi_hourly.{c}" for c in COLUMNS)})
      IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in COLUMNS)})
RETURNING company_id
"""
# The day histograms of the days of the given hours, from those days' hourly rows.
DAILY = """
INSERT INTO kpi_daily_buckets (company_id, day, resolve_buckets, resolve_bucket_counts)
SELECT d.company_id, d.day, coalesce(h.buckets, '{}'), coalesce(h.counts, '{}')
FROM (SELECT DISTINCT company_id, date_trunc('day', hour, 'UTC') AS day
      FROM unnest($1::uuid[], $2::timestamptz[]) AS k(company_id, hour)
      WHERE EXISTS (SELECT 1 FROM companies c WHERE c.id = k.company_id)) d
CROSS JOIN LATERAL (
    SELECT array_agg(b ORDER BY b) AS buckets, array_agg(n ORDER BY b) AS counts
    FROM (SELECT x.b, sum(x.n)::int AS n
          FROM kpi_hourly k CROSS JOIN LATERAL unnest(k.resolve_buckets, k.resolve_bucket_counts) AS x(b, n)
          WHERE k.company_id = d.company_id AND k.hour >= d.day AND k.hour < d.day + interval '1 day'
          GROUP BY x.b) per_bucket
) h
ON CONFLICT (company_id, day) DO UPDATE SET
    resolve_buckets = excluded.resolve_buckets, resolve_bucket_counts = excluded.resolve_bucket_counts
WHERE (kpi_daily_buckets.resolve_buckets, kpi_daily_buckets.resolve_bucket_counts)
      IS DISTINCT FROM (excluded.resolve_buckets, excluded.resolve_bucket_counts)
"""
CLAIM_DIRTY = """
SELECT company_id, hour FROM kpi_dirty_hours ORDER BY marked_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""
DROP_DIRTY = """
DELETE FROM kpi_dirty_hours d USING unnest($1::uuid[], $2::timestamptz[]) AS k(company_id, hour)
WHERE d.company_id = k.company_id AND d.hour = k.hour
"""
# The current and previous hour's alert counts of every company, written where they differ.
RECOUNT_ALERTS = """
WITH h(hour) AS (VALUES (date_trunc('hour', now(), 'UTC') - interval '1 hour'), (date_trunc('hour', now(), 'UTC'))),
counted AS (
    SELECT c.id AS company_id, h.hour,
           (SELECT count(*) FROM alerts a WHERE a.company_id = c.id
              AND a.received_at >= h.hour AND a.received_at < h.hour + interval '1 hour')::int AS alerts
    FROM companies c CROSS JOIN h WHERE c.deleted_at IS NULL)
INSERT INTO kpi_hourly (company_id, hour, alerts)
SELECT company_id, hour, alerts FROM counted WHERE alerts > 0
ON CONFLICT (company_id, hour) DO UPDATE SET alerts = excluded.alerts, updated_at = now()
WHERE kpi_hourly.alerts <> excluded.alerts
RETURNING company_id
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"


class KpiRollups:
    """The rollup pass (`run_once`), the alert recount (`recount_alerts`) and a backfill (`rebuild`)."""

    def __init__(self, pool: asyncpg.Pool, batch: int = ROLLUP_BATCH) -> None:
        self.pool = pool
        self.batch = batch

    async def run_once(self) -> int:
        """Recompute up to `batch` marked hours; how many were claimed (0 too when another process
        holds the pass)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ROLLUP_LOCK):
                return 0
            rows = await conn.fetch(CLAIM_DIRTY, self.batch)
            if not rows:
                return 0
            companies = [r["company_id"] for r in rows]
            hours = [r["hour"] for r in rows]
            changed = await conn.fetch(RECOMPUTE, companies, hours)
            await conn.execute(DAILY, companies, hours)
            await conn.execute(DROP_DIRTY, companies, hours)
            await _announce(conn, {r["company_id"] for r in changed})
            return len(rows)

    async def recount_alerts(self) -> int:
        """Write the current and previous hours' alert counts that changed; how many rows."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ROLLUP_LOCK):
                return 0
            changed = await conn.fetch(RECOUNT_ALERTS)
            await _announce(conn, {r["company_id"] for r in changed})
            return len(changed)

    async def rebuild(self, company_id: uuid.UUID, start: datetime, end: datetime) -> int:
        """Recompute every hour of [start, end) of a company at once (a backfill, a repair); the
        number of hours. Waits for a running pass instead of skipping."""
        first = hour_floor(start)
        hours: list[datetime] = []
        while first < end:
            hours.append(first)
            first += HOUR
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", ROLLUP_LOCK)
            for i in range(0, len(hours), 24 * 7):
                chunk = hours[i : i + 24 * 7]
                changed = await conn.fetch(RECOMPUTE, [company_id] * len(chunk), chunk)
                await conn.execute(DAILY, [company_id] * len(chunk), chunk)
                await _announce(conn, {r["company_id"] for r in changed})
        return len(hours)


async def _announce(conn: Conn, companies: set[uuid.UUID]) -> None:
    for company_id in companies:
        await conn.execute(NOTIFY, BusEvent(topic(company_id, KPIS_TOPIC)).to_json())


# ---- patch compliance ----------------------------------------------------------------------------

DUE_COMPANIES = """
SELECT a.company_id, a.auth_type, a.region, a.role_arn, a.external_id_enc, a.access_key_id,
       a.secret_access_key_enc
FROM company_aws_settings a JOIN companies c ON c.id = a.company_id AND c.deleted_at IS NULL
LEFT JOIN patch_refreshes r ON r.company_id = a.company_id
WHERE r.refreshed_at IS NULL OR r.refreshed_at <= $1
ORDER BY r.refreshed_at NULLS FIRST LIMIT $2
"""
_STATE_COLUMNS = (
    "instance_id",
    "baseline_id",
    "patch_group",
    "installed",
    "installed_other",
    "installed_pending_reboot",
    "installed_rejected",
    "missing",
    "failed",
    "not_applicable",
    "operation",
    "operation_end_time",
)
UPSERT_STATE = f"""
INSERT INTO patch_states (company_id, {", ".join(_STATE_COLUMNS)}, refreshed_at)
VALUES ($1, {", ".join(f"${n}" for n in range(2, 2 + len(_STATE_COLUMNS)))}, ${2 + len(_STATE_COLUMNS)})
ON CONFLICT (company_id, instance_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS[1:])}, refreshed_at = excluded.refreshed_at
"""
DROP_GONE = "DELETE FROM patch_states WHERE company_id = $1 AND NOT (instance_id = ANY($2::text[]))"
REFRESHED = """
INSERT INTO patch_refreshes (company_id, refreshed_at, instances, error) VALUES ($1, $2, $3, $4)
ON CONFLICT (company_id) DO UPDATE SET refreshed_at = excluded.refreshed_at,
    instances = CASE WHEN excluded.error IS NULL THEN excluded.instances ELSE patch_refreshes.instances END,
    error = excluded.error
"""


async def store_patch_states(
    conn: Conn, company_id: uuid.UUID, states: Sequence[InstancePatchState], now: datetime
) -> None:
    """Replace a company's stored patch states with `states` (one transaction: all or none)."""
    async with conn.transaction():
        await conn.execute(DROP_GONE, company_id, [s.instance_id for s in states])
        await conn.executemany(
            UPSERT_STATE, [(company_id, *(getattr(s, c) for c in _STATE_COLUMNS), now) for s in states]
        )
        await conn.execute(REFRESHED, company_id, now, len(states), None)
        await _announce(conn, {company_id})


PatchSource = Callable[[uuid.UUID, Any], Any]  # (company id, AwsAccess) -> .patch_states() coroutine


class PatchRefresh:
    """The periodic read of every company's patch states from SSM: one process at a time (session
    advisory lock), each company at most every `every` (its `patch_refreshes` row says when it was
    last read, so a restart does not ask again). A company whose call fails keeps its last states;
    the error is stored and it is asked again after `every`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: PatchSource,
        decrypt: Callable[[bytes], str],
        every: timedelta = timedelta(hours=1),
        batch: int = 20,
    ) -> None:
        self.pool = pool
        self.source = source
        self.decrypt = decrypt
        self.every = every
        self.batch = batch

    async def run_once(self, now: datetime) -> int:
        """Refresh the companies that are due; how many were asked (0 if another process runs it)."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PATCH_LOCK):
                return 0
            try:
                due = await conn.fetch(DUE_COMPANIES, now - self.every, self.batch)
                for row in due:
                    company_id = row["company_id"]
                    try:
                        access = access_of_row(row, self.decrypt)
                        states = await self.source(company_id, access).patch_states()
                    except AwsError as exc:
                        await conn.execute(REFRESHED, company_id, now, 0, f"{exc.code}: {exc}"[:2000])
                        continue
                    except Exception as exc:
                        log.exception("patch states of company %s not read", company_id)
                        await conn.execute(REFRESHED, company_id, now, 0, f"{type(exc).__name__}"[:2000])
                        continue
                    await store_patch_states(conn, company_id, states, now)
                return len(due)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", PATCH_LOCK)
