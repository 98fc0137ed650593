"""Incident priority: how urgently a technician should look at an incident, on a 0..100 scale.

score = severity base (low 10, medium 30, high 60, critical 90)
        + 20 if the asset is critical
        + 2 per alert, at most 20
        + 10 if two or more tools report it
        + 5 per downstream asset hit when it is a cascade's root (its blast radius), at most 20
        capped at 100 (a critical incident on a critical asset reaches the top with few alerts)
        - 1 per hour of age, at most 10 (age never negative)
rounded to 2 decimals, so an open incident scores 0 to 100. A resolved incident scores 0: nothing is
left to look at, and it sorts after every open incident; reopening it gives it its live score back.

`priority_base` is the score without the age term, for SQL that decays it
(`base - LEAST(GREATEST(age_hours, 0), AGE_DECAY_CAP_HOURS)`) and sorts incidents past the cap by
the base alone. A resolved incident's base is AGE_DECAY_CAP_HOURS, the value that decays to its 0, so
that order holds for resolved incidents too (the SQL scores a resolved incident 0 at any age).
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
# A cascade's root (`domain.analysis`: the most upstream failure) counts the assets it takes down with
# it: fixing it fixes them, so it goes before an equal failure that hurts only its own asset.
POINTS_PER_DOWNSTREAM_ASSET = 5.0
BLAST_RADIUS_POINTS_CAP = 20.0
AGE_DECAY_CAP_HOURS = 10.0
MAX_SCORE = 100.0
RESOLVED_SCORE = 0.0


def priority_base(
    severity: Severity,
    critical_asset: bool,
    alert_count: int,
    tool_count: int,
    resolved: bool = False,
    blast_radius: int = 0,
) -> float:
    """The score before age decay: at most MAX_SCORE; AGE_DECAY_CAP_HOURS for a resolved incident.
    `blast_radius`: the downstream assets hit, on a cascade's root (0 on any other incident)."""
    if resolved:
        return AGE_DECAY_CAP_HOURS
    score = SEVERITY_BASE[severity]
    if critical_asset:
        score += CRITICAL_ASSET_BONUS
    score += min(POINTS_PER_ALERT * max(alert_count, 0), ALERT_POINTS_CAP)
    if tool_count >= 2:
        score += MULTI_TOOL_BONUS
    score += min(POINTS_PER_DOWNSTREAM_ASSET * max(blast_radius, 0), BLAST_RADIUS_POINTS_CAP)
    return min(score, MAX_SCORE)


def priority_score(
    severity: Severity,
    critical_asset: bool,
    alert_count: int,
    tool_count: int,
    created_at: datetime,
    now: datetime,
    resolved: bool = False,
    blast_radius: int = 0,
) -> float:
    """The score at `now`, 0..100: the base minus one point per hour since `created_at`, at most 10;
    RESOLVED_SCORE (0) for a resolved incident."""
    base = priority_base(severity, critical_asset, alert_count, tool_count, blast_radius=blast_radius)
    return decayed_score(base, created_at, now, resolved=resolved)


def decayed_score(base: float, created_at: datetime, now: datetime, resolved: bool = False) -> float:
    """`priority_score` from an incident's stored `priority_base` (the column computes the base from
    the incident's own fields), so a reader of the row needs none of them."""
    if resolved:
        return RESOLVED_SCORE
    age_hours = max((now - created_at).total_seconds() / 3600, 0.0)
    return round(base - min(age_hours, AGE_DECAY_CAP_HOURS), 2)
