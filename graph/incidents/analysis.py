"""`Incident.analysis`: the incident's pattern, likely root cause and explanation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from db import tables
from domain.analysis import AnalysisSource as DomainSource
from domain.analysis import PatternType as DomainPattern
from domain.errors import NotFound
from domain.llm import check_monthly_budget, month_of
from domain.rbac import Permission
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    UserError,
    from_global_id,
    mutate,
    now,
    require_principal,
    to_global_id,
)
from graph.remediation.types import Runbook


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
    from graph.remediation.decisions import load_runbook

    return await load_runbook(info, root._row.suggested_runbook_id)


async def _prompt(root: IncidentAnalysis, info: strawberry.Info) -> JSON | None:
    llm_row = root._llm
    if llm_row is None or llm_row.prompt is None:
        return None
    principal = info.context.principal
    if principal is None or not principal.can(Permission.COMPANY_SETTINGS, llm_row.company_id):
        return None
    return llm_row.prompt  # type: ignore[no-any-return]


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
    fallback_reason: str | None = strawberry.field(
        description="Why the rules' result is shown although the company uses LLM analysis (the LLM's "
        "answer was invalid, refused, late, over budget, or its breaker is open); null otherwise."
    )
    prompt: JSON | None = strawberry.field(
        resolver=_prompt,
        description="What was sent to the LLM for this analysis (the company's admins only; null for the rules).",
    )
    suggested_runbook: Runbook | None = strawberry.field(
        resolver=_suggested_runbook, description="The runbook that fits, where there is one."
    )
    _row: strawberry.Private[Any]
    _llm: strawberry.Private[Any] = None


def analysis_type(
    row: tables.IncidentAnalysis, llm_row: tables.IncidentLlmAnalysis | None = None
) -> IncidentAnalysis:
    """The LLM's answer where one passed validation, else the rules' (with why, when the LLM failed)."""
    if llm_row is not None and llm_row.source is not None and llm_row.pattern_type is not None:
        stale = llm_row.error  # a later attempt failed: the last valid answer stays, saying so
        return IncidentAnalysis(
            pattern_type=PatternType(llm_row.pattern_type),
            root_cause=llm_row.root_cause or row.root_cause,
            confidence=llm_row.confidence if llm_row.confidence is not None else row.confidence,
            explanation=llm_row.explanation or row.explanation,
            source=AnalysisSource(llm_row.source),
            model=llm_row.model,
            latency_ms=llm_row.latency_ms,
            blast_radius=row.blast_radius,
            analyzed_at=llm_row.analyzed_at,
            fallback_reason=stale,
            _row=_RunbookOf(llm_row.suggested_runbook_id),
            _llm=llm_row,
        )
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
        fallback_reason=llm_row.error if llm_row is not None else None,
        _row=row,
        _llm=llm_row,
    )


class _RunbookOf:
    """What `suggestedRunbook` reads: the runbook the LLM named."""

    def __init__(self, suggested_runbook_id: Any) -> None:
        self.suggested_runbook_id = suggested_runbook_id


# ---- per-company LLM analysis settings -----------------------------------------------------------


@strawberry.type(description="Whether a company's incidents are also analysed by an LLM, and its budget.")
class AnalysisSettings:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")
    llm_enabled: bool = strawberry.field(description="Whether its incidents go to the LLM (off by default).")
    monthly_token_budget: int = strawberry.field(description="Tokens a month its LLM analyses may use.")
    tokens_used_this_month: int = strawberry.field(
        description="Tokens used since the 1st of this month (UTC)."
    )
    providers: list[AnalysisSource] = strawberry.field(
        description="The LLMs this server is configured with, in the order they are tried."
    )


async def _settings(info: strawberry.Info, uow: Any, company: tables.Company) -> AnalysisSettings:
    return AnalysisSettings(
        company_id=to_global_id("Company", company.id),
        llm_enabled=company.llm_analysis_enabled,
        monthly_token_budget=company.llm_monthly_token_budget,
        tokens_used_this_month=await uow.analyses.tokens_used(company.id, month_of(now(info))),
        providers=[AnalysisSource(a.source) for a in info.context.services.analysers],
    )


async def analysis_settings(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of the company.")],
) -> AnalysisSettings | None:
    require_principal(info)
    try:
        key = from_global_id(company_id, "Company", field="companyId")
    except NotFound:
        return None
    uow: Any = await info.context.read()
    company = await uow.companies.get(key) if key is not None else None
    if company is None or not uow.principal.can(Permission.COMPANY_SETTINGS, company.id):
        return None
    return await _settings(info, uow, company)


@strawberry.input(description="A company's LLM analysis settings; omitted fields stay as they are.")
class CompanyAnalysisUpdateInput:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")
    llm_enabled: bool | None = strawberry.field(
        default=None, description="Send its incidents to the LLM too."
    )
    monthly_token_budget: int | None = strawberry.field(
        default=None, description="Tokens a month (0 to 100,000,000); 0 stops LLM calls."
    )


@strawberry.type(description="Result of `companyAnalysisUpdate`.")
class CompanyAnalysisUpdatePayload:
    settings: AnalysisSettings | None = strawberry.field(default=None, description="As stored now.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_analysis_update(
    info: strawberry.Info,
    input: Annotated[CompanyAnalysisUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyAnalysisUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        changes: dict[str, Any] = {}
        if input.llm_enabled is not None:
            changes["llm_analysis_enabled"] = input.llm_enabled
        if input.monthly_token_budget is not None:
            changes["llm_monthly_token_budget"] = check_monthly_budget(input.monthly_token_budget)
        company = await uow.companies.update_settings(company_id, "company.analysis", **changes)
        return {"settings": await _settings(info, uow, company)}

    return await mutate(info, work, CompanyAnalysisUpdatePayload)
