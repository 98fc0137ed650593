"""The `decisions` reaction: a new incident, one whose severity rose, or one that reopened gets a
decision (`domain.decisions.decide`), stored as the incident's latest, on its timeline, and acted on
in the same transaction: the execution is enqueued (runs now), an approval is requested (a company
admin approves), or the incident escalates to a technician with the reason. It reads the analysis
where there is one: a downstream incident of a cascade whose root is open follows the root
(`cascade_roots`, read as the analysis reads it), and is decided again by the sweeper once it outlives
the root (`release_followers`); an LLM analysis's suggested runbook stands in when none matches, for
an approval, and an answer that comes after the decision is taken then (`take_suggestion`).

For a claimed batch it reads what the rule needs in one statement (each incident with its asset,
company settings, AWS settings, latest decision, whether a run is under way, and the live runbooks
that could fit) and stores the decisions with their timeline entries in another, so it keeps up with
the incident rate. A change handled twice decides once: the stored decision names the incident
version it answered.

No SQLAlchemy here (the worker process holds none): the API reads decisions and approval requests
through `db.repositories.remediation`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from db import notifications
from db.analysis import cascade_roots
from db.events import BusEvent, topic
from db.executions import ExecutionRequest, enqueue_execution
from db.incident_writer import add_timeline, apply_action
from db.reactions import IncidentChange
from db.runbook_folds import batch_folds, incident_signatures_of
from domain.alerts import Severity
from domain.analysis import Related
from domain.decisions import (
    CascadeRoot,
    Decision,
    DecisionAction,
    DecisionIncident,
    DecisionReason,
    DecisionRunbook,
    RemediationSettings,
    Suggestion,
    decide,
)
from domain.errors import Conflict
from domain.incidents import DECISION_ACTOR, IncidentAction, IncidentEventKind, IncidentStatus
from domain.notifications import NotificationKind
from domain.runbooks import (
    SSM_DOCUMENT,
    Platform,
    RunbookFolds,
    RunbookParameter,
    best_runbook,
    render,
    resolve_values,
)

if TYPE_CHECKING:
    from db.pool import Conn

REACTION_NAME = "decisions"

# One round trip for a batch: each incident with its asset, company settings, AWS settings, latest decision and
# whether a run is under way, each row joined with one live runbook the company can use (its own and
# the global library, current version, of the asset's platform): the candidates `best_runbook` ranks.
# No candidate: one row whose rb_ columns are null.
FACTS = """
WITH f AS (
    SELECT i.id, i.company_id, i.asset_id, i.status, i.severity, i.signature, i.asset_name, i.critical_asset,
           i.priority_base, i.signatures, i.canonical_signature, i.version, i.created_at,
           c.correlation_window_minutes AS window_minutes,
           -- only an asset that depends on another can be downstream of a cascade
           EXISTS (SELECT FROM asset_dependencies x WHERE x.company_id = i.company_id AND x.asset_id = i.asset_id)
               AS depends,
           -- an LLM analysis's suggested runbook (used when no runbook matches the signature)
           l.source AS llm_source, l.suggested_runbook_id AS llm_runbook_id,
           EXISTS (SELECT FROM signature_aliases g WHERE g.company_id = i.company_id) AS has_aliases, a.cloud_instance_id, a.platform, coalesce(a.is_critical, false) AS asset_critical,
           c.auto_remediation_enabled, c.approval_on_critical_assets, c.approval_expiry_minutes,
           -- a demo company's runs go through the simulated executor: no AWS needed
           c.demo OR EXISTS (SELECT 1 FROM company_aws_settings s WHERE s.company_id = i.company_id)
               AS aws_configured,
           d.decided_for_version,
           EXISTS (SELECT 1 FROM remediation_approvals p WHERE p.incident_id = i.id AND p.status = 'PENDING')
           OR EXISTS (SELECT 1 FROM remediation_executions e WHERE e.incident_id = i.id AND e.phase <> 'done')
               AS busy
    FROM incidents i
    JOIN companies c ON c.id = i.company_id AND c.deleted_at IS NULL
    LEFT JOIN assets a ON a.id = i.asset_id AND a.company_id = i.company_id
    LEFT JOIN incident_decisions d ON d.incident_id = i.id
    LEFT JOIN incident_llm_analyses l ON l.incident_id = i.id AND l.source IS NOT NULL
    WHERE i.id = ANY($1::uuid[])
)
SELECT f.*, rb.* FROM f LEFT JOIN LATERAL (
    SELECT r.id AS rb_id, r.company_id AS rb_company_id, r.archived_at AS rb_archived_at,
           v.version AS rb_version, v.name AS rb_name, v.platform AS rb_platform, v.risk AS rb_risk,
           v.signatures AS rb_signatures, v.signature_patterns AS rb_signature_patterns,
           v.auto_approve AS rb_auto_approve, v.commands AS rb_commands, v.parameters::text AS rb_parameters,
           v.health_check AS rb_health_check, v.timeout_seconds AS rb_timeout_seconds
    FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version
    WHERE (r.company_id IS NULL OR r.company_id = f.company_id) AND r.archived_at IS NULL
      AND v.platform = f.platform AND f.status <> 'RESOLVED'
) rb ON true
"""
# The decisions of a batch (of distinct incidents), each with its DECIDED timeline entry and its
# incident's announcement (`Incident.decision` changed: a live view shows it, and any approval request
# made with it, at commit), in one statement.
STORE_MANY = """
WITH d AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::bool[], $7::text[],
                         $8::float8[], $9::text[], $10::timestamptz[], $11::int[], $12::text[], $13::text[],
                         $14::uuid[])
        d(incident_id, company_id, action, runbook_id, runbook_version, approval_required, reason,
          priority_score, explanation, decided_at, decided_for_version, data, notice, root_incident_id)
), stored AS (
    INSERT INTO incident_decisions (incident_id, company_id, action, runbook_id, runbook_version,
        approval_required, reason, priority_score, explanation, decided_at, decided_for_version,
        root_incident_id)
    SELECT incident_id, company_id, action, runbook_id, runbook_version, approval_required, reason,
           priority_score, explanation, decided_at, decided_for_version, root_incident_id FROM d
    ON CONFLICT (incident_id) DO UPDATE SET
        action = EXCLUDED.action, runbook_id = EXCLUDED.runbook_id, runbook_version = EXCLUDED.runbook_version,
        approval_required = EXCLUDED.approval_required, reason = EXCLUDED.reason,
        priority_score = EXCLUDED.priority_score, explanation = EXCLUDED.explanation,
        decided_at = EXCLUDED.decided_at, decided_for_version = EXCLUDED.decided_for_version,
        root_incident_id = EXCLUDED.root_incident_id
    RETURNING incident_id
), entry AS (
    INSERT INTO incident_events (company_id, incident_id, kind, at, actor_id, data)
    SELECT d.company_id, d.incident_id, 'DECIDED', d.decided_at, NULL, d.data::jsonb
    FROM stored JOIN d USING (incident_id)
    RETURNING incident_id
)
SELECT pg_notify('aw_events', d.notice) FROM entry JOIN d USING (incident_id)
"""
# Followers whose root incident resolved a while ago and that are still open (`release_followers`).
RELEASED = """
SELECT d.incident_id, i.company_id, i.version, i.status, i.severity
FROM incident_decisions d
JOIN incidents r ON r.id = d.root_incident_id
JOIN incidents i ON i.id = d.incident_id
JOIN companies c ON c.id = i.company_id AND c.deleted_at IS NULL
WHERE d.action = 'FOLLOW_ROOT_CAUSE' AND r.status = 'RESOLVED' AND r.resolved_at <= $1
  AND i.status <> 'RESOLVED'
