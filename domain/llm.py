"""LLM analysis, the rules around it: what a prompt may carry, the answer's strict contract, the
circuit breaker, the monthly token budget and the cache key. No I/O: `db.llm_analysis` applies them
and `adapters.llm` talks to Bedrock and Gemini.

A prompt carries only one incident's company's facts (the incident, its asset, recent alerts and
timeline, the assets around it, the candidate runbooks by name), never another tenant's data,
secrets or API keys; it is stored with the result so an admin can see what was sent. The answer must
be one JSON object: `patternType` (one of the pattern types), `rootCause`, `confidence` 0..1,
`explanation`, `suggestedRunbook` (a candidate's name or null); anything else falls back to the
rules' result.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from domain.analysis import PatternType
from domain.errors import DomainError, InvalidInput

MAX_ALERTS = 20
MAX_EVENTS = 20
MAX_NEIGHBOURS = 20
MAX_TEXT = 300  # characters of any one fact (an alert message, a timeline note)
MAX_ROOT_CAUSE = 300
MAX_EXPLANATION = 1200
FAILURES_TO_OPEN = 3  # consecutive failures of a provider that open its breaker
OPEN_FOR = timedelta(minutes=5)
DEFAULT_MONTHLY_TOKENS = 200_000
DEFAULT_MIN_PRIORITY = 60.0

SYSTEM_PROMPT = (
    "You are an experienced site reliability engineer at a managed service provider. You analyse one "
    "monitoring incident of one client company and answer with exactly one JSON object and nothing "
    'else: {"patternType": one of ALERT_STORM, FLAPPING, CYCLIC, PERSISTENT, CASCADING_FAILURE, '
    'ISOLATED, "rootCause": the likely cause in one phrase, "confidence": a number from 0 to 1, '
    '"explanation": two or three plain sentences for the technician, "suggestedRunbook": the name of '
    "one of the candidate runbooks that fixes it, or null}. Use only the facts given."
)
# Looks like a credential: never sent, whatever field it sits in.
_SECRET = re.compile(
    r"(AKIA|ASIA)[A-Z0-9]{16}|(?i:(password|passwd|secret|token|api[_-]?key)\s*[=:]\s*\S+)|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


class InvalidAnswer(DomainError):
    default_code = "LLM_INVALID_ANSWER"


@dataclass(frozen=True, slots=True)
class LlmAnswer:
    pattern: PatternType
    root_cause: str
    confidence: float
    explanation: str
    suggested_runbook: str | None


def scrub(text: str | None) -> str:
    """A fact as it may be sent: credentials masked, bounded."""
    clean = _SECRET.sub("[redacted]", text or "")
    return clean if len(clean) <= MAX_TEXT else clean[: MAX_TEXT - 1] + "…"


def build_prompt(
    incident: Mapping[str, Any],
    alerts: Sequence[Mapping[str, Any]],
    timeline: Sequence[Mapping[str, Any]],
    neighbours: Sequence[Mapping[str, Any]],
    runbooks: Sequence[str],
    rules: Mapping[str, Any],
) -> dict[str, Any]:
    """The prompt (system text and the facts, JSON-ready) for one incident."""
    facts = {
        "incident": {k: scrub(str(v)) if isinstance(v, str) else v for k, v in incident.items()},
        "recentAlerts": [{k: scrub(str(v)) for k, v in a.items()} for a in alerts[:MAX_ALERTS]],
        "timeline": [{k: scrub(str(v)) for k, v in e.items()} for e in timeline[:MAX_EVENTS]],
        "assetsAround": [{k: scrub(str(v)) for k, v in n.items()} for n in neighbours[:MAX_NEIGHBOURS]],
        "candidateRunbooks": [scrub(r) for r in runbooks],
        "rulesSaid": dict(rules),
    }
    return {"system": SYSTEM_PROMPT, "facts": facts}


def prompt_text(prompt: Mapping[str, Any]) -> str:
    return "Incident facts (JSON):\n" + orjson.dumps(prompt["facts"], option=orjson.OPT_SORT_KEYS).decode()


def cache_key(prompt: Mapping[str, Any], model: str) -> str:
    """Same facts to the same model, same answer: the key of the cached result."""
    body = orjson.dumps({"model": model, "prompt": prompt}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_answer(text: str, runbooks: Sequence[str]) -> LlmAnswer:
    """The validated answer, or InvalidAnswer saying what is wrong (the rules' result stays)."""
    fenced = _FENCE.match(text or "")
    body = fenced.group(1) if fenced else (text or "").strip()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidAnswer("the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    try:
        pattern = PatternType(str(data.get("patternType")))
    except ValueError as exc:
        raise InvalidAnswer("patternType is not one of the pattern types") from exc
    root, explanation = data.get("rootCause"), data.get("explanation")
    if not isinstance(root, str) or not root.strip() or len(root) > MAX_ROOT_CAUSE:
        raise InvalidAnswer("rootCause must be a non-empty string of at most 300 characters")
    if not isinstance(explanation, str) or not explanation.strip() or len(explanation) > MAX_EXPLANATION:
        raise InvalidAnswer("explanation must be a non-empty string of at most 1200 characters")
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise InvalidAnswer("confidence must be a number from 0 to 1")
    suggested = data.get("suggestedRunbook")
    if suggested is not None:
        by_name = {r.casefold(): r for r in runbooks}
        if not isinstance(suggested, str) or suggested.casefold() not in by_name:
            raise InvalidAnswer("suggestedRunbook is not one of the candidate runbooks")
        suggested = by_name[suggested.casefold()]
    return LlmAnswer(pattern, root.strip(), round(float(confidence), 2), explanation.strip(), suggested)


# ---- the breaker and the budget -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakerState:
    failures: int = 0
    open_until: datetime | None = None

    def allows(self, now: datetime) -> bool:
        return self.open_until is None or now >= self.open_until


def after_failure(state: BreakerState, now: datetime) -> BreakerState:
    failures = state.failures + 1
    return BreakerState(failures, now + OPEN_FOR if failures >= FAILURES_TO_OPEN else state.open_until)


def after_success() -> BreakerState:
    return BreakerState()


def month_of(now: datetime) -> date:
    return date(now.year, now.month, 1)


MAX_MONTHLY_TOKENS = 100_000_000


def check_monthly_budget(tokens: int) -> int:
    """A company's monthly token budget: 0 (no LLM calls) to MAX_MONTHLY_TOKENS."""
    if not 0 <= tokens <= MAX_MONTHLY_TOKENS:
        raise InvalidInput(f"must be between 0 and {MAX_MONTHLY_TOKENS}", field="monthlyTokenBudget")
    return tokens


def within_budget(used_tokens: int, budget: int) -> bool:
    """Whether another call may start this month (one call may overrun by its own size)."""
    return used_tokens < budget
