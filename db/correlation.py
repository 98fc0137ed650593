"""The correlation worker's database side: claim stored alerts, correlate, write back, announce.

One batch is one transaction: take the batch lock (one batch at a time across every worker process,
so alerts are correlated in the order they were stored: a resolve is never applied before the alert
it resolves because two replicas raced), claim up to N uncorrelated alerts (`FOR UPDATE SKIP
LOCKED`), resolve their assets (creating discovered ones), lock the latest incident per correlation
key, run the pure rules in `domain.correlation`, and write everything back in one set-based
statement that also announces the changed incidents (`pg_notify`, one per company and up to
CHANGES_PER_NOTIFY changes). A crash anywhere rolls the whole batch back: the alerts are claimed
again and nothing is counted twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from db.events import BusEvent, topic
from domain.alerts import Category, Severity
from domain.correlation import (
    AssetMention,
    CorrelationResult,
    CorrelationSettings,
    IncidentChange,
    IncidentState,
    PendingAlert,
    correlate,
    discovered_assets,
    exempt_for_maintenance,
    pending_alert,
)
from domain.ids import uuid7
from domain.incidents import CORRELATION_ACTOR, IncidentStatus
from domain.maintenance import MaintenanceWindow, Recurrence
from domain.signatures import alias_rules

if TYPE_CHECKING:
    from db.pool import Conn

log = logging.getLogger(__name__)

CHANGES_PER_NOTIFY = 100  # [incident id, kind] pairs per NOTIFY: about 5 kB, under the 8000-byte limit

# The claim also brings what the rules need about each alert, so a batch starts with one round trip:
# its asset by name, its company's settings (and whether the company has a maintenance window near the
# batch), and for a resolve message the open incident that carries its fingerprint. That last lookup
# goes through the open alerts with the fingerprint (`ix_alerts_open_fingerprint`, a b-tree that
# stays small: entries leave it as alerts close) instead of a GIN index over the incidents'
# fingerprint arrays, which every incident update rewrote and which slowed as it bloated. Every
# fingerprint active on an incident has an open alert there (a resolve closes both, and so do
# auto-resolve and a technician's resolve); the array check keeps the answer exactly the same.
# No `incident_id IS NOT NULL` in the alert scan: with it, `ix_alerts_open_by_incident` would match
# too, and the planner sometimes scans all of that one for the fingerprint.
CLAIM_TEMPLATE = """
WITH claimed AS MATERIALIZED (
    SELECT id, company_id, asset_name, asset_ref, signature, severity, category, tool, event_time, status, fingerprint
    FROM alerts WHERE correlated_at IS NULL AND {companies}
    ORDER BY id LIMIT {limit} FOR UPDATE SKIP LOCKED
), company AS MATERIALIZED (
    SELECT k.company_id, c.correlation_window_minutes, c.flap_threshold, c.flap_window_minutes,
           c.auto_resolve_minutes, c.auto_resolve_tools,
           EXISTS (
               SELECT FROM maintenance_windows w
               WHERE w.company_id = k.company_id
                 AND (w.recurrence IS NOT NULL OR (w.starts_at <= k.latest AND w.ends_at > k.earliest))
           ) AS has_windows,
           EXISTS (SELECT FROM signature_aliases g WHERE g.company_id = k.company_id) AS has_aliases
    FROM (SELECT company_id, min(event_time) AS earliest, max(event_time) AS latest FROM claimed GROUP BY company_id) k
    LEFT JOIN companies c ON c.id = k.company_id
)
SELECT a.id, a.company_id, a.asset_name, a.asset_ref, a.signature, a.severity, a.category, a.tool, a.event_time,
       a.status, a.fingerprint, s.id AS asset_id, s.is_critical,
       m.correlation_key AS match_key, m.asset_id AS match_asset_id, m.critical_asset AS match_critical,
       co.correlation_window_minutes, co.flap_threshold, co.flap_window_minutes, co.auto_resolve_minutes,
       co.auto_resolve_tools, co.has_windows, co.has_aliases
