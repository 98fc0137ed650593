"""The correlation worker's database side: claim stored alerts, correlate, write back, announce.

One batch is one transaction: claim up to N uncorrelated alerts (`FOR UPDATE SKIP LOCKED`), resolve
their assets (creating discovered ones), take an advisory lock per correlation key (so two workers
never open two incidents for one key), lock the latest incident per key, run the pure rules in
`domain.correlation`, and write everything back in a handful of set-based statements with a
`pg_notify` per changed incident. A crash anywhere rolls the whole batch back: the alerts are
claimed again and nothing is counted twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from db.events import topic
from domain.alerts import Category, Severity
from domain.correlation import (
    CorrelationResult,
    CorrelationSettings,
    IncidentChange,
    IncidentState,
    PendingAlert,
    auto_resolve,
    correlate,
    correlation_key,
    due_for_auto_resolve,
)
from domain.ids import uuid7
from domain.incidents import IncidentStatus
from domain.maintenance import MaintenanceWindow, Recurrence, RecurrenceFrequency, suppressing_window
from domain.priority import priority_score

log = logging.getLogger(__name__)

CLAIM = """
SELECT id, company_id, asset_name, asset_ref, signature, severity, category, tool, event_time, status, fingerprint
FROM alerts WHERE correlated_at IS NULL
ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
SETTINGS = """
SELECT id, correlation_window_minutes, flap_threshold, flap_window_minutes, auto_resolve_minutes, auto_resolve_tools
FROM companies WHERE id = ANY($1::uuid[])
"""
WINDOWS = """
SELECT id, company_id, starts_at, ends_at, recurrence, asset_names, signatures
FROM maintenance_windows
WHERE company_id = ANY($1::uuid[]) AND (recurrence IS NOT NULL OR (starts_at <= $3 AND ends_at > $2))
"""
ASSETS_BY_NAME = """
SELECT a.id, a.company_id, lower(a.name), a.is_critical
FROM assets a JOIN unnest($1::uuid[], $2::text[]) k(company_id, lname)
  ON a.company_id = k.company_id AND lower(a.name) = k.lname
"""
ASSETS_BY_ID = "SELECT id, company_id, lower(name), is_critical FROM assets WHERE id = ANY($1::uuid[])"
CREATE_DISCOVERED = """
INSERT INTO assets (id, company_id, name, discovered, type)
SELECT id, company_id, name, true, 'other' FROM unnest($1::uuid[], $2::uuid[], $3::varchar[]) k(id, company_id, name)
ON CONFLICT DO NOTHING
"""
OPEN_BY_FINGERPRINT = """
SELECT DISTINCT ON (i.company_id, f.fp) i.company_id, f.fp AS fingerprint, i.correlation_key, i.asset_id,
       i.critical_asset
FROM incidents i
CROSS JOIN LATERAL unnest(i.active_fingerprints) f(fp)
JOIN unnest($1::uuid[], $2::varchar[]) k(company_id, fingerprint) ON k.company_id = i.company_id AND k.fingerprint = f.fp
WHERE i.active_fingerprints && $2::varchar[] AND i.status <> 'RESOLVED'
ORDER BY i.company_id, f.fp, i.last_alert_at DESC
"""
LOCK_KEYS = "SELECT pg_advisory_xact_lock(hashtextextended(x, 0)) FROM unnest($1::text[]) x"
_INCIDENT_FIELDS = (
    "id", "company_id", "correlation_key", "asset_id", "asset_name", "signature", "status", "severity", "category",
    "alert_count", "duplicate_count", "tool_sources", "active_fingerprints", "flap_times", "flapping",
    "critical_asset", "first_alert_at", "last_alert_at", "resolved_at", "created_at",
)
INCIDENT_COLUMNS = ", ".join(_INCIDENT_FIELDS)
LATEST_INCIDENTS = f"""
SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id IN (
    SELECT DISTINCT ON (i.company_id, i.correlation_key) i.id
    FROM incidents i JOIN unnest($1::uuid[], $2::varchar[]) k(company_id, key)
      ON i.company_id = k.company_id AND i.correlation_key = k.key
    ORDER BY i.company_id, i.correlation_key, i.last_alert_at DESC
) FOR UPDATE
"""
INSERT_INCIDENT = """
INSERT INTO incidents (id, company_id, correlation_key, asset_id, asset_name, signature, status, severity, category,
    alert_count, duplicate_count, tool_sources, active_fingerprints, flap_times, flapping, critical_asset,
    first_alert_at, last_alert_at, resolved_at, priority_score, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, now())
"""
UPDATE_INCIDENT = """
UPDATE incidents SET status = $2, severity = $3, category = $4, alert_count = $5, duplicate_count = $6,
    tool_sources = $7, active_fingerprints = $8, flap_times = $9, flapping = $10, critical_asset = $11,
    first_alert_at = $12, last_alert_at = $13, resolved_at = $14, priority_score = $15, updated_at = now()
WHERE id = $1
"""
# OFFSET 0 keeps the planner doing one index lookup per (incident, fingerprint) instead of hashing
# every open alert (it underestimates the key list).
RESOLVE_EARLIER_ALERTS = """
UPDATE alerts a SET resolved_at = k.at
FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[]) k(incident_id, fingerprint, at)
CROSS JOIN LATERAL (
    SELECT x.id FROM alerts x
    WHERE x.incident_id = k.incident_id AND x.fingerprint = k.fingerprint AND x.status = 'firing'
      AND x.resolved_at IS NULL AND x.correlated_at IS NOT NULL
    OFFSET 0
) x
WHERE a.id = x.id
"""
RESOLVE_ALL_ALERTS = """
UPDATE alerts SET resolved_at = $2
WHERE incident_id = ANY($1::uuid[]) AND status = 'firing' AND resolved_at IS NULL AND correlated_at IS NOT NULL
"""
WRITE_OUTCOMES = """
UPDATE alerts a SET correlated_at = now(), incident_id = k.incident_id, duplicate = k.duplicate,
    asset_id = k.asset_id, resolved_at = k.resolved_at, suppressed_by = k.suppressed_by
FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::uuid[], $5::timestamptz[], $6::uuid[])
    k(id, incident_id, duplicate, asset_id, resolved_at, suppressed_by)
WHERE a.id = k.id
"""
INSERT_EVENTS = """
INSERT INTO incident_events (company_id, incident_id, kind, at, alert_id, data)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::timestamptz[], $5::uuid[], $6::jsonb[])
"""
NOTIFY = "SELECT pg_notify('aw_events', x) FROM unnest($1::text[]) x"


