"""KPI rules: which incidents count in a range, the figures from summed hourly rollups, and the
fixed log buckets of resolve times that give MTTR p90 over any range.

The rollups (`db.kpis`) hold per (company, UTC hour) sums; everything here is arithmetic on those
sums, so the SQL and the tests share one definition of each figure.

- Totals: alerts received in the range (duplicates and those a maintenance window suppressed
  included: they are the noise); incidents opened in the range.
- MTTA: incidents opened in the range that a person acknowledged, mean of acknowledged − opened.
- MTTR (mean, p90), self-healed, auto-remediation: incidents resolved in the range (and still
  resolved), resolve time = resolved − opened. Self-healed: resolved by a runbook whose fix held
  (`remediation_executions.held`); auto-remediated: resolved by a runbook, held or not yet judged.
- SLA compliance: incidents opened in the range whose clock ended: met in time / (met + breached).
- Percentages are 0–100, None when the denominator is 0.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidInput

#: Buckets per doubling of the resolve time: bucket k holds [2^(k/4), 2^((k+1)/4)) seconds, 19% wide,
#: so a p90 read from them is within ±9.5% of the exact one.
BUCKETS_PER_DOUBLING = 4
MAX_BUCKET = 127  # 2^32 s, beyond any incident's life
MAX_RANGE = timedelta(days=400)
HOUR = timedelta(hours=1)


class KpiBucket(enum.Enum):
    HOUR = "HOUR"
    DAY = "DAY"


class PatchComplianceSource(enum.Enum):
    SSM = "SSM"
    RUNBOOKS = "RUNBOOKS"
    MIXED = "MIXED"
    NONE = "NONE"


def resolve_bucket(seconds: float) -> int:
    """The histogram bucket of a resolve time (under 1 s: bucket 0)."""
    if seconds < 1:
        return 0
    return min(MAX_BUCKET, int(math.floor(math.log2(seconds) * BUCKETS_PER_DOUBLING)))


def bucket_value(bucket: int) -> float:
    """What a bucket stands for: the geometric middle of its bounds."""
    return float(2 ** ((bucket + 0.5) / BUCKETS_PER_DOUBLING))


def p90_from_buckets(counts: Mapping[int, int]) -> float | None:
    """Nearest-rank 90th percentile of the resolve times a histogram holds (its bucket's value)."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = math.ceil(0.9 * total)
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return None  # pragma: no cover - the loop always reaches the rank


def pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else 100.0 * part / whole


def mean(total: float, count: int) -> float | None:
    return None if count <= 0 else total / count


def hour_floor(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def kpi_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours a range covers (`start` rounded down, `end` up); InvalidInput when it is
    empty, reversed, naive or longer than MAX_RANGE."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("needs a time zone (e.g. 2026-12-01T00:00:00Z)", field="from")
    if start >= end:
        raise InvalidInput("`from` must be before `to`", field="from", code="INVALID_RANGE")
    if end - start > MAX_RANGE:
        raise InvalidInput(
            f"the range may span at most {MAX_RANGE.days} days", field="to", code="RANGE_TOO_LONG"
        )
    first = hour_floor(start)
    last = hour_floor(end)
    if last < end:
        last += HOUR
    return first, last


@dataclass(frozen=True, slots=True)
class KpiSums:
    """Summed rollup rows (one company or many, one range or one series point)."""

    alerts: int = 0
    incidents: int = 0
    acknowledged: int = 0
    ack_seconds: float = 0.0
    resolved: int = 0
    resolve_seconds: float = 0.0
    self_healed: int = 0
    auto_remediated: int = 0
    response_met: int = 0
    response_breached: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0

    @property
    def noise_reduction_pct(self) -> float | None:
        return None if self.alerts <= 0 else 100.0 * (1 - self.incidents / self.alerts)

    @property
    def mtta_seconds(self) -> float | None:
        return mean(self.ack_seconds, self.acknowledged)

    @property
    def mttr_seconds(self) -> float | None:
        return mean(self.resolve_seconds, self.resolved)

    @property
    def self_healed_pct(self) -> float | None:
        return pct(self.self_healed, self.resolved)

    @property
    def auto_remediation_rate_pct(self) -> float | None:
        return pct(self.auto_remediated, self.resolved)

    @property
    def response_sla_compliance_pct(self) -> float | None:
        return pct(self.response_met, self.response_met + self.response_breached)

    @property
    def resolution_sla_compliance_pct(self) -> float | None:
        return pct(self.resolution_met, self.resolution_met + self.resolution_breached)


@dataclass(frozen=True, slots=True)
class PatchFigure:
    """A company's patch compliance: compliant / counted, and what was counted (instances or runs)."""

    compliant: int
    counted: int
    source: PatchComplianceSource

    @property
    def pct(self) -> float | None:
        return pct(self.compliant, self.counted)


NO_PATCH_FIGURE = PatchFigure(0, 0, PatchComplianceSource.NONE)


def combine_patch(figures: Iterable[PatchFigure]) -> PatchFigure:
    """Several companies' figures as one (the MSP-wide view): counts summed; the source is the one
    they share, MIXED when SSM and runbook figures meet, NONE when none has a figure."""
    known = [f for f in figures if f.source is not PatchComplianceSource.NONE]
    if not known:
        return NO_PATCH_FIGURE
    sources = {f.source for f in known}
    source = sources.pop() if len(sources) == 1 else PatchComplianceSource.MIXED
    return PatchFigure(sum(f.compliant for f in known), sum(f.counted for f in known), source)


@dataclass(frozen=True, slots=True)
class InstancePatchState:
    """One managed instance's patch state as SSM reports it (DescribeInstancePatchStates)."""

    instance_id: str
    baseline_id: str | None = None
    patch_group: str | None = None
    installed: int = 0
    installed_other: int = 0
    installed_pending_reboot: int = 0
    installed_rejected: int = 0
    missing: int = 0
    failed: int = 0
    not_applicable: int = 0
    operation: str | None = None
    operation_end_time: datetime | None = None

    @property
    def compliant(self) -> bool:
        """SSM's own rule: no missing or failed patch, none rejected but installed, none waiting on a
        reboot."""
        return not (self.missing or self.failed or self.installed_rejected or self.installed_pending_reboot)
