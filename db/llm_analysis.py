"""The `llm-analysis` reaction: an LLM's analysis of an incident, beside the rules', never in the way.

For a change of an incident whose company turned LLM analysis on and whose priority is at least the
threshold, once the rules have analysed it: build the prompt from that company's facts only
(`domain.llm.build_prompt`), and ask the providers in order (Bedrock, then Gemini), each behind its
shared circuit breaker, within the company's monthly token budget, with a timeout. A cached answer
for the same prompt is used as is. A valid answer is stored in `incident_llm_analyses` (what was sent
with it) and announced; an invalid, refused or late one records why there, and the incident keeps
showing the rules' result. A suggested runbook for an incident decided NO_RUNBOOK is offered at once
(`DecisionReaction.take_suggestion`: a run a company admin approves). Ingestion, correlation and
decisions never wait for any of this: it runs in its own reaction loop; a claimed batch settles the changes that need no model with one read, and
each model call has a claim and transaction of its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from db.analysis import RUNBOOKS, analyse_incident
from db.decisions import DecisionReaction
from db.incident_writer import announce
from domain import llm
from domain.ports import Analyser, LlmError, LlmReply
from domain.priority import decayed_score

if TYPE_CHECKING:
    from db.pool import Conn
    from db.reactions import IncidentChange

log = logging.getLogger(__name__)

NAME = "llm-analysis"
DEFAULT_TIMEOUT_SECONDS = 20.0

INCIDENT = """
SELECT i.id, i.company_id, i.asset_id, i.asset_name, i.signature, i.severity, i.status, i.category,
       i.alert_count, i.critical_asset, i.tool_sources, i.priority_base,
       i.first_alert_at, i.last_alert_at, i.created_at, i.version,
       c.llm_analysis_enabled, c.llm_monthly_token_budget,
       a.pattern_type, a.root_cause, a.details
FROM incidents i JOIN companies c ON c.id = i.company_id
LEFT JOIN incident_analyses a ON a.incident_id = i.id
WHERE i.id = $1
"""
ALERTS = """
SELECT signature, severity, tool, message, event_time, status FROM alerts
WHERE incident_id = $1 ORDER BY event_time DESC LIMIT 20
"""
TIMELINE = """
SELECT kind, at, data->>'note' AS note, data->>'reason' AS reason FROM incident_events
WHERE incident_id = $1 ORDER BY id DESC LIMIT 20
"""
NEIGHBOURS = """
SELECT a.name, a.type, CASE WHEN d.asset_id = $2 THEN 'depends on' ELSE 'depended on by' END AS link,
       (SELECT string_agg(i.signature, ', ') FROM incidents i
        WHERE i.company_id = $1 AND i.asset_id = a.id AND i.status <> 'RESOLVED') AS open_incidents
FROM asset_dependencies d
JOIN assets a ON a.company_id = $1 AND a.id = CASE WHEN d.asset_id = $2 THEN d.depends_on_id ELSE d.asset_id END
WHERE d.company_id = $1 AND (d.asset_id = $2 OR d.depends_on_id = $2)
LIMIT 20
"""
INCIDENTS = INCIDENT.replace("WHERE i.id = $1", "WHERE i.id = ANY($1::uuid[])")
USAGE = "SELECT tokens FROM llm_usage WHERE company_id = $1 AND month = $2"
SPEND = """
INSERT INTO llm_usage (company_id, month, tokens, calls) VALUES ($1, $2, $3, 1)
ON CONFLICT (company_id, month) DO UPDATE SET tokens = llm_usage.tokens + $3, calls = llm_usage.calls + 1
"""
CACHED = "SELECT source, model, answer FROM llm_cache WHERE company_id = $1 AND key = $2"
CACHE = """
INSERT INTO llm_cache (company_id, key, source, model, answer) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (company_id, key) DO NOTHING
"""
BREAKER = "SELECT failures, open_until FROM llm_breakers WHERE provider = $1"
SET_BREAKER = """
INSERT INTO llm_breakers (provider, failures, open_until) VALUES ($1, $2, $3)
ON CONFLICT (provider) DO UPDATE SET failures = EXCLUDED.failures, open_until = EXCLUDED.open_until
"""
STORE = """
INSERT INTO incident_llm_analyses (incident_id, company_id, source, model, latency_ms, pattern_type, root_cause,
                                   confidence, explanation, suggested_runbook_id, error, tokens, prompt,
                                   incident_version, analyzed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15)
