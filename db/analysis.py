"""The `analysis` reaction: every incident change gets the incident (re)analysed by the rules
(`domain.analysis.analyze`), stored in `incident_analyses` and announced when it changed.

The facts come in a few statements: the incident with its company's window, the latest firing
times of its alerts, the incidents open on assets linked to its asset by `depends_on` (up and down,
a few hops, opened within the window of this one), and how many assets show its signature. A
downstream incident of a cascade re-analyses its root in the same transaction, so the root's blast
radius and `relatedIncidents` follow as the cascade grows. A stale change (the incident moved on
since) is skipped: the latest change analyses the incident as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from db.incident_writer import announce
from domain.analysis import MAX_FIRINGS, PERSISTENT_AFTER, Analysis, IncidentFacts, Related, analyze
from domain.runbooks import best_runbook

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

NAME = "analysis"
MAX_HOPS = 5

INCIDENT = """
SELECT i.id, i.company_id, i.asset_id, i.asset_name, i.signature, i.status, i.first_alert_at,
       i.last_alert_at, i.alert_count, i.flapping, i.flap_times, i.created_at, i.version,
       c.correlation_window_minutes AS window_minutes, a.platform
FROM incidents i JOIN companies c ON c.id = i.company_id
LEFT JOIN assets a ON a.id = i.asset_id
WHERE i.id = $1
"""
FIRINGS = f"""
SELECT event_time FROM (
    SELECT event_time FROM alerts
    WHERE incident_id = $1 AND status = 'firing'
    ORDER BY event_time DESC LIMIT {MAX_FIRINGS}
) t ORDER BY event_time
"""
# Assets reachable from $2 along depends_on ($3 = true: upstream, what it depends on; false:
# downstream, what depends on it), then the open incidents on them opened within the window.
LINKED = f"""
WITH RECURSIVE linked(asset_id, depth) AS (
    SELECT CASE WHEN $3 THEN d.depends_on_id ELSE d.asset_id END, 1
    FROM asset_dependencies d
    WHERE d.company_id = $1 AND (CASE WHEN $3 THEN d.asset_id ELSE d.depends_on_id END) = $2
  UNION
    SELECT CASE WHEN $3 THEN d.depends_on_id ELSE d.asset_id END, l.depth + 1
    FROM asset_dependencies d JOIN linked l
      ON (CASE WHEN $3 THEN d.asset_id ELSE d.depends_on_id END) = l.asset_id
    WHERE d.company_id = $1 AND l.depth < {MAX_HOPS}
)
SELECT DISTINCT ON (i.id) i.id, i.asset_name, i.signature, i.created_at, l.depth
FROM linked l JOIN incidents i ON i.company_id = $1 AND i.asset_id = l.asset_id
WHERE i.status <> 'RESOLVED' AND i.created_at BETWEEN $4 AND $5 AND i.id <> $6
ORDER BY i.id, l.depth
"""
SIGNATURE_ASSETS = """
SELECT count(DISTINCT asset_name) FROM incidents
WHERE company_id = $1 AND signature = $2 AND created_at BETWEEN $3 AND $4
"""
RUNBOOKS = """
SELECT r.id, r.company_id, v.name, v.platform, v.risk, v.signatures, v.signature_patterns, r.archived_at
FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version
WHERE (r.company_id IS NULL OR r.company_id = $1) AND r.archived_at IS NULL
  AND ($2::text IS NULL OR v.platform = $2)
"""
STORED = "SELECT pattern_type, root_incident_id, blast_radius, confidence FROM incident_analyses WHERE incident_id = $1"
UPSERT = """
INSERT INTO incident_analyses (incident_id, company_id, pattern_type, root_cause, confidence, explanation,
                               source, suggested_runbook_id, root_incident_id, blast_radius, details,
                               incident_version, analyzed_at, alert_count)
VALUES ($1, $2, $3, $4, $5, $6, 'RULES', $7, $8, $9, $10::jsonb, $11, $12, $13)
ON CONFLICT (incident_id) DO UPDATE SET
    pattern_type = EXCLUDED.pattern_type, root_cause = EXCLUDED.root_cause,
    confidence = EXCLUDED.confidence, explanation = EXCLUDED.explanation, source = 'RULES',
    model = NULL, latency_ms = NULL, suggested_runbook_id = EXCLUDED.suggested_runbook_id,
    root_incident_id = EXCLUDED.root_incident_id, blast_radius = EXCLUDED.blast_radius,
    details = EXCLUDED.details, incident_version = EXCLUDED.incident_version,
    analyzed_at = EXCLUDED.analyzed_at, alert_count = EXCLUDED.alert_count