FROM claimed a
JOIN company co ON co.company_id = a.company_id
LEFT JOIN LATERAL (
    SELECT s.id, s.is_critical FROM assets s
    WHERE s.company_id = a.company_id AND lower(s.name) = lower(a.asset_name)
    LIMIT 1  -- one per (company, lower(name)) anyway; it keeps this an index probe per alert
) s ON true
LEFT JOIN LATERAL (
    SELECT i.correlation_key, i.asset_id, i.critical_asset
    FROM (
        SELECT DISTINCT x.incident_id FROM alerts x
        WHERE a.status = 'resolved' AND x.company_id = a.company_id AND x.fingerprint = a.fingerprint
          AND x.status = 'firing' AND x.resolved_at IS NULL
        OFFSET 0
    ) x
    JOIN incidents i ON i.id = x.incident_id
    WHERE i.status <> 'RESOLVED' AND a.fingerprint = ANY(i.active_fingerprints)
    ORDER BY i.last_alert_at DESC LIMIT 1
) m ON true
"""
# A company's alias rules are read once per batch, and only for the companies of the batch that have any
# (`has_aliases` in the claim): most have none, and their batches pay nothing for the feature.
ALIASES = "SELECT company_id, canonical, problems FROM signature_aliases WHERE company_id = ANY($1::uuid[])"
WINDOWS = """
SELECT id, company_id, starts_at, ends_at, recurrence, asset_names, signatures
FROM maintenance_windows
WHERE company_id = ANY($1::uuid[]) AND (recurrence IS NOT NULL OR (starts_at <= $3 AND ends_at > $2))
"""
ASSETS_BY_NAME = """
SELECT k.company_id, k.name, a.id, a.is_critical
FROM unnest($1::uuid[], $2::text[]) k(company_id, name)
JOIN assets a ON a.company_id = k.company_id AND lower(a.name) = lower(k.name)
"""
ASSETS_BY_REF = """
SELECT k.company_id, k.ref, a.id, a.is_critical
FROM unnest($1::uuid[], $2::text[]) k(company_id, ref)
JOIN assets a ON a.company_id = k.company_id AND a.external_id = k.ref
"""
CREATE_DISCOVERED = """
INSERT INTO assets (id, company_id, name, external_id, discovered, type)
SELECT id, company_id, name, external_id, true, 'other'
FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::varchar[]) k(id, company_id, name, external_id)
ON CONFLICT DO NOTHING
"""
# One correlation batch at a time in the database, whichever process runs it. Without it two replicas
# claimed consecutive batches at once, and when a fire and its resolve fell into different batches the
# later batch could commit first: the resolve found nothing open, then the fire opened an incident
# that stayed open. Taken before the claim, so every batch sees its predecessors committed (and the
# claim's row locks re-check rows they updated). The two-key form is a lock space of its own, apart
# from single-key advisory locks.
BATCH_LOCK = "SELECT pg_advisory_xact_lock(hashtext('alertwhisperer:correlation'), 0)"
INCIDENT_FIELDS = (
    "id",
    "company_id",
    "correlation_key",
    "asset_id",
    "asset_name",
    "signature",
    "status",
    "severity",
    "category",
    "alert_count",
    "duplicate_count",
    "tool_sources",
    "active_fingerprints",
    "flap_times",
    "flapping",
    "critical_asset",
    "first_alert_at",
    "last_alert_at",
    "resolved_at",
    "created_at",
    "signatures",
    "canonical_signature",
)
# One backward index step per key (`ix_incidents_key_latest`), however many incidents the key has had,
# finding each key's latest incident; then those rows are read and locked in id order (LockRows sits
# above the sort). The reactions lock an incident batch in id order too (`db.reactions.ReactionRunner`),
# so the worker and a reaction holding some of the same incidents wait for each other instead of
# deadlocking (bench/README.md, 2026-12-07). The rows are read by `id = ANY(ARRAY(...))`, an index
# condition on the primary key: an earlier join back to `incidents` by id let a generic plan made while
# the table looked empty scan the whole table once per key (checked by
# test_the_worker_replans_as_its_tables_grow_from_empty_and_looks_rows_up_by_key).
LATEST_INCIDENTS = f"""
SELECT {", ".join(INCIDENT_FIELDS)} FROM incidents
WHERE id = ANY(ARRAY(
    SELECT l.id
    FROM unnest($1::uuid[], $2::varchar[]) k(company_id, key)
    CROSS JOIN LATERAL (
        SELECT id FROM incidents
        WHERE company_id = k.company_id AND correlation_key = k.key
        ORDER BY last_alert_at DESC LIMIT 1
    ) l
))
ORDER BY id
FOR UPDATE
"""
# Incident changes are written by set-based statements: one row per change in `k` and per timeline
# event in `e`, each set sent as one JSON document (`json_to_recordset`, which also turns JSON arrays
# into the array columns). Encoding one parameter array per column was a third of the worker's CPU;
# Postgres parses the JSON for a little more than it decoded the arrays (the worker's batches ran as
# fast or faster). Ingest keeps its arrays: there Postgres is what runs out first.
_INCIDENT_COLUMNS = {
    "id": "uuid",
    "company_id": "uuid",
    "created": "bool",
    "change_kind": "varchar",
    "outbox": "bool",
    "actor": "varchar",
    "before_status": "varchar",
    "before_severity": "varchar",
    "correlation_key": "varchar",
    "asset_id": "uuid",
    "asset_name": "varchar",
    "signature": "varchar",
    "status": "varchar",
    "severity": "varchar",
    "category": "varchar",
    "alert_count": "int",
    "duplicate_count": "int",
    "tool_sources": "varchar[]",
    "active_fingerprints": "varchar[]",
    "flap_times": "timestamptz[]",
    "flapping": "bool",
    "critical_asset": "bool",
    "first_alert_at": "timestamptz",
    "last_alert_at": "timestamptz",
    "resolved_at": "timestamptz",
    "created_at": "timestamptz",
    "signatures": "varchar[]",
    "canonical_signature": "varchar",
}
_EVENT_COLUMNS = {
    "company_id": "uuid",
    "incident_id": "uuid",
    "kind": "varchar",
    "at": "timestamptz",
    "alert_id": "uuid",
    "data": "jsonb",
}
_OUTCOME_COLUMNS = {
    "id": "uuid",
    "incident_id": "uuid",
    "duplicate": "bool",
    "asset_id": "uuid",
    "resolved_at": "timestamptz",
    "suppressed_by": "uuid",
}


def _recordset(param: str, alias: str, columns: dict[str, str]) -> str:
    """Rows `alias(columns...)` from the JSON array of objects in parameter `param`."""
    return f"json_to_recordset({param}::json) AS {alias}({', '.join(f'{c} {t}' for c, t in columns.items())})"


# What an update of an existing incident rewrites (its identity, key and creation stay).
_UPDATED = [
    c
    for c in _INCIDENT_COLUMNS
    if c
    not in (
        "id",
        "company_id",
        "created",
        "change_kind",
        "outbox",
        "actor",
        "before_status",
        "before_severity",
        "correlation_key",
        "asset_id",
        "asset_name",
        "signature",
        "created_at",
        # Set when the incident opens; a change of the company's aliases re-keys open incidents itself.
        "canonical_signature",
    )
]
# Columns of `k` that are not incident columns: what the change goes into the outbox as, if at all.
_CHANGE_ONLY = {"created", "change_kind", "outbox", "actor", "before_status", "before_severity"}
_INSERTED = [c for c in _INCIDENT_COLUMNS if c not in _CHANGE_ONLY]
_CHANGES = f"""
k AS (
    SELECT * FROM {_recordset("$1", "k", _INCIDENT_COLUMNS)}
), inserted AS (
    INSERT INTO incidents ({", ".join(_INSERTED)}, updated_at)
    SELECT {", ".join(_INSERTED)}, now()
    FROM k WHERE created
    RETURNING id, version
), updated AS (
    UPDATE incidents i SET {", ".join(f"{c} = k.{c}" for c in _UPDATED)}, version = i.version + 1, updated_at = now()
    FROM k WHERE i.id = k.id AND NOT k.created
    RETURNING i.id, i.version
), outbox AS (
    INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,
                                  before_severity, after_severity, actor)
    SELECT k.company_id, k.id, x.version, k.change_kind, k.before_status, k.status, k.before_severity, k.severity,
           k.actor
    FROM k JOIN (SELECT id, version FROM inserted UNION ALL SELECT id, version FROM updated) x ON x.id = k.id
    WHERE k.outbox
), events AS (
    INSERT INTO incident_events ({", ".join(_EVENT_COLUMNS)})
    SELECT {", ".join(_EVENT_COLUMNS)} FROM {_recordset("$2", "e", _EVENT_COLUMNS)}
)"""
_ANNOUNCE = "SELECT count(pg_notify('aw_events', x)) FROM unnest($3::text[]) x"
WRITE_CHANGES = f"WITH {_CHANGES}\n{_ANNOUNCE}"
# The whole write-back of a batch is one statement. Its parts see one snapshot, in which this batch's
# alerts are still uncorrelated: closing the earlier alerts of a resolved fingerprint
# (`correlated_at IS NOT NULL`) and recording this batch's outcomes touch disjoint rows.
# OFFSET 0 keeps the planner doing one index lookup per (incident, fingerprint) instead of hashing
# every open alert (it underestimates the key list).
WRITE_BATCH = f"""WITH {_CHANGES}, resolved_earlier AS (
    UPDATE alerts a SET resolved_at = r.at
    FROM unnest($4::uuid[], $5::varchar[], $6::timestamptz[]) r(incident_id, fingerprint, at)
    CROSS JOIN LATERAL (
        SELECT x.id FROM alerts x
        WHERE x.incident_id = r.incident_id AND x.fingerprint = r.fingerprint AND x.status = 'firing'
          AND x.resolved_at IS NULL AND x.correlated_at IS NOT NULL
        OFFSET 0
    ) x
    WHERE a.id = x.id
), outcomes AS (
    UPDATE alerts a SET correlated_at = now(), {", ".join(f"{c} = o.{c}" for c in _OUTCOME_COLUMNS if c != "id")}
    FROM {_recordset("$7", "o", _OUTCOME_COLUMNS)}
    WHERE a.id = o.id
)
{_ANNOUNCE}"""
# Enum lookups by value through a dict: calling the enum class costs more than the rest of the row.
SEVERITY_BY_VALUE = {s.value: s for s in Severity}
_CATEGORY = {c.value: c for c in Category}
_STATUS = {s.value: s for s in IncidentStatus}


def settings_from_row(row: Any) -> CorrelationSettings:
    if row["correlation_window_minutes"] is None:  # the company is gone (its alerts go with it)
        return CorrelationSettings()
    return CorrelationSettings.from_minutes(
        window_minutes=row["correlation_window_minutes"],
        flap_threshold=row["flap_threshold"],
        flap_window_minutes=row["flap_window_minutes"],
        auto_resolve_minutes=row["auto_resolve_minutes"],
        auto_resolve_tools=row["auto_resolve_tools"] or (),
    )


def window_from_row(row: Any) -> MaintenanceWindow:
    rec = row["recurrence"]
    if isinstance(rec, str):
        rec = orjson.loads(rec)
    # A JSON `null` (how one-off windows were stored before migration 0010) is a one-off window too.
    recurrence = Recurrence.from_dict(rec) if rec else None
    return MaintenanceWindow(
        id=row["id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        recurrence=recurrence,
        asset_names=frozenset(row["asset_names"] or ()),
        signatures=frozenset(row["signatures"] or ()),
    )


def state_from_row(row: Any) -> IncidentState:
    return IncidentState(
        id=row["id"],
        key=row["correlation_key"],
        asset_id=row["asset_id"],
        asset_name=row["asset_name"],
        signature=row["signature"],
        status=_STATUS[row["status"]],
        severity=SEVERITY_BY_VALUE[row["severity"]],
        category=_CATEGORY.get(row["category"]) or Category(row["category"]),
        alert_count=row["alert_count"],
        duplicate_count=row["duplicate_count"],
        tool_sources=set(row["tool_sources"] or ()),
        first_alert_at=row["first_alert_at"],
        last_alert_at=row["last_alert_at"],
        resolved_at=row["resolved_at"],
        active_fingerprints=set(row["active_fingerprints"] or ()),
        flap_times=list(row["flap_times"] or ()),
        flapping=row["flapping"],
        critical_asset=row["critical_asset"],
        created_at=row["created_at"],
        # Incidents from before migration 0035 have no list: their one signature is it.
        signatures=list(row["signatures"] or (row["signature"],)),
        canonical_signature=row["canonical_signature"] or "",
    )


@dataclass
class BatchStats:
    alerts: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0
    suppressed: int = 0


# Every statement of a batch looks rows up by key: at most `batch_size` keys into tables that only
# grow. The worker's connection keeps generic plans (the arrays' lengths change batch to batch, and
# planning the claim, the incident lookup and the write-back anew for each batch would delay every
# incident event under a steady flow of small batches), and turns off sequential scans, hash and
# merge joins, so a plan is made of index lookups per key wherever the statement allows one (where it
# has no other way, Postgres still uses them).
# A generic plan is made for the table sizes of its moment and kept until an ANALYZE of one of its
# tables: one made while a table is young (a new install) reads the whole table per batch, or once per
# key, and gets slower as the table grows until autovacuum's first ANALYZE. So the worker also drops
# its plans (`DISCARD PLANS`, in the round trip of the batch lock) each time it has correlated twice
# as many alerts as at its last re-plan (from REPLAN_MIN_ALERTS on), and at least every
# REPLAN_SECONDS. The measurements behind both choices are in bench/README.md.
PREPARE_CONNECTION = (
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET enable_hashjoin = off; "
    "SET enable_mergejoin = off; SET application_name = 'alertwhisperer-correlation'"
)
REPLAN_MIN_ALERTS = 1000
REPLAN_SECONDS = 60.0


# A batch that fails on one company's data (a rule that raises, a row the rules cannot read) must not
# hold back the other companies: the worker then correlates the batch's companies one by one, and a
# company whose own batch still fails is quarantined (its alerts wait, in order, and are retried after
# a back-off) while everybody else's go on. Errors of the connection or the server are not about one
# company's data: they are raised, and the loop retries the whole batch.
QUARANTINE_FIRST_RETRY = timedelta(seconds=30)
QUARANTINE_MAX_RETRY = timedelta(minutes=5)
QUARANTINE_REFRESH_SECONDS = 5.0
QUARANTINED = "SELECT company_id, retry_at FROM correlation_quarantine"
QUARANTINE = """
INSERT INTO correlation_quarantine AS q (company_id, error, retry_at) VALUES ($1, $2, now() + $3::interval)
ON CONFLICT (company_id) DO UPDATE SET
    error = EXCLUDED.error, failures = q.failures + 1, failed_at = now(),
    retry_at = now() + least($3::interval * power(2, q.failures), $4::interval)
