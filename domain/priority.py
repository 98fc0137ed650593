"""Incident priority: how urgently a technician should look at an incident.

score = severity base (low 10, medium 30, high 60, critical 90)
        + 20 if the asset is critical
        + 2 per alert, at most 20
        + 10 if two or more tools report it
        - 1 per hour of age, at most 10 (age never negative)
rounded to 2 decimals. `priority_base` is the score without the age term, for SQL that decays it
(`base - LEAST(GREATEST(age_hours, 0), AGE_DECAY_CAP_HOURS)`).
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from domain.alerts import Severity

SEVERITY_BASE = MappingProxyType(
    {Severity.LOW: 10.0, Severity.MEDIUM: 30.0, Severity.HIGH: 60.0, Severity.CRITICAL: 90.0}
)
CRITICAL_ASSET_BONUS = 20.0
POINTS_PER_ALERT = 2.0
ALERT_POINTS_CAP = 20.0
MULTI_TOOL_BONUS = 10.0
AGE_DECAY_CAP_HOURS = 10.0


def priority_base(severity: Severity, critical_asset: bool, alert_count: int, tool_count: int) -> float:
    """The score before age decay."""
    score = SEVERITY_BASE[severity]
    if critical_asset:
        score += CRITICAL_ASSET_BONUS
    score += min(POINTS_PER_ALERT * max(alert_count, 0), ALERT_POINTS_CAP)
    if tool_count >= 2:
        score += MULTI_TOOL_BONUS
    return score


def priority_score(
    severity: Severity,
    critical_asset: bool,
    alert_count: int,
    tool_count: int,
    created_at: datetime,
    now: datetime,
) -> float:
    """The score at `now`: the base minus one point per hour since `created_at`, at most 10."""
    age_hours = max((now - created_at).total_seconds() / 3600, 0.0)
    base = priority_base(severity, critical_asset, alert_count, tool_count)
    return round(base - min(age_hours, AGE_DECAY_CAP_HOURS), 2)
