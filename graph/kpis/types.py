"""GraphQL types of the KPI area. Which incidents count in a range is `domain.kpis`' rule; the field
descriptions say it where a dashboard reads it."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from db.repositories.kpis import KpiReader
from domain import kpis as rules
from graph.platform.types import Company


@strawberry.enum(description="The width of a KPI series point (UTC).")
class KpiBucket(enum.Enum):
    HOUR = strawberry.enum_value("HOUR", description="One point per UTC hour.")
    DAY = strawberry.enum_value("DAY", description="One point per UTC day (starting at midnight UTC).")


@strawberry.enum(description="Where `patchCompliancePct` comes from.")
class PatchComplianceSource(enum.Enum):
    SSM = strawberry.enum_value(
        "SSM",
        description="SSM patch states of the company's managed instances (DescribeInstancePatchStates), "
        "as last read: compliant instances / instances with a patch state.",
    )
    RUNBOOKS = strawberry.enum_value(
        "RUNBOOKS",
        description="SSM has no patch data: the company's patching runbooks (security category, "
        "'patch' in the name or a signature) that finished in the range: succeeded / finished.",
    )
    MIXED = strawberry.enum_value(
        "MIXED", description="MSP-wide view: some companies' figures come from SSM, others' from runbooks."
    )
    NONE = strawberry.enum_value("NONE", description="No patch data at all: `patchCompliancePct` is null.")


@strawberry.type(description="One point of a KPI time series (figures as in `Kpis`, for its bucket).")
class KpiPoint:
    start: datetime = strawberry.field(description="Start of the bucket (UTC hour or UTC midnight).")
    total_alerts: int = strawberry.field(description="Alerts received in the bucket.")
    total_incidents: int = strawberry.field(description="Incidents opened in the bucket.")
    noise_reduction_pct: float | None = strawberry.field(
        description="100 × (1 − incidents / alerts) for the bucket; null with no alerts."
    )
    mttr_seconds: float | None = strawberry.field(
        description="Mean resolve time of the incidents resolved in the bucket; null if none."
    )
    self_healed_count: int = strawberry.field(
        description="Incidents resolved in the bucket by a runbook whose fix held."
    )


def _point(start: datetime, sums: rules.KpiSums) -> KpiPoint:
    return KpiPoint(
        start=start,
        total_alerts=sums.alerts,
        total_incidents=sums.incidents,
        noise_reduction_pct=sums.noise_reduction_pct,
        mttr_seconds=sums.mttr_seconds,
        self_healed_count=sums.self_healed,
    )


@dataclass(frozen=True, slots=True)
class KpiFigures:
    """Every figure of one `Kpis` object (compared by `kpisUpdated` to push only changes)."""

    sums: rules.KpiSums
    mttr_p90_seconds: float | None
    patch: rules.PatchFigure


@strawberry.type(
    description="A company's KPIs (or the MSP's, over all companies) for whole UTC hours. Incidents "
    "count in the range they opened in (totals, MTTA, SLA compliance) or resolved in (MTTR, self-healed, "
    "auto-remediation); alerts in the range they were received in."
)
class Kpis:
    company: Company | None = strawberry.field(description="The company; null for the MSP-wide view.")
    from_: datetime = strawberry.field(
        name="from", description="Start of the range the figures cover: `from` rounded down to the hour."
    )
    to: datetime = strawberry.field(description="End (exclusive) of the range: `to` rounded up to the hour.")
    total_alerts: int = strawberry.field(
        description="Alerts received in the range (duplicates and those a maintenance window suppressed "
        "included: they are the noise)."
    )
    total_incidents: int = strawberry.field(description="Incidents opened in the range.")
    noise_reduction_pct: float | None = strawberry.field(
        description="100 × (1 − totalIncidents / totalAlerts); null when no alert was received."
    )
    mtta_seconds: float | None = strawberry.field(
        description="Mean time to acknowledge: of the incidents opened in the range that a person "
        "acknowledged, the mean of acknowledged − opened; null if none."
    )
    mttr_seconds: float | None = strawberry.field(
        description="Mean time to resolve: of the incidents resolved in the range (and still resolved), "
        "the mean of resolved − opened; null if none."
    )
    mttr_p90_seconds: float | None = strawberry.field(
        description="90th percentile (nearest rank) of the same resolve times, read from log buckets "
        "a quarter doubling wide: within ±9.5%; null if none."
    )
    self_healed_count: int = strawberry.field(
        description="Incidents resolved in the range by a runbook whose fix held (the incident did not "
        "come back within the company's correlation window)."
    )
    self_healed_pct: float | None = strawberry.field(
        description="100 × selfHealedCount / incidents resolved in the range; null if none resolved."
    )
    auto_remediated_count: int = strawberry.field(
        description="Incidents resolved in the range by a runbook (and still resolved): those whose fix "
        "held (`selfHealedCount`) and those still inside the company's correlation window, not judged yet."
    )
    auto_remediation_rate_pct: float | None = strawberry.field(
        description="100 × incidents resolved by a runbook (held or not yet judged) / incidents resolved "
        "in the range; null if none resolved."
    )
    response_sla_compliance_pct: float | None = strawberry.field(
        description="Of the incidents opened in the range whose response clock ended (acknowledged, "
        "resolved or breached): 100 × met in time / ended; null if none ended."
    )
    resolution_sla_compliance_pct: float | None = strawberry.field(
        description="Of the incidents opened in the range whose resolution clock ended (resolved or "
        "breached): 100 × met in time / ended; null if none ended."
    )
    patch_compliance_pct: float | None = strawberry.field(
        description="Patch compliance, 0–100 (see `patchComplianceSource` for what is counted); null "
        "with no patch data."
    )
    patch_compliance_source: PatchComplianceSource = strawberry.field(
        description="Where `patchCompliancePct` comes from."
    )
    companies: list[Kpis] = strawberry.field(
        description="Per-company rows (each with its own `series`) in the MSP-wide view; empty for one company."
    )
    _reader: strawberry.Private[KpiReader]
    _company_ids: strawberry.Private[list[uuid.UUID]]

    @strawberry.field(description="The figures per UTC hour or day of the range, oldest first, every bucket.")  # type: ignore[untyped-decorator]
    async def series(
        self,
        bucket: Annotated[KpiBucket, strawberry.argument(description="HOUR or DAY (UTC).")],
    ) -> list[KpiPoint]:
        width = rules.KpiBucket(bucket.value)
        found = dict(await self._reader.series(self._company_ids, self.from_, self.to, width))
        step = rules.HOUR if width is rules.KpiBucket.HOUR else timedelta(days=1)
        at = self.from_
        if width is rules.KpiBucket.DAY:
            at = at.replace(hour=0)
        points = []
        while at < self.to:
            points.append(_point(at, found.get(at, rules.KpiSums())))
            at += step
        return points


def kpis_type(
    reader: KpiReader,
    company: Company | None,
    company_ids: list[uuid.UUID],
    start: datetime,
    end: datetime,
    figures: KpiFigures,
    companies: list[Kpis] | None = None,
) -> Kpis:
    sums = figures.sums
    return Kpis(
        company=company,
        from_=start,
        to=end,
        total_alerts=sums.alerts,
        total_incidents=sums.incidents,
        noise_reduction_pct=sums.noise_reduction_pct,
        mtta_seconds=sums.mtta_seconds,
        mttr_seconds=sums.mttr_seconds,
        mttr_p90_seconds=figures.mttr_p90_seconds,
        self_healed_count=sums.self_healed,
        self_healed_pct=sums.self_healed_pct,
        auto_remediated_count=sums.auto_remediated,
        auto_remediation_rate_pct=sums.auto_remediation_rate_pct,
        response_sla_compliance_pct=sums.response_sla_compliance_pct,
        resolution_sla_compliance_pct=sums.resolution_sla_compliance_pct,
        patch_compliance_pct=figures.patch.pct,
        patch_compliance_source=PatchComplianceSource(figures.patch.source.value),
        companies=companies or [],
        _reader=reader,
        _company_ids=company_ids,
    )
