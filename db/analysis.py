"""The `analysis` reaction: every incident change gets the incident (re)analysed by the rules
(`domain.analysis.analyze`), stored in `incident_analyses` and announced when it changed.

The facts come in a few statements: the incident with its company's window, the latest firing
times of its alerts, the incidents open on assets linked to its asset by `depends_on` (up and down,
a few hops, opened within the window of this one), and how many assets show its signature. A
downstream incident of a cascade re-analyses its root in the same transaction, so the root's blast
radius and `relatedIncidents` follow as the cascade grows; a root re-analyses the downstream incidents
opened before it, which point at it from then on. The blast radius is kept on the incident too
(`incidents.blast_radius`), where its priority reads it. A stale change (the incident moved on
since) is skipped: the latest change analyses the incident as it is.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from db.events import BusEvent, notify_many, topic
from db.runbook_folds import batch_folds, incident_signatures_of
from domain.analysis import (
    MAX_FIRINGS,
    PERSISTENT_AFTER,
    Analysis,
    IncidentFacts,
    Related,
    analyze,
    cascade_root,
    is_local_problem,
)
from domain.runbooks import RunbookFolds, best_runbook

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

NAME = "analysis"
MAX_HOPS = 5

# Each statement reads what it reads for all the incidents a batch analyses, in one round trip.
INCIDENTS = """
SELECT i.id, i.company_id, i.asset_id, i.asset_name, i.signature, i.status, i.first_alert_at,
       i.last_alert_at, i.alert_count, i.flapping, i.flap_times, i.created_at, i.version,
       c.correlation_window_minutes AS window_minutes, a.platform, i.signatures, i.canonical_signature,
       EXISTS (SELECT FROM signature_aliases g WHERE g.company_id = i.company_id) AS has_aliases
FROM incidents i JOIN companies c ON c.id = i.company_id
LEFT JOIN assets a ON a.id = i.asset_id
WHERE i.id = ANY($1::uuid[])
"""
RUNBOOKS = """
SELECT r.id, r.company_id, v.name, v.platform, v.risk, v.signatures, v.signature_patterns, r.archived_at
FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version
WHERE (r.company_id IS NULL OR r.company_id = $1) AND r.archived_at IS NULL
  AND ($2::text IS NULL OR v.platform = $2)
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

FIRINGS_MANY = f"""
SELECT x.id AS incident_id, f.event_time
FROM unnest($1::uuid[]) x(id) CROSS JOIN LATERAL (
    SELECT event_time FROM alerts
    WHERE incident_id = x.id AND status = 'firing'
    ORDER BY event_time DESC LIMIT {MAX_FIRINGS}
) f
ORDER BY x.id, f.event_time
"""
# LINKED from several incidents at once (origin: the incident whose asset the walk starts from), both
# directions, as two walks so each joins on its own index.
LINKED_MANY = f"""
WITH RECURSIVE seed(origin, company_id, asset_id, start_at, end_at) AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
), up(origin, company_id, asset_id, depth) AS (
    SELECT s.origin, s.company_id, d.depends_on_id, 1
    FROM seed s JOIN asset_dependencies d ON d.company_id = s.company_id AND d.asset_id = s.asset_id
  UNION
    SELECT l.origin, l.company_id, d.depends_on_id, l.depth + 1
    FROM up l JOIN asset_dependencies d ON d.company_id = l.company_id AND d.asset_id = l.asset_id
    WHERE l.depth < {MAX_HOPS}
), down(origin, company_id, asset_id, depth) AS (
    SELECT s.origin, s.company_id, d.asset_id, 1
    FROM seed s JOIN asset_dependencies d ON d.company_id = s.company_id AND d.depends_on_id = s.asset_id
  UNION
    SELECT l.origin, l.company_id, d.asset_id, l.depth + 1
    FROM down l JOIN asset_dependencies d ON d.company_id = l.company_id AND d.depends_on_id = l.asset_id
    WHERE l.depth < {MAX_HOPS}
), linked AS (
    SELECT origin, company_id, asset_id, depth, true AS up FROM up
    UNION ALL SELECT origin, company_id, asset_id, depth, false FROM down
)
SELECT DISTINCT ON (l.origin, l.up, i.id) l.origin, l.up, i.id, i.asset_name, i.signature, i.created_at, l.depth,
       i.canonical_signature
FROM linked l JOIN seed s ON s.origin = l.origin
JOIN incidents i ON i.company_id = l.company_id AND i.asset_id = l.asset_id
WHERE i.status <> 'RESOLVED' AND i.created_at BETWEEN s.start_at AND s.end_at AND i.id <> l.origin
ORDER BY l.origin, l.up, i.id, l.depth
"""
SIGNATURE_ASSETS_MANY = """
SELECT x.origin, (SELECT count(DISTINCT i.asset_name) FROM incidents i
                  WHERE i.company_id = x.company_id AND i.signature = x.signature
                    AND i.created_at BETWEEN x.start_at AND x.end_at) AS spread
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
     x(origin, company_id, signature, start_at, end_at)
"""
RUNBOOKS_MANY = """
SELECT r.id, r.company_id, v.name, v.platform, v.risk, v.signatures, v.signature_patterns, r.archived_at
FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version
WHERE (r.company_id IS NULL OR r.company_id = ANY($1::uuid[])) AND r.archived_at IS NULL
  AND v.platform = ANY($2::text[])
"""
STORED_MANY = (
    "SELECT incident_id, pattern_type, root_incident_id, blast_radius FROM incident_analyses"
    " WHERE incident_id = ANY($1::uuid[])"
)
UPSERT_MANY = """
INSERT INTO incident_analyses (incident_id, company_id, pattern_type, root_cause, confidence, explanation,
                               source, suggested_runbook_id, root_incident_id, blast_radius, details,
                               incident_version, analyzed_at, alert_count)
SELECT u.incident_id, u.company_id, u.pattern_type, u.root_cause, u.confidence, u.explanation, 'RULES',
       u.suggested, u.root, u.blast_radius, u.details::jsonb, u.version, u.analyzed_at, u.alert_count
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::uuid[], $8::uuid[],
            $9::int[], $10::text[], $11::int[], $12::timestamptz[], $13::int[])
     u(incident_id, company_id, pattern_type, root_cause, confidence, explanation, suggested, root,
       blast_radius, details, version, analyzed_at, alert_count)
ON CONFLICT (incident_id) DO UPDATE SET
    pattern_type = EXCLUDED.pattern_type, root_cause = EXCLUDED.root_cause,
    confidence = EXCLUDED.confidence, explanation = EXCLUDED.explanation, source = 'RULES',
    model = NULL, latency_ms = NULL, suggested_runbook_id = EXCLUDED.suggested_runbook_id,
    root_incident_id = EXCLUDED.root_incident_id, blast_radius = EXCLUDED.blast_radius,
    details = EXCLUDED.details, incident_version = EXCLUDED.incident_version,
    analyzed_at = EXCLUDED.analyzed_at, alert_count = EXCLUDED.alert_count
"""