def settings_from_row(row: Any) -> CorrelationSettings:
    return CorrelationSettings.from_minutes(
        window_minutes=row["correlation_window_minutes"],
        flap_threshold=row["flap_threshold"],
        flap_window_minutes=row["flap_window_minutes"],
        auto_resolve_minutes=row["auto_resolve_minutes"],
        auto_resolve_tools=row["auto_resolve_tools"] or (),
    )


def window_from_row(row: Any) -> MaintenanceWindow:
    rec = row["recurrence"]
    recurrence = None
    if rec:
        rec = orjson.loads(rec) if isinstance(rec, str) else rec
        until = rec.get("until")
        recurrence = Recurrence(
            frequency=RecurrenceFrequency(rec["frequency"]),
            days_of_week=frozenset(rec.get("days_of_week") or ()),
            timezone=rec.get("timezone") or "UTC",
            until=datetime.fromisoformat(until) if until else None,
        )
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
        status=IncidentStatus(row["status"]),
        severity=Severity(row["severity"]),
        category=Category(row["category"]),
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
    )


@dataclass
class BatchStats:
    alerts: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0
    suppressed: int = 0


class CorrelationWorker:
    def __init__(self, pool: asyncpg.Pool, batch_size: int = 1000) -> None:
        self.pool = pool
        self.batch_size = batch_size

    async def run_once(self, now: datetime | None = None) -> BatchStats:
        """Correlate one batch; returns what it did (alerts == 0 means nothing was waiting)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._batch(conn, now or datetime.now(UTC))

    async def _batch(self, conn: asyncpg.Connection, now: datetime) -> BatchStats:
        rows = await conn.fetch(CLAIM, self.batch_size)
        stats = BatchStats(alerts=len(rows))
        if not rows:
            return stats
        company_ids = list({r["company_id"] for r in rows})
        settings = {r["id"]: settings_from_row(r) for r in await conn.fetch(SETTINGS, company_ids)}
        earliest = min(r["event_time"] for r in rows)
        latest_time = max(r["event_time"] for r in rows)
        windows: dict[uuid.UUID, list[MaintenanceWindow]] = defaultdict(list)
        for w in await conn.fetch(WINDOWS, company_ids, earliest, latest_time):
            windows[w["company_id"]].append(window_from_row(w))
        assets = await self._assets(conn, rows)
        # A resolve closes the open alert with its fingerprint even when it names the asset differently
        # (or not at all, like a PagerDuty resolve that carries only the dedup key).
        resolves = [(r["company_id"], r["fingerprint"]) for r in rows if r["status"] == "resolved"]
        open_by_fp: dict[tuple[uuid.UUID, str], Any] = {}
        if resolves:
            for o in await conn.fetch(OPEN_BY_FINGERPRINT, *map(list, zip(*resolves, strict=True))):
                open_by_fp[(o["company_id"], o["fingerprint"])] = o

        pending: dict[uuid.UUID, list[PendingAlert]] = defaultdict(list)
        asset_of: dict[uuid.UUID, uuid.UUID | None] = {}
        suppressed: dict[uuid.UUID, uuid.UUID] = {}
        for r in rows:
            asset_id, critical = assets[r["id"]]
            key = correlation_key(str(asset_id) if asset_id else r["asset_name"], r["signature"])
            match = open_by_fp.get((r["company_id"], r["fingerprint"])) if r["status"] == "resolved" else None
            if match is not None:
                key, asset_id, critical = match["correlation_key"], match["asset_id"], match["critical_asset"]
            asset_of[r["id"]] = asset_id
            if r["status"] == "firing" and windows.get(r["company_id"]):
                window = suppressing_window(windows[r["company_id"]], r["asset_name"], r["signature"], r["event_time"])
                if window is not None:
                    suppressed[r["id"]] = window.id
                    continue
            pending[r["company_id"]].append(
                PendingAlert(
                    id=r["id"], key=key, asset_id=asset_id,
                    asset_name=r["asset_name"], signature=r["signature"], severity=Severity(r["severity"]),
                    category=Category(r["category"]), tool=r["tool"], event_time=r["event_time"],
                    resolved=r["status"] == "resolved", fingerprint=r["fingerprint"], critical_asset=critical,
                )
            )
        stats.suppressed = len(suppressed)

        keys = sorted({f"{cid}:{a.key}" for cid, alerts in pending.items() for a in alerts})
        if keys:
            await conn.execute(LOCK_KEYS, keys)
        pairs = [(cid, a.key) for cid, alerts in pending.items() for a in alerts]
        latest: dict[uuid.UUID, dict[str, IncidentState]] = defaultdict(dict)
        if pairs:
            for row in await conn.fetch(LATEST_INCIDENTS, [p[0] for p in pairs], [p[1] for p in pairs]):
                latest[row["company_id"]][row["correlation_key"]] = state_from_row(row)

        results: dict[uuid.UUID, CorrelationResult] = {}
        for cid, alerts in pending.items():
            results[cid] = correlate(alerts, latest[cid], settings.get(cid, CorrelationSettings()), now, uuid7)

        await self._write(conn, results, asset_of, suppressed, now, stats)
        return stats

    async def _assets(
        self, conn: asyncpg.Connection, rows: list[Any]
    ) -> dict[uuid.UUID, tuple[uuid.UUID | None, bool]]:
        """Map each alert to (asset id, critical), creating discovered assets for unknown names.

        Only firing alerts create assets: a resolve naming an unknown asset gets (None, False).
        """
        by_ref: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, bool]] = {}
        refs = []
        for r in rows:
            try:
                refs.append(uuid.UUID(r["asset_ref"])) if r["asset_ref"] else None
            except ValueError:
                pass
        if refs:
            for a in await conn.fetch(ASSETS_BY_ID, refs):
                by_ref[(a[1], a[0])] = (a[0], a[3])
        names = sorted({(r["company_id"], r["asset_name"].lower()) for r in rows}, key=str)
        by_name = {(a[1], a[2]): (a[0], a[3]) for a in await conn.fetch(ASSETS_BY_NAME, *zip(*names, strict=True))}
        missing = {}
        for r in rows:
            key = (r["company_id"], r["asset_name"].lower())
            if key not in by_name and key not in missing and r["status"] == "firing":
                missing[key] = (uuid7(), r["company_id"], r["asset_name"])
        if missing:
            values = sorted(missing.values(), key=lambda v: (str(v[1]), v[2].lower()))
            await conn.execute(CREATE_DISCOVERED, *map(list, zip(*values, strict=True)))
            for a in await conn.fetch(ASSETS_BY_NAME, *zip(*missing.keys(), strict=True)):
                by_name[(a[1], a[2])] = (a[0], a[3])
        out = {}
        for r in rows:
            ref = None
            if r["asset_ref"]:
                try:
                    ref = by_ref.get((r["company_id"], uuid.UUID(r["asset_ref"])))
                except ValueError:
                    ref = None
            out[r["id"]] = ref or by_name.get((r["company_id"], r["asset_name"].lower()), (None, False))
        return out

    async def _write(
        self,
        conn: asyncpg.Connection,
        results: dict[uuid.UUID, CorrelationResult],
        asset_of: dict[uuid.UUID, uuid.UUID | None],
        suppressed: dict[uuid.UUID, uuid.UUID],
        now: datetime,
        stats: BatchStats,
    ) -> None:
        changes = [(cid, ch) for cid, res in results.items() for ch in res.changes]
        await write_incident_changes(conn, changes, now)
        stats.incidents_created = sum(1 for _, ch in changes if ch.created)
        stats.incidents_updated = len(changes) - stats.incidents_created

        resolved = [(iid, fp, at) for res in results.values() for (iid, fp), at in res.resolved_fingerprints.items()]
        if resolved:
            await conn.execute(RESOLVE_EARLIER_ALERTS, *map(list, zip(*resolved, strict=True)))

        ids, incident_ids, dups, asset_ids, resolved_ats, sups = [], [], [], [], [], []
        for res in results.values():
            for o in res.outcomes:
                ids.append(o.alert_id)
                incident_ids.append(o.incident_id)
                dups.append(o.duplicate)
                asset_ids.append(asset_of[o.alert_id])
                resolved_ats.append(o.resolved_at)
                sups.append(None)
        for alert_id, window_id in suppressed.items():
            ids.append(alert_id)
            incident_ids.append(None)
            dups.append(False)
            asset_ids.append(asset_of[alert_id])
            resolved_ats.append(None)
            sups.append(window_id)
        await conn.execute(WRITE_OUTCOMES, ids, incident_ids, dups, asset_ids, resolved_ats, sups)


async def write_incident_changes(
    conn: asyncpg.Connection, changes: list[tuple[uuid.UUID, IncidentChange]], now: datetime
) -> None:
    """Insert or update incidents, append their timeline events and announce them (one NOTIFY each)."""
    if not changes:
        return
    inserts, updates, events, notes = [], [], [], []
    for cid, ch in changes:
        s = ch.state
        score = s.priority_score(now)
        if ch.created:
            inserts.append((
                s.id, cid, s.key, s.asset_id, s.asset_name, s.signature, s.status.value, s.severity.value,
                s.category.value, s.alert_count, s.duplicate_count, sorted(s.tool_sources),
                sorted(s.active_fingerprints), s.flap_times, s.flapping, s.critical_asset, s.first_alert_at,
                s.last_alert_at, s.resolved_at, score, s.created_at,
            ))
        else:
            updates.append((
                s.id, s.status.value, s.severity.value, s.category.value, s.alert_count, s.duplicate_count,
                sorted(s.tool_sources), sorted(s.active_fingerprints), s.flap_times, s.flapping,
                s.critical_asset, s.first_alert_at, s.last_alert_at, s.resolved_at, score,
            ))
        for e in ch.events:
            events.append((cid, s.id, e.kind.value, e.at, e.alert_id, orjson.dumps(e.data).decode()))
        notes.append(orjson.dumps({"topic": topic(cid, "incidents"), "kind": ch.kind.value, "id": str(s.id)}).decode())
    if inserts:
        await conn.executemany(INSERT_INCIDENT, inserts)
    if updates:
        await conn.executemany(UPDATE_INCIDENT, updates)
    if events:
        await conn.execute(INSERT_EVENTS, *map(list, zip(*events, strict=True)))
    await conn.execute(NOTIFY, notes)


AUTO_RESOLVE_CANDIDATES = f"""
SELECT {", ".join("i." + f for f in _INCIDENT_FIELDS)}, c.correlation_window_minutes, c.flap_threshold, c.flap_window_minutes,
       c.auto_resolve_minutes, c.auto_resolve_tools