ORDER BY d.decided_at
LIMIT $2
FOR UPDATE OF d SKIP LOCKED
"""
# An open incident decided NO_RUNBOOK (`take_suggestion`), locked against a decision beside this one.
UNMATCHED = """
SELECT d.incident_id, i.company_id, i.version, i.status, i.severity
FROM incident_decisions d JOIN incidents i ON i.id = d.incident_id
WHERE d.incident_id = $1 AND d.reason = 'NO_RUNBOOK' AND i.status <> 'RESOLVED'
FOR UPDATE OF d
"""
ROOT_RESOLVED = "ROOT_RESOLVED"
ANALYSIS_SUGGESTED = "ANALYSIS_SUGGESTED"
# How long an incident that followed a root cause may outlive the root's resolve before it is decided
# again: its monitor's own resolve usually arrives within a check interval or two.
ROOT_RESOLVED_GRACE = timedelta(minutes=5)
INCIDENT_SHARE = "SELECT status FROM incidents WHERE id = $1 FOR SHARE"
REQUEST_APPROVAL = """
INSERT INTO remediation_approvals (id, company_id, incident_id, runbook_id, runbook_version, asset_ids,
    instance_ids, parameters, requested_by, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)
ON CONFLICT (incident_id) WHERE status = 'PENDING' AND incident_id IS NOT NULL DO NOTHING
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class CandidateRunbook:
    """A runbook's current version as the reaction reads it (what `best_runbook` ranks, and what an
    execution freezes)."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    archived_at: datetime | None
    version: int
    name: str
    platform: str
    risk: str
    signatures: Sequence[str]
    signature_patterns: Sequence[str]
    auto_approve: bool
    commands: Sequence[str]
    parameters: tuple[RunbookParameter, ...]
    health_check: str | None
    timeout_seconds: int

    def missing_parameters(self) -> list[str]:
        """Parameters with no default: a decision cannot fill them in, so it cannot run unattended."""
        return [p.name for p in self.parameters if p.default is None]


def _candidate(r: Any, prefix: str = "") -> CandidateRunbook:
    return CandidateRunbook(
        id=r[prefix + "id"],
        company_id=r[prefix + "company_id"],
        archived_at=r[prefix + "archived_at"],
        version=r[prefix + "version"],
        name=r[prefix + "name"],
        platform=r[prefix + "platform"],
        risk=r[prefix + "risk"],
        signatures=r[prefix + "signatures"],
        signature_patterns=r[prefix + "signature_patterns"],
        auto_approve=r[prefix + "auto_approve"],
        commands=r[prefix + "commands"],
        parameters=tuple(RunbookParameter.from_json(p) for p in orjson.loads(r[prefix + "parameters"])),
        health_check=r[prefix + "health_check"],
        timeout_seconds=r[prefix + "timeout_seconds"],
    )


_RANK = {s.value: s.rank for s in Severity}


def wants_decision(change: IncidentChange) -> bool:
    """A new incident, an open one whose severity rose, or one that reopened."""
    if change.after_status == IncidentStatus.RESOLVED.value:
        return False
    if change.kind == "CREATED" or change.before_status is None:
        return True
    if change.before_status == IncidentStatus.RESOLVED.value:
        return True
    return _severity_rose(change)


def _severity_rose(change: IncidentChange) -> bool:
    return (
        change.kind != "CREATED"
        and change.before_severity is not None
        and _RANK.get(change.after_severity.lower(), -1) > _RANK.get(change.before_severity.lower(), 99)
    )


async def store_decisions(
    conn: Conn,
    decisions: Sequence[tuple[uuid.UUID, uuid.UUID, Decision, datetime, int, Mapping[str, Any]]],
) -> None:
    """Each incident's latest decision (incident, company, decision, now, version it answers, the
    DECIDED timeline entry's `data`), in one statement; at most one decision per incident."""
    rbs = [d.runbook for _, _, d, _, _, _ in decisions]
    await conn.execute(
        STORE_MANY,
        [i for i, _, _, _, _, _ in decisions],
        [c for _, c, _, _, _, _ in decisions],
        [d.action.value for _, _, d, _, _, _ in decisions],
        [rb.id if rb else None for rb in rbs],
        [rb.version if rb else None for rb in rbs],
        [d.approval_required for _, _, d, _, _, _ in decisions],
        [d.reason.value for _, _, d, _, _, _ in decisions],
        [d.priority_score for _, _, d, _, _, _ in decisions],
        [d.explanation for _, _, d, _, _, _ in decisions],
        [now for _, _, _, now, _, _ in decisions],
        [v for _, _, _, _, v, _ in decisions],
        [orjson.dumps(dict(data), default=str).decode() for _, _, _, _, _, data in decisions],
        [
            BusEvent(topic(c, "incidents"), kind="UPDATED", id=str(i)).to_json()
            for i, c, _, _, _, _ in decisions
        ],
        [d.root_incident_id for _, _, d, _, _, _ in decisions],
    )