# A root's blast radius goes onto the incident too, where `priority_base` reads it. Only the rows it
# changes are written (and locked, in id order, as correlation locks them): a version bump is not
# made, no status changed, so the pending changes of the incident are not made stale.
SET_BLAST_RADIUS = """
WITH u AS (
    SELECT i.id, u.blast_radius FROM incidents i
    JOIN unnest($1::uuid[], $2::int[]) u(id, blast_radius) ON u.id = i.id
    WHERE i.blast_radius <> u.blast_radius
    ORDER BY i.id
    FOR UPDATE OF i
)
UPDATE incidents i SET blast_radius = u.blast_radius FROM u WHERE i.id = u.id
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


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the rules need of one incident, and the row it came from."""

    facts: IncidentFacts
    row: Any
    suggested: uuid.UUID | None


def _windows(rows: Sequence[Any]) -> tuple[list[datetime], list[datetime]]:
    """Each incident's company window around its creation: where its linked incidents opened."""
    windows = [timedelta(minutes=r["window_minutes"]) for r in rows]
    return (
        [r["created_at"] - w for r, w in zip(rows, windows, strict=True)],
        [r["created_at"] + w for r, w in zip(rows, windows, strict=True)],
    )


async def linked_incidents(
    conn: Conn, rows: Sequence[Any]
) -> tuple[dict[uuid.UUID, list[Related]], dict[uuid.UUID, list[Related]]]:
    """The open incidents upstream and downstream of each of `rows` (`id`, `company_id`, `asset_id`,
    `created_at`, `window_minutes`, `canonical_signature`) along `depends_on`, opened within its
    window, in one statement; an asset's own problem (`domain.analysis.is_local_problem`) is left out
    of every downstream."""
    upstream: dict[uuid.UUID, list[Related]] = {r["id"]: [] for r in rows}
    downstream: dict[uuid.UUID, list[Related]] = {r["id"]: [] for r in rows}
    on_assets = [r for r in rows if r["asset_id"] is not None]
    if not on_assets:
        return upstream, downstream
    local = {r["id"] for r in on_assets if is_local_problem(r["canonical_signature"])}
    starts, ends = _windows(on_assets)
    for r in await conn.fetch(
        LINKED_MANY,
        [r["id"] for r in on_assets],
        [r["company_id"] for r in on_assets],
        [r["asset_id"] for r in on_assets],
        starts,
        ends,
    ):
        # An asset's own problem is nobody's downstream: it has no upstream, and is not a root's downstream.
        if (r["origin"] in local) if r["up"] else is_local_problem(r["canonical_signature"]):
            continue
        into = upstream if r["up"] else downstream
        into[r["origin"]].append(
            Related(r["id"], r["asset_name"], r["signature"], r["created_at"], r["depth"])
        )
    return upstream, downstream