"""
# Open incidents whose analysis is behind: more alerts since (repeats write no outbox row, so a storm
# of repeats or a cycle of one fingerprint shows only here), or open long enough to be persistent.
STALE = """
SELECT i.id FROM incidents i JOIN incident_analyses a ON a.incident_id = i.id
WHERE i.status <> 'RESOLVED'
  AND (i.alert_count > a.alert_count
       OR (a.pattern_type = 'ISOLATED' AND i.first_alert_at <= $1))
ORDER BY i.last_alert_at
LIMIT $2
"""


@dataclass(frozen=True, slots=True)
class _Runbook:
    id: uuid.UUID
    company_id: uuid.UUID | None
    name: str
    platform: str
    risk: str
    signatures: list[str]
    signature_patterns: list[str]
    archived_at: datetime | None


async def facts_of(conn: Conn, incident_id: uuid.UUID) -> tuple[IncidentFacts, Any] | None:
    row = await conn.fetchrow(INCIDENT, incident_id)
    if row is None:
        return None
    window = timedelta(minutes=row["window_minutes"])
    start, end = row["created_at"] - window, row["created_at"] + window
    company_id: uuid.UUID = row["company_id"]
    upstream: list[Related] = []
    downstream: list[Related] = []
    if row["asset_id"] is not None:
        for up, into in ((True, upstream), (False, downstream)):
            for r in await conn.fetch(LINKED, company_id, row["asset_id"], up, start, end, incident_id):
                into.append(Related(r["id"], r["asset_name"], r["signature"], r["created_at"], r["depth"]))
    firings = [r["event_time"] for r in await conn.fetch(FIRINGS, incident_id)]
    spread = await conn.fetchval(SIGNATURE_ASSETS, company_id, row["signature"], start, end)
    facts = IncidentFacts(
        incident_id=incident_id,
        signature=row["signature"],
        asset_name=row["asset_name"],
        open=row["status"] != "RESOLVED",
        first_alert_at=row["first_alert_at"],
        last_alert_at=row["last_alert_at"],
        alert_count=row["alert_count"],
        flapping=row["flapping"],
        flap_times=list(row["flap_times"] or []),
        firing_times=firings,
        upstream=upstream,
        downstream=downstream,
        signature_assets=int(spread or 1),
    )
    return facts, row


async def _suggested(
    conn: Conn, company_id: uuid.UUID, signature: str, platform: str | None
) -> uuid.UUID | None:
    if platform is None:
        return None
    # Only the asset's platform's: no other can match (`best_runbook`), so they are not read.
    candidates = [_Runbook(**dict(r)) for r in await conn.fetch(RUNBOOKS, company_id, platform)]
    found = best_runbook(candidates, company_id, signature, platform)
    return found.id if found is not None else None


async def analyse_incident(
    conn: Conn, incident_id: uuid.UUID, now: datetime, follow_root: bool = True
) -> Analysis | None:
    """Analyse one incident and store the result; None when it is gone."""
    found = await facts_of(conn, incident_id)
    if found is None:
        return None
    facts, row = found
    result = analyze(facts, now)
    company_id: uuid.UUID = row["company_id"]
    before = await conn.fetchrow(STORED, incident_id)
    await conn.execute(
        UPSERT,
        incident_id,
        company_id,
        result.pattern.value,
        result.root_cause,
        result.confidence,
        result.explanation,
        await _suggested(conn, company_id, row["signature"], row["platform"]),
        result.root_incident_id,
        result.blast_radius,
        orjson.dumps(result.details, default=str).decode(),
        row["version"],
        now,
        row["alert_count"],
    )
    if before is None or (before["pattern_type"], before["root_incident_id"], before["blast_radius"]) != (
        result.pattern.value,
        result.root_incident_id,
        result.blast_radius,
    ):
        await announce(conn, company_id, incident_id)
    if follow_root and result.root_incident_id is not None:
        await analyse_incident(conn, result.root_incident_id, now, follow_root=False)
    return result


class IncidentAnalysisReaction:
    name = NAME

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        current = await conn.fetchval("SELECT version FROM incidents WHERE id = $1", change.incident_id)
        if current is None or current > change.version:
            return  # gone, or a later change will analyse it as it is then
        await analyse_incident(conn, change.incident_id, change.at)


async def reanalyse_stale(pool: Any, now: datetime, limit: int = 200) -> int:
    """Analyse again the open incidents whose analysis is behind (see STALE); how many. Run by the
    sweeper, one process at a time."""
    async with pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(STALE, now - PERSISTENT_AFTER, limit)]
        for incident_id in ids:
            async with conn.transaction():
                await analyse_incident(conn, incident_id, now)
    return len(ids)
