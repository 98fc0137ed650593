"""Who gets an incident that needs a person: pure rules over the company's technicians.

The best technician is on call now, has the incident's category among their skills, is under their
maximum of open incidents, has the fewest open incidents, and (ties) was assigned least recently
(never assigned first). When nobody fits, the fallbacks in order: any on-call technician of the
company, then any technician with the category; then nobody, and the company's admins are told.
Inactive or non-assignable technicians, and those at their maximum, are never chosen.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.alerts import Category
from domain.errors import InvalidInput

MAX_SKILLS = len(Category)
MIN_CONCURRENT, MAX_CONCURRENT = 1, 100


class AssignmentRule(enum.StrEnum):
    """Which rule chose the assignee (or that none could)."""

    ON_CALL_WITH_SKILL = "ON_CALL_WITH_SKILL"
    ON_CALL = "ON_CALL"
    WITH_SKILL = "WITH_SKILL"
    NOBODY = "NOBODY"
    MANUAL = "MANUAL"


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: uuid.UUID
    name: str
    skills: frozenset[str]
    on_call: bool
    open_incidents: int
    max_concurrent: int
    last_assigned_at: datetime | None
    assignable: bool = True
    active: bool = True

    @property
    def has_room(self) -> bool:
        return self.open_incidents < self.max_concurrent


@dataclass(frozen=True, slots=True)
class Choice:
    user_id: uuid.UUID | None
    rule: AssignmentRule
    reason: str


def _incidents(n: int) -> str:
    return f"{n} open incident" + ("" if n == 1 else "s")


def choose(candidates: Iterable[Candidate], category: str | None) -> Choice:
    """The assignee for an incident of `category` among the company's technicians, and why."""
    usable = [c for c in candidates if c.active and c.assignable and c.has_room]
    skilled = [c for c in usable if category is not None and category in c.skills]
    tiers = (
        (AssignmentRule.ON_CALL_WITH_SKILL, [c for c in skilled if c.on_call]),
        (AssignmentRule.ON_CALL, [c for c in usable if c.on_call]),
        (AssignmentRule.WITH_SKILL, skilled),
    )
    for rule, pool in tiers:
        if pool:
            chosen = min(pool, key=_order_key)
            return Choice(chosen.user_id, rule, _reason(chosen, rule, category))
    return Choice(None, AssignmentRule.NOBODY, _nobody(list(candidates), category))


def _order_key(c: Candidate) -> tuple[int, int, float, str, str]:
    """Fewest open incidents, then least recently assigned (never assigned first), then by name."""
    when = c.last_assigned_at.timestamp() if c.last_assigned_at is not None else float("-inf")
    return (c.open_incidents, 0 if c.last_assigned_at is None else 1, when, c.name.casefold(), str(c.user_id))


def _reason(c: Candidate, rule: AssignmentRule, category: str | None) -> str:
    parts = {
        AssignmentRule.ON_CALL_WITH_SKILL: ["on call", category or ""],
        AssignmentRule.ON_CALL: [
            "on call",
            f"no on-call {category} technician free" if category else "any skill",
        ],
        AssignmentRule.WITH_SKILL: [category or "", "nobody on call was free"],
    }[rule]
    return f"assigned to {c.name}: " + ", ".join(p for p in [*parts, _incidents(c.open_incidents)] if p)


def _nobody(candidates: list[Candidate], category: str | None) -> str:
    if not candidates:
        return "nobody assigned: the company has no technicians"
    if not any(c.active and c.assignable for c in candidates):
        return "nobody assigned: no technician of the company takes incidents now"
    return "nobody assigned: every technician who could take it is at their maximum of open incidents" + (
        f" or lacks {category}" if category else ""
    )


def manual_reason(name: str, note: str | None) -> str:
    return f"assigned to {name} by hand" + (f": {note}" if note else "")


# ---- technician profiles ------------------------------------------------------------------------


def check_skills(skills: Sequence[str], field: str = "skills") -> list[str]:
    """Canonical category names, deduplicated in the categories' order; unknown ones refused."""
    by_lower = {c.value.lower(): c.value for c in Category}
    chosen: set[str] = set()
    for value in skills:
        canonical = by_lower.get(value.strip().lower()) if len(value) <= 40 else None
        if canonical is None:
            raise InvalidInput(
                f"{value!r} is not a category ({', '.join(c.value for c in Category)})", field=field
            )
        chosen.add(canonical)
    return [c.value for c in Category if c.value in chosen]


def check_timezone(name: str, field: str = "timezone") -> str:
    if not name or len(name) > 64 or name not in _zones():
        raise InvalidInput(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)", field=field)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{name!r} is not an IANA time zone", field=field) from exc
    return name


def check_max_concurrent(value: int, field: str = "maxConcurrentIncidents") -> int:
    if not MIN_CONCURRENT <= value <= MAX_CONCURRENT:
        raise InvalidInput(f"must be between {MIN_CONCURRENT} and {MAX_CONCURRENT}", field=field)
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}