async def cascade_roots(conn: Conn, rows: Sequence[Any]) -> dict[uuid.UUID, Related]:
    """The root incident of the cascade each of `rows` is downstream of, as the analysis names it
    (`domain.analysis.cascade_root`), for those that are; rows as `linked_incidents` reads them."""
    upstream, _ = await linked_incidents(conn, rows)
    return {i: root for i, ups in upstream.items() if (root := cascade_root(ups)) is not None}


async def _facts_many(conn: Conn, rows: list[Any]) -> dict[uuid.UUID, _Facts]:
    """The facts of the incidents `rows` (INCIDENT rows) in five statements whatever their number."""
    if not rows:
        return {}
    ids = [r["id"] for r in rows]
    starts, ends = _windows(rows)
    upstream, downstream = await linked_incidents(conn, rows)
    firings: dict[uuid.UUID, list[datetime]] = {i: [] for i in ids}
    for r in await conn.fetch(FIRINGS_MANY, ids):
        firings[r["incident_id"]].append(r["event_time"])
    spread = {
        r["origin"]: r["spread"]
        for r in await conn.fetch(
            SIGNATURE_ASSETS_MANY,
            ids,
            [r["company_id"] for r in rows],
            [r["signature"] for r in rows],
            starts,
            ends,
        )
    }
    platforms = {r["platform"] for r in rows if r["platform"] is not None}
    runbooks: list[_Runbook] = []
    folds: defaultdict[uuid.UUID, RunbookFolds] = defaultdict(RunbookFolds)
    if platforms:
        runbooks = [
            _Runbook(**dict(r))
            for r in await conn.fetch(RUNBOOKS_MANY, list({r["company_id"] for r in rows}), sorted(platforms))
        ]
        folds = await batch_folds(conn, [r for r in rows if r["platform"] is not None])
    found: dict[uuid.UUID, _Facts] = {}
    for row in rows:
        incident_id: uuid.UUID = row["id"]
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
            firing_times=firings[incident_id],
            upstream=upstream[incident_id],
            downstream=downstream[incident_id],
            signature_assets=int(spread.get(incident_id) or 1),
        )
        found[incident_id] = _Facts(facts, row, _suggested(runbooks, row, folds[row["company_id"]]))
    return found


def _suggested(runbooks: list[_Runbook], row: Any, folds: RunbookFolds) -> uuid.UUID | None:
    platform = row["platform"]
    if platform is None:
        return None
    # Only the asset's platform's: no other can match (`best_runbook`).
    company_id: uuid.UUID = row["company_id"]
    candidates = [
        r for r in runbooks if (r.company_id is None or r.company_id == company_id) and r.platform == platform
    ]
    # Matched as the decisions match: original, canonical and folded runbook signatures.
    found = best_runbook(candidates, company_id, incident_signatures_of(row, folds), platform, folds)
    return found.id if found is not None else None


def _state(result: Analysis) -> tuple[str, uuid.UUID | None, int]:
    """What an announcement is made for: the pattern, the root, the blast radius."""
    return (result.pattern.value, result.root_incident_id, result.blast_radius)