RETURNING retry_at
"""
RELEASE_QUARANTINE = "DELETE FROM correlation_quarantine WHERE company_id = ANY($1::uuid[])"
PENDING_COMPANIES = """
SELECT DISTINCT company_id FROM (
    SELECT company_id FROM alerts WHERE correlated_at IS NULL AND company_id <> ALL($1::uuid[])
    ORDER BY id LIMIT {limit}
) p
"""
_SYSTEMIC_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    OSError,
    TimeoutError,
)


# A deadlock or a serialization failure is two transactions' timing, not a company's data: the worker's
# incident locks (LATEST_INCIDENTS, many rows in one statement) meet a reaction's (`incident_writer`, one
# incident at a time in its batch). Measured on a fresh database (bench/README.md, 2026-12-07): treated
# as a data error, the deadlocked batch was isolated, deadlocked again and the bench's one company was
# quarantined for 30 s, then 60 s, with every alert waiting (phase (e): 287-487 alerts/s, not ~3,000).
# The victim's transaction is rolled back and the other one goes on, so the batch is run again at once,
# up to TRANSIENT_RETRIES times; after that it is raised like the server's errors (the loop backs off).
_TRANSIENT_ERRORS = (asyncpg.exceptions.TransactionRollbackError,)
TRANSIENT_RETRIES = 3


def _systemic(exc: BaseException, conn: Conn) -> bool:
    """Whether a failed batch failed for reasons no company's data caused (so isolating would not help)."""
    if isinstance(exc, _SYSTEMIC_ERRORS + _TRANSIENT_ERRORS):
        return True
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class CorrelationWorker:
    def __init__(
        self, pool: asyncpg.Pool, batch_size: int = 1000, replan_min_alerts: int = REPLAN_MIN_ALERTS
    ) -> None:
        self.pool = pool
        self.batch_size = batch_size
        # The batch size is part of the text (not a parameter) so the generic plan knows it.
        self._claim = CLAIM_TEMPLATE.format(limit=int(batch_size), companies="company_id <> ALL($1::uuid[])")
        self._claim_company = CLAIM_TEMPLATE.format(limit=int(batch_size), companies="company_id = $1")
        self._pending_companies = PENDING_COMPANIES.format(limit=int(batch_size))
        self._replan_min = replan_min_alerts
        self._correlated = 0  # alerts claimed by this worker
        self._replan_at = replan_min_alerts
        self._replan_deadline = time.monotonic() + REPLAN_SECONDS
        # A copy of `correlation_quarantine` (the table is the truth; another worker may add to it, and
        # the cost of a stale copy is one failed batch that isolates the company again).
        self._quarantine: dict[uuid.UUID, datetime] = {}
        self._quarantine_read_at = -QUARANTINE_REFRESH_SECONDS

    @staticmethod
    async def prepare(conn: Conn) -> None:
        """Make `conn` a worker connection (for a worker that keeps its own, see `correlation_loop`)."""
        await conn.execute(PREPARE_CONNECTION)

    async def run_once(self, now: datetime | None = None, conn: Conn | None = None) -> BatchStats:
        """Correlate one batch; returns what it did (alerts == 0 means nothing was waiting).

        `conn` is a connection set up by `prepare` and kept between batches; without one, a pooled
        connection is set up for this batch (the pool undoes the setting on release). A batch that fails
        on some company's data is retried company by company, and the companies that still fail are
        quarantined (see QUARANTINE_FIRST_RETRY); only errors of the connection or server are raised.
        """
        if conn is None:
            async with self.pool.acquire() as pooled:
                await self.prepare(pooled)
                return await self.run_once(now, pooled)
        at = now or datetime.now(UTC)
        await self._read_quarantine(conn)
        retries = 0
        while True:
            try:
                async with conn.transaction():
                    return await self._batch(conn, at)
            except _TRANSIENT_ERRORS as exc:
                if retries == TRANSIENT_RETRIES:
                    raise
                retries += 1
                log.info("correlation batch rolled back (%s); running it again", type(exc).__name__)
            except Exception as exc:
                if _systemic(exc, conn):
                    raise
                log.warning("correlation batch failed; correlating its companies one by one", exc_info=True)
                return await self._isolate(conn, at)

    def _held_back(self) -> list[uuid.UUID]:
        wall = datetime.now(UTC)
        return [cid for cid, retry_at in self._quarantine.items() if retry_at > wall]

    async def _read_quarantine(self, conn: Conn) -> None:
        if time.monotonic() - self._quarantine_read_at < QUARANTINE_REFRESH_SECONDS:
            return
        self._quarantine = {r["company_id"]: r["retry_at"] for r in await conn.fetch(QUARANTINED)}
        self._quarantine_read_at = time.monotonic()

    async def _isolate(self, conn: Conn, now: datetime) -> BatchStats:
        """One batch per company of the failed batch; a company whose batch fails is quarantined."""
        async with conn.transaction():
            await conn.execute(BATCH_LOCK)
            companies = [r[0] for r in await conn.fetch(self._pending_companies, self._held_back())]
        total = BatchStats()
        for cid in companies:
            try:
                async with conn.transaction():
                    stats = await self._batch(conn, now, cid)
            except Exception as exc:
                if _systemic(exc, conn):
                    raise
                retry_at = await conn.fetchval(
                    QUARANTINE, cid, _error_text(exc), QUARANTINE_FIRST_RETRY, QUARANTINE_MAX_RETRY
                )
                self._quarantine[cid] = retry_at
                log.error(
                    "correlation failed on a company's alerts; they wait while the others go on",
                    exc_info=exc,
                    extra={"company_id": str(cid), "retry_at": retry_at.isoformat()},
                )
                continue
            total.alerts += stats.alerts
            total.incidents_created += stats.incidents_created
            total.incidents_updated += stats.incidents_updated
            total.suppressed += stats.suppressed
        return total

    def _lock_statement(self) -> str:
        """The batch lock, preceded by `DISCARD PLANS` when the connection's plans are due to be remade."""
        if self._correlated < self._replan_at and time.monotonic() < self._replan_deadline:
            return BATCH_LOCK
        self._replan_at = max(2 * self._correlated, self._replan_min)
        self._replan_deadline = time.monotonic() + REPLAN_SECONDS
        return "DISCARD PLANS; " + BATCH_LOCK

    async def _batch(self, conn: Conn, now: datetime, company: uuid.UUID | None = None) -> BatchStats:
        """One batch in the caller's transaction: the oldest waiting alerts of every company not held
        back, or of `company` only."""
        await conn.execute(self._lock_statement())
        if company is None:
            rows = await conn.fetch(self._claim, self._held_back())
        else:
            rows = await conn.fetch(self._claim_company, company)
        self._correlated += len(rows)
        stats = BatchStats(alerts=len(rows))
        if not rows:
            return stats
        settings: dict[uuid.UUID, CorrelationSettings] = {}
        window_companies = set()
        alias_companies = []
        for r in rows:
            cid = r["company_id"]
            if cid not in settings:
                settings[cid] = settings_from_row(r)
                if r["has_windows"]:
                    window_companies.add(cid)
                if r["has_aliases"]:
                    alias_companies.append(cid)
        aliases: dict[uuid.UUID, dict[str, str]] = {}
        if alias_companies:
            groups: dict[uuid.UUID, list[tuple[str, list[str]]]] = defaultdict(list)
            for g in await conn.fetch(ALIASES, alias_companies):
                groups[g["company_id"]].append((g["canonical"], g["problems"]))
            aliases = {cid: alias_rules(company_groups) for cid, company_groups in groups.items()}
        windows: dict[uuid.UUID, list[MaintenanceWindow]] = defaultdict(list)
        if window_companies:
            earliest = min(r["event_time"] for r in rows)
            latest_time = max(r["event_time"] for r in rows)
            for w in await conn.fetch(WINDOWS, list(window_companies), earliest, latest_time):
                windows[w["company_id"]].append(window_from_row(w))
        assets = await self._assets(conn, rows)

        pending: dict[uuid.UUID, list[PendingAlert]] = defaultdict(list)
        asset_of: dict[uuid.UUID, uuid.UUID | None] = {}
        for r in rows:
            alert_id = r["id"]
            asset_id, critical = assets[alert_id]
            alert = pending_alert(
                alert_id=alert_id,
                asset_name=r["asset_name"],
                signature=r["signature"],
                severity=SEVERITY_BY_VALUE[r["severity"]],
                category=_CATEGORY.get(r["category"]) or Category(r["category"]),
                tool=r["tool"],
                event_time=r["event_time"],
                resolved=r["status"] == "resolved",
                fingerprint=r["fingerprint"],
                asset_id=asset_id,
                critical_asset=critical,
                firing_key=r["match_key"],
                firing_asset_id=r["match_asset_id"],
                firing_critical=r["match_critical"],
                aliases=aliases.get(r["company_id"]),
            )
            asset_of[alert_id] = alert.asset_id
            pending[r["company_id"]].append(alert)
        suppressed: dict[uuid.UUID, uuid.UUID] = {}
        for cid, company_windows in windows.items():
            if cid in pending:
                pending[cid], held = exempt_for_maintenance(pending[cid], company_windows, aliases.get(cid))
                suppressed.update(held)
        stats.suppressed = len(suppressed)

        pairs = list({(cid, a.key) for cid, alerts in pending.items() for a in alerts})
        latest: dict[uuid.UUID, dict[str, IncidentState]] = defaultdict(dict)
        before: dict[uuid.UUID, tuple[str, str]] = {}  # status and severity as loaded, for the outbox
        if pairs:
            for row in await conn.fetch(LATEST_INCIDENTS, [p[0] for p in pairs], [p[1] for p in pairs]):
                latest[row["company_id"]][row["correlation_key"]] = state_from_row(row)
                before[row["id"]] = (row["status"], row["severity"])

        results: dict[uuid.UUID, CorrelationResult] = {}
        for cid, alerts in pending.items():
            results[cid] = correlate(
                alerts, latest[cid], settings.get(cid, CorrelationSettings()), now, uuid7
            )

        await self._write(conn, results, asset_of, suppressed, before, now, stats)
        recovered = [cid for cid in settings if cid in self._quarantine]
        if recovered:  # a quarantined company's retry went through: it is back in the normal batches
            await conn.execute(RELEASE_QUARANTINE, recovered)
            for cid in recovered:
                self._quarantine.pop(cid, None)
            log.info("correlation recovered for quarantined companies", extra={"companies": len(recovered)})
        return stats

    async def _assets(self, conn: Conn, rows: list[Any]) -> dict[uuid.UUID, tuple[uuid.UUID | None, bool]]:
        """Map each alert to (asset id, critical), creating discovered assets for unknown names.

        The claim already matched assets by name. An `asset_ref` equal to one of the company's assets'
        `external_id` wins over the name; only firing alerts that match neither create assets: a
        resolve naming an unknown asset gets (None, False).
        """
        by_ref: dict[tuple[uuid.UUID, str], tuple[uuid.UUID, bool]] = {}
        refs = {(r["company_id"], r["asset_ref"]) for r in rows if r["asset_ref"]}
        if refs:
            for a in await conn.fetch(ASSETS_BY_REF, *map(list, zip(*refs, strict=True))):
                by_ref[(a["company_id"], a["ref"])] = (a["id"], a["is_critical"])
        unknown = set()
        mentions: list[AssetMention] = []
        for r in rows:
            if r["asset_id"] is None and (r["company_id"], r["asset_ref"]) not in by_ref:
                unknown.add((r["company_id"], r["asset_name"]))
                mentions.append(
                    AssetMention(r["company_id"], r["asset_name"], r["asset_ref"], r["status"] == "firing")
                )
        by_name: dict[tuple[uuid.UUID, str], tuple[uuid.UUID | None, bool]] = {}
        discovered = sorted(
            discovered_assets(mentions, uuid7), key=lambda d: (str(d.company_id), d.name.lower())
        )
        if discovered:
            await conn.execute(
                CREATE_DISCOVERED,
                [d.id for d in discovered],
                [d.company_id for d in discovered],
                [d.name for d in discovered],
                [d.external_id for d in discovered],
            )
            for a in await conn.fetch(ASSETS_BY_NAME, *map(list, zip(*unknown, strict=True))):
                by_name[(a["company_id"], a["name"])] = (a["id"], a["is_critical"])
        out: dict[uuid.UUID, tuple[uuid.UUID | None, bool]] = {}
        for r in rows:
            by_id = by_ref.get((r["company_id"], r["asset_ref"]))
            if by_id is not None:
                out[r["id"]] = by_id
            elif r["asset_id"] is not None:
                out[r["id"]] = (r["asset_id"], r["is_critical"])
            else:
                out[r["id"]] = by_name.get((r["company_id"], r["asset_name"]), (None, False))
        return out

    async def _write(
        self,
        conn: Conn,
        results: dict[uuid.UUID, CorrelationResult],
        asset_of: dict[uuid.UUID, uuid.UUID | None],
        suppressed: dict[uuid.UUID, uuid.UUID],
        before: dict[uuid.UUID, tuple[str, str]],
        now: datetime,
        stats: BatchStats,
    ) -> None:
        changes = [(cid, ch) for cid, res in results.items() for ch in res.changes]
        stats.incidents_created = sum(1 for _, ch in changes if ch.created)
        stats.incidents_updated = len(changes) - stats.incidents_created

        resolved: list[list[Any]] = [[], [], []]
        for res in results.values():
            for (iid, fp), at in res.resolved_fingerprints.items():
                resolved[0].append(iid)
                resolved[1].append(fp)
                resolved[2].append(at)

        outcomes: list[dict[str, Any]] = []
        for res in results.values():
            for o in res.outcomes:
                outcomes.append(
                    {
                        "id": o.alert_id,
                        "incident_id": o.incident_id,
                        "duplicate": o.duplicate,
                        "asset_id": asset_of[o.alert_id],
                        "resolved_at": o.resolved_at,
                        "suppressed_by": None,
                    }
                )
        for alert_id, window_id in suppressed.items():
            outcomes.append(
                {
                    "id": alert_id,
                    "incident_id": None,
                    "duplicate": False,
                    "asset_id": asset_of[alert_id],
                    "resolved_at": None,
                    "suppressed_by": window_id,
                }
            )
        await conn.execute(WRITE_BATCH, *_change_params(changes, now, before), *resolved, _json(outcomes))