ON CONFLICT (incident_id) DO UPDATE SET
    source = EXCLUDED.source, model = EXCLUDED.model, latency_ms = EXCLUDED.latency_ms,
    pattern_type = EXCLUDED.pattern_type, root_cause = EXCLUDED.root_cause, confidence = EXCLUDED.confidence,
    explanation = EXCLUDED.explanation, suggested_runbook_id = EXCLUDED.suggested_runbook_id,
    error = EXCLUDED.error, tokens = EXCLUDED.tokens, prompt = EXCLUDED.prompt,
    incident_version = EXCLUDED.incident_version, analyzed_at = EXCLUDED.analyzed_at
"""
# A failed attempt keeps the last valid answer (an older version's) and says why this one failed.
FAILED = """
INSERT INTO incident_llm_analyses (incident_id, company_id, error, tokens, prompt, incident_version, analyzed_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
ON CONFLICT (incident_id) DO UPDATE SET error = EXCLUDED.error, prompt = EXCLUDED.prompt,
    incident_version = EXCLUDED.incident_version, analyzed_at = EXCLUDED.analyzed_at
"""
# While every provider's breaker is open nothing can be asked: the fallback is recorded without a
# prompt being built (the previous prompt, what was last sent, stays).
SKIPPED = """
INSERT INTO incident_llm_analyses (incident_id, company_id, error, tokens, incident_version, analyzed_at)
VALUES ($1, $2, $3, 0, $4, $5)
ON CONFLICT (incident_id) DO UPDATE SET error = EXCLUDED.error,
    incident_version = EXCLUDED.incident_version, analyzed_at = EXCLUDED.analyzed_at
"""


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def prompt_for(conn: Conn, row: Any) -> tuple[dict[str, Any], dict[str, uuid.UUID]]:
    """The prompt for the incident `row`, and the candidate runbooks by name."""
    company_id: uuid.UUID = row["company_id"]
    runbooks = {r["name"]: r["id"] for r in await conn.fetch(RUNBOOKS, company_id, None)}
    neighbours: list[dict[str, Any]] = []
    if row["asset_id"] is not None:
        neighbours = [dict(r) for r in await conn.fetch(NEIGHBOURS, company_id, row["asset_id"])]
    incident = {
        "signature": row["signature"],
        "asset": row["asset_name"],
        "severity": row["severity"],
        "status": row["status"],
        "category": row["category"],
        "alertCount": row["alert_count"],
        "criticalAsset": row["critical_asset"],
        "tools": list(row["tool_sources"] or []),
        "firstAlertAt": row["first_alert_at"].isoformat(),
        "lastAlertAt": row["last_alert_at"].isoformat(),
    }
    alerts = [
        {**dict(a), "event_time": a["event_time"].isoformat()} for a in await conn.fetch(ALERTS, row["id"])
    ]
    timeline = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(e).items() if v is not None}
        for e in await conn.fetch(TIMELINE, row["id"])
    ]
    rules = {"patternType": row["pattern_type"], "rootCause": row["root_cause"]}
    return llm.build_prompt(incident, alerts, timeline, neighbours, sorted(runbooks), rules), runbooks


class LlmAnalysisReaction:
    name = NAME

    def __init__(
        self,
        providers: Sequence[Analyser],
        min_priority: float = llm.DEFAULT_MIN_PRIORITY,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.providers = list(providers)
        self.min_priority = min_priority
        self.timeout = timeout

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        """The changes that need nothing (no provider, LLM analysis off, a later version, a low
        priority: most of them) are done with one read; the others are left to `handle`, one model
        call per claim."""
        if not self.providers:
            return []
        rows = {r["id"]: r for r in await conn.fetch(INCIDENTS, list({c.incident_id for c in changes}))}
        return [c for c in changes if self._wanted(rows.get(c.incident_id), c)]

    def _wanted(self, row: Any, change: IncidentChange) -> bool:
        if row is None or not row["llm_analysis_enabled"] or row["version"] > change.version:
            return False
        score = decayed_score(
            row["priority_base"], row["created_at"], change.at, resolved=row["status"] == "RESOLVED"
        )
        return score >= self.min_priority

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        if not self.providers:
            return
        row = await conn.fetchrow(INCIDENT, change.incident_id)
        if row is None or not self._wanted(row, change):
            return
        if await self._all_breakers_open(conn, row, change.at):
            return
        if row["pattern_type"] is None:  # the rules have not run yet: they come first
            await analyse_incident(conn, change.incident_id, change.at)
            row = await conn.fetchrow(INCIDENT, change.incident_id)
        prompt, runbooks = await prompt_for(conn, row)
        await self.analyse(conn, row, prompt, runbooks, change.at)

    async def analyse(
        self, conn: Conn, row: Any, prompt: dict[str, Any], runbooks: dict[str, uuid.UUID], now: datetime
    ) -> str | None:
        """Try each provider; the source that answered validly, or None (why is stored)."""
        company_id: uuid.UUID = row["company_id"]
        incident_id: uuid.UUID = row["id"]
        reasons: list[str] = []
        spent = 0
        for provider in self.providers:
            key = llm.cache_key(prompt, provider.model)
            cached = await conn.fetchrow(CACHED, company_id, key)
            if cached is not None:
                reply, latency = LlmReply(cached["answer"], cached["model"]), 0
            else:
                state = await conn.fetchrow(BREAKER, provider.source)
                breaker = (
                    llm.BreakerState(state["failures"], state["open_until"]) if state else llm.BreakerState()
                )
                if not breaker.allows(now):
                    reasons.append(f"{provider.source}: breaker open after {breaker.failures} failures")
                    continue
                used = await conn.fetchval(USAGE, company_id, llm.month_of(now)) or 0
                if not llm.within_budget(used, row["llm_monthly_token_budget"]):
                    reasons.append("the company's monthly token budget is spent")
                    break
                started = time.perf_counter()
                try:
                    reply = await provider.complete(llm.SYSTEM_PROMPT, llm.prompt_text(prompt), self.timeout)
                except LlmError as exc:
                    await self._failed(conn, provider, breaker, now)
                    reasons.append(f"{provider.source}: {exc.reason}")
                    continue
                latency = round((time.perf_counter() - started) * 1000)
                tokens = reply.input_tokens + reply.output_tokens
                spent += tokens
                await conn.execute(SPEND, company_id, llm.month_of(now), tokens)
            try:
                answer = llm.parse_answer(reply.text, list(runbooks))
            except llm.InvalidAnswer as exc:
                if cached is None:
                    await self._failed(conn, provider, breaker, now)
                reasons.append(f"{provider.source}: {exc.message}")
                continue
            if cached is None:
                await conn.execute(CACHE, company_id, key, provider.source, reply.model, reply.text)
                await conn.execute(SET_BREAKER, provider.source, 0, None)
            stored_runbook = runbooks.get(answer.suggested_runbook) if answer.suggested_runbook else None
            await conn.execute(
                STORE,
                incident_id,
                company_id,
                provider.source,
                reply.model,
                latency,
                answer.pattern.value,
                answer.root_cause,
                answer.confidence,
                answer.explanation,
                stored_runbook,
                None,
                spent,
                _json(prompt),
                row["version"],
                now,
            )
            await announce(conn, company_id, incident_id)
            if stored_runbook is not None:
                # Decided before this answer came (decisions never wait for it): a suggestion for an
                # incident no runbook matched is taken now, for a company admin to approve.
                await DecisionReaction().take_suggestion(conn, incident_id, now)
            return provider.source
        await conn.execute(
            FAILED,
            incident_id,
            company_id,
            "; ".join(reasons)[:2000],
            spent,
            _json(prompt),
            row["version"],
            now,
        )
        log.warning(
            "LLM analysis fell back to the rules", extra={"incident_id": str(incident_id), "why": reasons}
        )
        return None

    async def _all_breakers_open(self, conn: Conn, row: Any, now: datetime) -> bool:
        """Record the fallback and say so when no provider may be asked now.

        While the providers are down every change would otherwise build its prompt (five reads and a
        JSON document) for nothing, in the worker process that also correlates. A cached answer is not
        looked for meanwhile (its key is the prompt's): the rules' result stands until a breaker closes.
        """
        reasons = []
        for provider in self.providers:
            state = await conn.fetchrow(BREAKER, provider.source)
            breaker = (
                llm.BreakerState(state["failures"], state["open_until"]) if state else llm.BreakerState()
            )
            if breaker.allows(now):
                return False
            reasons.append(f"{provider.source}: breaker open after {breaker.failures} failures")
        await conn.execute(SKIPPED, row["id"], row["company_id"], "; ".join(reasons), row["version"], now)
        return True

    async def _failed(self, conn: Conn, provider: Analyser, breaker: llm.BreakerState, now: datetime) -> None:
        after = llm.after_failure(breaker, now)
        await conn.execute(SET_BREAKER, provider.source, after.failures, after.open_until)