async def analyse_many(
    conn: Conn, requests: Sequence[tuple[uuid.UUID, datetime]], rows: Sequence[Any] | None = None
) -> list[Analysis | None]:
    """Analyse each incident of `requests` (incident, now) in order and store the results, as
    `analyse_incident` would one after the other: a downstream incident's root is analysed again
    right after it, and a root's downstream incidents that do not point at it yet once all are done.
    The facts are read once (analysing writes none of them), the results replayed in order, and each
    incident's last result written; one NOTIFY per incident whose pattern, root or
    blast radius changed at some step. `rows`: the INCIDENT rows of the requests, if read already.
    None for an incident that is gone."""
    if rows is None:
        rows = await conn.fetch(INCIDENTS, list({i for i, _ in requests}))
    facts = await _facts_many(conn, list(rows))
    results = [(i, now, analyze(facts[i].facts, now) if i in facts else None) for i, now in requests]
    roots = {r.root_incident_id for _, _, r in results if r is not None and r.root_incident_id is not None}
    missing = [i for i in roots if i not in facts]
    if missing:
        facts |= await _facts_many(conn, list(await conn.fetch(INCIDENTS, missing)))
    # A root's downstream incidents opened before it (analysed then without it) point at it now: those
    # that named no root, or a root of their own downstream of this one, are analysed again too, so
    # `relatedIncidents` lists what the blast radius counts. (One pointing at another root, not below
    # this one, keeps it: re-reading it on every change of this root is what a diamond would cost.)
    below = {
        root: {d.incident_id for d in f.facts.downstream} for root, f in facts.items() if not f.facts.upstream
    }
    followers = {d: root for root, ds in below.items() for d in ds}
    stored = {
        r["incident_id"]: (r["pattern_type"], r["root_incident_id"], r["blast_radius"])
        for r in await conn.fetch(STORED_MANY, list(set(facts) | set(followers)))
    }

    def is_behind(d: uuid.UUID, root: uuid.UUID) -> bool:
        named = stored[d][1] if d in stored else None
        return named is None or (named != root and named in below[root])

    behind = {d for d, root in followers.items() if d not in facts and is_behind(d, root)}
    if behind:
        facts |= await _facts_many(conn, list(await conn.fetch(INCIDENTS, list(behind))))
    initial_radius = {i: state[2] for i, state in stored.items()}
    last: dict[uuid.UUID, tuple[Analysis, datetime]] = {}
    announced: dict[uuid.UUID, BusEvent] = {}

    def store(incident_id: uuid.UUID, result: Analysis, now: datetime) -> None:
        state = _state(result)
        if stored.get(incident_id) != state and incident_id not in announced:
            company_id: uuid.UUID = facts[incident_id].row["company_id"]
            announced[incident_id] = BusEvent(
                topic(company_id, "incidents"), kind="UPDATED", id=str(incident_id)
            )
        stored[incident_id] = state
        last.pop(incident_id, None)  # re-inserted last: the write order follows the analyses
        last[incident_id] = (result, now)

    out: list[Analysis | None] = []
    for incident_id, now, result in results:
        out.append(result)
        if result is None:
            continue
        store(incident_id, result, now)
        root = result.root_incident_id
        if root is not None and root in facts:
            store(root, analyze(facts[root].facts, now), now)
    if behind:  # the downstream incidents behind their root, as of the batch's latest request
        latest = max(now for _, now in requests)
        for d in behind & facts.keys():
            follower = analyze(facts[d].facts, latest)
            if stored.get(d) != _state(follower):
                store(d, follower, latest)
    if last:
        items = [(i, facts[i], r, now) for i, (r, now) in last.items()]
        await conn.execute(
            UPSERT_MANY,
            [i for i, _, _, _ in items],
            [f.row["company_id"] for _, f, _, _ in items],
            [r.pattern.value for _, _, r, _ in items],
            [r.root_cause for _, _, r, _ in items],
            [r.confidence for _, _, r, _ in items],
            [r.explanation for _, _, r, _ in items],
            [f.suggested for _, f, _, _ in items],
            [r.root_incident_id for _, _, r, _ in items],
            [r.blast_radius for _, _, r, _ in items],
            [orjson.dumps(r.details, default=str).decode() for _, _, r, _ in items],
            [f.row["version"] for _, f, _, _ in items],
            [now for _, _, _, now in items],
            [f.row["alert_count"] for _, f, _, _ in items],
        )
        # (the incident's column matches its stored analysis: they are written together)
        radii = [(i, r.blast_radius) for i, _, r, _ in items if r.blast_radius != initial_radius.get(i, 0)]
        if radii:
            await conn.execute(SET_BLAST_RADIUS, [i for i, _ in radii], [b for _, b in radii])
    await notify_many(conn, list(announced.values()))
    return out


async def analyse_incident(conn: Conn, incident_id: uuid.UUID, now: datetime) -> Analysis | None:
    """Analyse one incident and store the result (and its root's again); None when it is gone."""
    return (await analyse_many(conn, [(incident_id, now)]))[0]


class IncidentAnalysisReaction:
    name = NAME

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        rows = await conn.fetch(INCIDENTS, list({c.incident_id for c in changes}))
        current = {r["id"]: r["version"] for r in rows}
        # A change of an incident that is gone, or that moved on since (a later change analyses it as
        # it is then), is skipped.
        wanted = [
            (c.incident_id, c.at)
            for c in changes
            if c.incident_id in current and current[c.incident_id] <= c.version
        ]
        if wanted:
            await analyse_many(conn, wanted, [r for r in rows if r["id"] in {i for i, _ in wanted}])
        return []


async def reanalyse_stale(pool: Any, now: datetime, limit: int = 200) -> int:
    """Analyse again the open incidents whose analysis is behind (see STALE); how many. Run by the
    sweeper, one process at a time."""
    async with pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(STALE, now - PERSISTENT_AFTER, limit)]
        for incident_id in ids:
            async with conn.transaction():
                await analyse_incident(conn, incident_id, now)
    return len(ids)