def _change_params(
    changes: list[tuple[uuid.UUID, IncidentChange]],
    now: datetime,
    before: dict[uuid.UUID, tuple[str, str]],
    actor: str = CORRELATION_ACTOR,
) -> list[Any]:
    """The 3 parameters of `_CHANGES` + `_ANNOUNCE`: incident rows and timeline events (JSON documents),
    and the notifications.

    A change goes into the outbox when it opened the incident, changed its status or severity, or
    added to its timeline; a repeat that only bumps counters does not."""
    incidents: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    announced: dict[uuid.UUID, list[tuple[str, str]]] = defaultdict(list)
    for cid, ch in changes:
        s = ch.state
        status, severity = s.status.value, s.severity.value
        was_status, was_severity = (None, None) if ch.created else before[s.id]
        incidents.append(
            {
                "id": s.id,
                "company_id": cid,
                "created": ch.created,
                "change_kind": ch.kind.value,
                "outbox": ch.created or bool(ch.events) or was_status != status or was_severity != severity,
                "actor": actor,
                "before_status": was_status,
                "before_severity": was_severity,
                "correlation_key": s.key,
                "asset_id": s.asset_id,
                "asset_name": s.asset_name,
                "signature": s.signature,
                "status": status,
                "severity": severity,
                "category": s.category.value,
                "alert_count": s.alert_count,
                "duplicate_count": s.duplicate_count,
                "tool_sources": sorted(s.tool_sources),
                "active_fingerprints": sorted(s.active_fingerprints),
                "flap_times": s.flap_times,
                "flapping": s.flapping,
                "critical_asset": s.critical_asset,
                "first_alert_at": s.first_alert_at,
                "last_alert_at": s.last_alert_at,
                "resolved_at": s.resolved_at,
                "created_at": s.created_at,
                "signatures": s.signatures,
                "canonical_signature": s.canonical_signature or None,
            }
        )
        for e in ch.events:
            events.append(
                {
                    "company_id": cid,
                    "incident_id": s.id,
                    "kind": e.kind.value,
                    "at": e.at,
                    "alert_id": e.alert_id,
                    "data": e.data,
                }
            )
        announced[cid].append((str(s.id), ch.kind.value))
    notes = []
    for cid, items in announced.items():
        for start in range(0, len(items), CHANGES_PER_NOTIFY):
            chunk = tuple(items[start : start + CHANGES_PER_NOTIFY])
            notes.append(BusEvent(topic(cid, "incidents"), changes=chunk).to_json())
    return [_json(incidents), _json(events), notes]


def _uuid_text(value: Any) -> str:
    """orjson's fallback: ids read from the database are asyncpg's own UUID subclass, which it does not know."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_uuid_text).decode()


async def write_incident_changes(
    conn: Conn,
    changes: list[tuple[uuid.UUID, IncidentChange]],
    now: datetime,
    before: dict[uuid.UUID, tuple[str, str]],
    actor: str = CORRELATION_ACTOR,
) -> None:
    """Insert or update incidents, append their timeline events and announce them: one NOTIFY per
    company and up to CHANGES_PER_NOTIFY changes (every NOTIFY wakes every listening backend)."""
    if changes:
        await conn.execute(WRITE_CHANGES, *_change_params(changes, now, before, actor))