FROM incidents i JOIN companies c ON c.id = i.company_id
WHERE i.status <> 'RESOLVED' AND c.auto_resolve_minutes IS NOT NULL
  AND i.last_alert_at < $1::timestamptz - make_interval(mins => c.auto_resolve_minutes)
ORDER BY i.last_alert_at LIMIT $2
FOR UPDATE OF i SKIP LOCKED
"""


class IncidentSweeper:
    """Periodic upkeep: auto-resolve quiet incidents, refresh decaying priority scores, expire old deliveries."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def auto_resolve(self, now: datetime | None = None, limit: int = 500) -> int:
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(AUTO_RESOLVE_CANDIDATES, now, limit)
            changes = []
            for row in rows:
                state = state_from_row(row)
                if due_for_auto_resolve(state, settings_from_row(row), now):
                    changes.append((row["company_id"], auto_resolve(state, now)))
            if changes:
                await write_incident_changes(conn, changes, now)
                await conn.execute(RESOLVE_ALL_ALERTS, [ch.state.id for _, ch in changes], now)
            return len(changes)

    async def refresh_priorities(self, now: datetime | None = None) -> int:
        """Age decay stops after 10 hours, so only younger open incidents need a new stored score."""
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, severity, critical_asset, alert_count, tool_sources, created_at, priority_score "
                "FROM incidents WHERE status <> 'RESOLVED' AND created_at > $1 FOR UPDATE SKIP LOCKED",
                now - timedelta(hours=11),
            )
            updates = []
            for r in rows:
                score = priority_score(Severity(r[1]), r[2], r[3], len(r[4] or ()), r[5], now)
                if abs(score - r[6]) >= 0.01:
                    updates.append((r[0], score))
            if updates:
                await conn.executemany("UPDATE incidents SET priority_score = $2 WHERE id = $1", updates)
            return len(updates)

    async def expire_deliveries(self, older_than: timedelta = timedelta(hours=24)) -> int:
        result = await self.pool.execute(
            "DELETE FROM webhook_deliveries WHERE received_at < now() - $1::interval", older_than
        )
        return int(result.split()[-1])
