"""`Incident.analysis`: the incident's pattern, likely root cause and explanation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from db import tables
from domain.analysis import AnalysisSource as DomainSource
from domain.analysis import PatternType as DomainPattern
from graph.incidents.loaders import loaders_for
from graph.remediation.types import Runbook, runbook_type


@strawberry.enum(description="What kind of problem an incident is.")
class PatternType(enum.Enum):
    ALERT_STORM = strawberry.enum_value(
        DomainPattern.ALERT_STORM.value,
        description="A burst of alerts on one incident, or one signature on many assets at once.",
    )
    FLAPPING = strawberry.enum_value(DomainPattern.FLAPPING.value, description="Fires and clears repeatedly.")
    CYCLIC = strawberry.enum_value(
        DomainPattern.CYCLIC.value,
        description="Recurs at a regular period (a scheduled job is the usual cause).",
    )
    PERSISTENT = strawberry.enum_value(
        DomainPattern.PERSISTENT.value, description="Has been firing for hours without clearing."
    )
    CASCADING_FAILURE = strawberry.enum_value(
        DomainPattern.CASCADING_FAILURE.value,
        description="Part of failures on assets linked by dependencies: the root or one of its consequences.",
    )
    ISOLATED = strawberry.enum_value(
        DomainPattern.ISOLATED.value, description="A single problem, none of the above."
    )


@strawberry.enum(description="Which analyser wrote an analysis.")
class AnalysisSource(enum.Enum):
    RULES = strawberry.enum_value(DomainSource.RULES.value, description="The built-in, deterministic rules.")
    BEDROCK = strawberry.enum_value(
        DomainSource.BEDROCK.value, description="An AWS Bedrock model's validated answer."
    )
    GEMINI = strawberry.enum_value(
        DomainSource.GEMINI.value, description="A Google Gemini model's validated answer."
    )


async def _suggested_runbook(root: IncidentAnalysis, info: strawberry.Info) -> Runbook | None:
    if root._row.suggested_runbook_id is None:
        return None
    uow: Any = (await loaders_for(info)).uow
    found = await uow.runbooks.get_current(root._row.suggested_runbook_id)
    return runbook_type(*found) if found else None


@strawberry.type(description="What an incident is and what likely caused it, in plain words.")
class IncidentAnalysis:
    pattern_type: PatternType = strawberry.field(description="The kind of problem.")
    root_cause: str = strawberry.field(description="The likely cause, in a phrase.")
    confidence: float = strawberry.field(description="How sure the analyser is, 0 to 1.")
    explanation: str = strawberry.field(description="Two or three sentences a technician reads first.")
    source: AnalysisSource = strawberry.field(description="Which analyser wrote it.")
    model: str | None = strawberry.field(description="The LLM's model id (null for the rules).")
    latency_ms: int | None = strawberry.field(description="How long the LLM took (null for the rules).")
    blast_radius: int = strawberry.field(
        description="On a cascade's root: how many downstream assets are hit (0 otherwise)."
    )
    analyzed_at: datetime = strawberry.field(description="When it was written.")
    suggested_runbook: Runbook | None = strawberry.field(
        resolver=_suggested_runbook, description="The runbook that fits, where there is one."
    )
    _row: strawberry.Private[Any]


def analysis_type(row: tables.IncidentAnalysis) -> IncidentAnalysis:
    return IncidentAnalysis(
        pattern_type=PatternType(row.pattern_type),
        root_cause=row.root_cause,
        confidence=row.confidence,
        explanation=row.explanation,
        source=AnalysisSource(row.source),
        model=row.model,
        latency_ms=row.latency_ms,
        blast_radius=row.blast_radius,
        analyzed_at=row.analyzed_at,
        _row=row,
    )