def decision_data(decision: Decision) -> dict[str, Any]:
    """The DECIDED timeline entry's facts."""
    rb = decision.runbook
    return {
        "actor": DECISION_ACTOR,
        "action": decision.action.value,
        "reason": decision.reason.value,
        "approvalRequired": decision.approval_required,
        "priorityScore": decision.priority_score,
        "explanation": decision.explanation,
        "runbookId": str(rb.id) if rb else None,
        "runbookVersion": rb.version if rb else None,
        "runbookName": rb.name if rb else None,
        "rootIncidentId": str(decision.root_incident_id) if decision.root_incident_id else None,
    }


class DecisionReaction:
    """Decides for each incident change that wants one (see the module docstring)."""

    name = REACTION_NAME
    # A change into RESOLVED never wants a decision (`wants_decision`): the outbox keeps it out.
    after_statuses = tuple(s.value for s in IncidentStatus if s is not IncidentStatus.RESOLVED)

    def __init__(self, clock: Any = None) -> None:
        # `clock()` gives "now"; the change's own time by default, so a replay decides the same.
        self.clock = clock

    async def handle(self, conn: Conn, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(self, conn: Conn, changes: Sequence[IncidentChange]) -> list[IncidentChange]:
        """The facts of the batch's incidents in one read and their decisions in one write; what each
        decision does next (a run, an approval request, an escalation) follows per incident. Two
        changes of one incident go in successive rounds, the later seeing what the earlier did."""
        rounds: list[list[IncidentChange]] = []
        seen: dict[uuid.UUID, int] = {}
        for change in changes:
            if not wants_decision(change):
                continue
            n = seen[change.incident_id] = seen.get(change.incident_id, -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(change)
        for batch in rounds:
            await self._decide(conn, batch)
        return []

    async def release_followers(self, conn: Conn, now: datetime, limit: int = 100) -> int:
        """Decide again the open incidents that followed a root cause whose incident resolved at least
        ROOT_RESOLVED_GRACE ago (how many): the fix upstream did not clear them, so they are problems
        of their own now (or follow another open root). Claimed with SKIP LOCKED, in the caller's
        transaction."""
        rows = await conn.fetch(RELEASED, now - ROOT_RESOLVED_GRACE, limit)
        if rows:
            await self._decide(conn, [_again(r, ROOT_RESOLVED, now) for r in rows], trigger=ROOT_RESOLVED)
        return len(rows)

    async def take_suggestion(self, conn: Conn, incident_id: uuid.UUID, now: datetime) -> bool:
        """Decide again an open incident decided NO_RUNBOOK now that an LLM analysis of it suggested a
        runbook (stored in this transaction): whether the suggestion was taken (a run that waits for a
        company admin's approval). One the asset cannot run changes nothing (no new decision)."""
        row = await conn.fetchrow(UNMATCHED, incident_id)
        if row is None:
            return False
        return bool(
            await self._decide(conn, [_again(row, ANALYSIS_SUGGESTED, now)], trigger=ANALYSIS_SUGGESTED)
        )

    async def _decide(self, conn: Conn, changes: list[IncidentChange], trigger: str | None = None) -> int:
        """Decide for `changes` (how many decisions were stored); `trigger` (ROOT_RESOLVED,
        ANALYSIS_SUGGESTED) decides again whatever was decided before."""
        by_incident: dict[uuid.UUID, list[Any]] = {}
        for r in await conn.fetch(FACTS, [c.incident_id for c in changes]):
            by_incident.setdefault(r["id"], []).append(r)
        folds = await batch_folds(conn, [rows[0] for rows in by_incident.values()])
        # The cascades the open ones are downstream of, named as the analysis names them (read here,
        # not from the stored analysis, which a reaction beside this one may not have written yet).
        roots = await cascade_roots(
            conn,
            [
                rows[0]
                for rows in by_incident.values()
                if rows[0]["depends"] and rows[0]["status"] != IncidentStatus.RESOLVED.value
            ],
        )
        decided: list[
            tuple[IncidentChange, Any, Decision, CandidateRunbook | None, bool, datetime, dict[str, Any]]
        ] = []
        for change in changes:
            rows = by_incident.get(change.incident_id, [])
            facts = rows[0] if rows else None
            if facts is None or facts["status"] == IncidentStatus.RESOLVED.value:
                continue  # gone, or resolved meanwhile: nothing left to decide
            decided_for = facts["decided_for_version"]
            if trigger is None and decided_for is not None and decided_for >= change.version:
                continue  # this change (or a later one) was decided already
            now: datetime = self.clock() if self.clock else change.at
            decision, best = self._decision(
                facts,
                [_candidate(r, "rb_") for r in rows if r["rb_id"] is not None],
                folds[facts["company_id"]],
                roots.get(change.incident_id),
            )
            if trigger == ANALYSIS_SUGGESTED and decision.reason is not DecisionReason.SUGGESTED_BY_ANALYSIS:
                continue  # the suggestion is not one it can run: the decision stands as it was
            data = decision_data(decision)
            if trigger is not None:
                data["trigger"] = trigger
            elif _severity_rose(change):
                data["trigger"] = "SEVERITY_RAISED"
            elif change.before_status == IncidentStatus.RESOLVED.value:
                data["trigger"] = "REOPENED"
            else:
                data["trigger"] = "CREATED"
            busy = bool(facts["busy"]) and decision.action.value == "EXECUTE_RUNBOOK"
            if busy:
                data["note"] = "a run of this incident is already under way or awaiting approval"
            decided.append((change, facts, decision, best, busy, now, data))
        if not decided:
            return 0
        await store_decisions(
            conn,
            [
                (c.incident_id, f["company_id"], d, now, c.version, data)
                for c, f, d, _, _, now, data in decided
            ],
        )
        for change, facts, decision, best, busy, now, _ in decided:
            if not busy:
                await self._act(conn, change, facts, decision, best, now)
        return len(decided)

    @staticmethod
    def _decision(
        facts: Any, candidates: list[CandidateRunbook], folds: RunbookFolds, root: Related | None = None
    ) -> tuple[Decision, CandidateRunbook | None]:
        company_id: uuid.UUID = facts["company_id"]
        platform = facts["platform"]
        best = best_runbook(candidates, company_id, incident_signatures_of(facts, folds), platform, folds)
        # An LLM's pick counts only if it is one of the candidates: live, the company's or global, of
        # the asset's platform.
        picked = next((c for c in candidates if c.id == facts["llm_runbook_id"]), None)
        incident = DecisionIncident(
            signature=facts["signature"],
            severity=facts["severity"],
            asset_name=facts["asset_name"],
            instance_id=facts["cloud_instance_id"],
            platform=platform,
            critical_asset=bool(facts["critical_asset"] or facts["asset_critical"]),
            priority_base=float(facts["priority_base"] or 0.0),
            root_cause=CascadeRoot(root.incident_id, root.asset_name, root.signature, root.depth)
            if root is not None
            else None,
        )
        settings = RemediationSettings(
            auto_remediation_enabled=facts["auto_remediation_enabled"],
            approval_on_critical_assets=facts["approval_on_critical_assets"],
            approval_expiry_minutes=facts["approval_expiry_minutes"],
        )
        suggestion = (
            Suggestion(_decision_runbook(picked), facts["llm_source"]) if best is None and picked else None
        )
        decision = decide(
            incident,
            _decision_runbook(best) if best else None,
            settings,
            bool(facts["aws_configured"]),
            suggestion,
        )
        return decision, best or picked

    async def _act(
        self,
        conn: Conn,
        change: IncidentChange,
        facts: Any,
        decision: Decision,
        best: CandidateRunbook | None,
        now: datetime,
    ) -> None:
        """What the stored decision does: escalate, ask for approval, or start the run (following a
        root cause does nothing: the root's decision acts)."""
        if decision.action is DecisionAction.FOLLOW_ROOT_CAUSE:
            return
        company_id: uuid.UUID = facts["company_id"]
        if decision.action.value == "ESCALATE_TO_TECHNICIAN":
            if facts["status"] != IncidentStatus.NEW.value:
                return  # a technician has it already (acknowledged, working, waiting): the timeline says why
            await apply_action(
                conn,
                change.incident_id,
                IncidentAction.ESCALATE,
                DECISION_ACTOR,
                now,
                note=decision.explanation,
                data={"reason": decision.reason.value},
            )
            return
        assert best is not None
        asset_id = facts["asset_id"]
        instance_id: str = facts["cloud_instance_id"]
        if decision.approval_required:
            await request_approval(
                conn,
                company_id=company_id,
                incident_id=change.incident_id,
                runbook=best,
                asset_ids=[asset_id],
                instance_ids=[instance_id],
                parameters={},
                requested_by=DECISION_ACTOR,
                now=now,
                expiry_minutes=facts["approval_expiry_minutes"],
                explanation=decision.explanation,
            )
            return
        await start_execution(
            conn,
            company_id=company_id,
            incident_id=change.incident_id,
            runbook=best,
            asset_ids=[asset_id],
            instance_ids=[instance_id],
            parameters={},
            started_by=DECISION_ACTOR,
            now=now,
        )


def _again(row: Any, kind: str, now: datetime) -> IncidentChange:
    """The change a decision made again answers: the incident as it is (`incident_id`, `company_id`,
    `version`, `status`, `severity`), nothing changed."""
    return IncidentChange(
        id=0,
        company_id=row["company_id"],
        incident_id=row["incident_id"],
        version=row["version"],
        kind=kind,
        before_status=row["status"],
        after_status=row["status"],
        before_severity=row["severity"],
        after_severity=row["severity"],
        actor=DECISION_ACTOR,
        at=now,
        attempt=1,
    )


async def release_followers(pool: Any, now: datetime) -> int:
    """`DecisionReaction.release_followers` in a transaction of its own; run by the sweeper."""
    async with pool.acquire() as conn, conn.transaction():
        return await DecisionReaction().release_followers(conn, now)


def _decision_runbook(runbook: CandidateRunbook) -> DecisionRunbook:
    return DecisionRunbook(
        runbook.id,
        runbook.version,
        runbook.name,
        runbook.risk,
        runbook.auto_approve,
        tuple(runbook.missing_parameters()),
    )


def execution_request(
    *,
    company_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    runbook: CandidateRunbook,
    asset_ids: Sequence[uuid.UUID],
    instance_ids: Sequence[str],
    parameters: Mapping[str, Any],
    started_by: str,
    approval_id: uuid.UUID | None = None,
) -> ExecutionRequest:
    """The frozen run of `runbook` (commands rendered with `parameters`, or InvalidInput)."""
    platform = Platform(runbook.platform)
    values = resolve_values(runbook.parameters, parameters)
    commands = render(runbook.commands, runbook.parameters, values, platform)
    health = (
        render([runbook.health_check], runbook.parameters, values, platform)[0]
        if runbook.health_check
        else None
    )
    return ExecutionRequest(
        company_id=company_id,
        runbook_id=runbook.id,
        runbook_version=runbook.version,
        instance_ids=list(instance_ids),
        document=SSM_DOCUMENT[platform],
        commands=commands,
        timeout_seconds=runbook.timeout_seconds,
        started_by=started_by,
        health_check=health,
        incident_id=incident_id,
        approval_id=approval_id,
        asset_ids=[a for a in asset_ids if a is not None],
        parameters=values,
    )


async def start_execution(
    conn: Conn,
    *,
    company_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    runbook: CandidateRunbook,
    asset_ids: Sequence[uuid.UUID],
    instance_ids: Sequence[str],
    parameters: Mapping[str, Any],
    started_by: str,
    now: datetime,
    approval_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    request = execution_request(
        company_id=company_id,
        incident_id=incident_id,
        runbook=runbook,
        asset_ids=asset_ids,
        instance_ids=instance_ids,
        parameters=parameters,
        started_by=started_by,
        approval_id=approval_id,
    )
    return await enqueue_execution(conn, request, now)


async def request_approval(
    conn: Conn,
    *,
    company_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    runbook: CandidateRunbook,
    asset_ids: Sequence[uuid.UUID],
    instance_ids: Sequence[str],
    parameters: Mapping[str, Any],
    requested_by: str,
    now: datetime,
    expiry_minutes: int,
    explanation: str,
    actor_id: uuid.UUID | None = None,
    strict: bool = False,
) -> uuid.UUID | None:
    """A PENDING request (its id), its timeline entry and the company admins' notification; None
    when the incident already has a pending request, or resolved (nothing written); `strict` raises
    Conflict instead (APPROVAL_PENDING, INCIDENT_RESOLVED), for a person, who is told why."""
    # Checked now (InvalidInput), so an approver never approves a run that cannot render.
    values = resolve_values(runbook.parameters, parameters)
    if incident_id is not None:
        # Locked till commit: a resolve racing this request waits for it (and its withdrawal reaction
        # then sees the request), or came first and there is nothing left to ask for.
        status = await conn.fetchval(INCIDENT_SHARE, incident_id)
        if status == IncidentStatus.RESOLVED.value:
            if strict:
                raise Conflict(
                    "the incident is resolved: there is nothing left to approve a run for",
                    field="incidentId",
                    code="INCIDENT_RESOLVED",
                )
            return None
    approval_id = uuid.uuid4()
    stored: uuid.UUID | None = await conn.fetchval(
        REQUEST_APPROVAL,
        approval_id,
        company_id,
        incident_id,
        runbook.id,
        runbook.version,
        [a for a in asset_ids if a is not None],
        list(instance_ids),
        orjson.dumps(values).decode(),
        requested_by,
        now,
        now + timedelta(minutes=expiry_minutes),
    )
    if stored is None:
        if strict:
            raise Conflict(
                "the incident already has a run waiting for approval",
                field="incidentId",
                code="APPROVAL_PENDING",
            )
        return None
    if incident_id is not None:
        await add_timeline(
            conn,
            company_id,
            incident_id,
            IncidentEventKind.APPROVAL_REQUESTED,
            now,
            {
                "actor": requested_by,
                "approvalId": str(stored),
                "runbookId": str(runbook.id),
                "runbookVersion": runbook.version,
                "runbookName": runbook.name,
                "expiresAt": (now + timedelta(minutes=expiry_minutes)).isoformat(),
            },
            actor_id=actor_id,
        )
    await notifications.enqueue(
        conn,
        company_id=company_id,
        user_ids=await notifications.company_admins(conn, company_id),
        kind=NotificationKind.APPROVAL_REQUESTED,
        subject=f"Approval needed: {runbook.name}",
        body=explanation,
        now=now,
        incident_id=incident_id,
        # The email carries the decision's explanation (`domain.notifications.facts_from_data`).
        data={"approvalId": str(stored), "runbookId": str(runbook.id), "explanation": explanation},
        dedup_key=f"approval:{stored}",
    )
    return stored


VERSION = """
SELECT r.id, r.company_id, r.archived_at, v.version, v.name, v.platform, v.risk, v.signatures,
       v.signature_patterns, v.auto_approve, v.commands, v.parameters::text AS parameters, v.health_check,
       v.timeout_seconds
FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id
WHERE r.id = $1 AND v.version = $2
"""


async def runbook_version(conn: Conn, runbook_id: uuid.UUID, version: int) -> CandidateRunbook | None:
    """One version of a runbook as an execution freezes it."""
    row = await conn.fetchrow(VERSION, runbook_id, version)
    return _candidate(row) if row else None
