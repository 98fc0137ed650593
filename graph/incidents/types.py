"""GraphQL types of the incident area: alerts, incidents, their timeline, maintenance windows."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from db import tables
from db.pagination import check_first
from domain import incidents as domain_incidents
from domain.maintenance import Recurrence
from domain.priority import decayed_score
from domain.signatures import canonical_signature
from graph.core import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, Node, connection, to_global_id

# The mirrored enums are re-exported: the incident area's modules import them from here.
from graph.enums import Category as Category
from graph.enums import IncidentChangeKind as IncidentChangeKind
from graph.enums import IncidentEventKind as IncidentEventKind
from graph.enums import IncidentStatus as IncidentStatus
from graph.enums import MonitoringTool as MonitoringTool
from graph.enums import RecurrenceFrequency as RecurrenceFrequency
from graph.enums import Severity as Severity
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.platform.types import Asset, Company, User, asset_type, company_type, user_type

if TYPE_CHECKING:
    from graph.incidents.analysis import IncidentAnalysis
    from graph.remediation.decisions import IncidentDecision
    from graph.remediation.executions import Execution
    from graph.sla.types import IncidentSla


@strawberry.enum(description="Whether an alert reports a problem or its recovery.")
class AlertStatus(enum.Enum):
    FIRING = strawberry.enum_value("firing", description="The alert reports a problem.")
    RESOLVED = strawberry.enum_value("resolved", description="The alert reports the problem's recovery.")


# ---- alerts ------------------------------------------------------------------------------------


@strawberry.type(description="One normalised alert as a monitoring tool sent it.")
class Alert(Node):
    asset_name: str = strawberry.field(description="The asset as the tool named it.")
    signature: str = strawberry.field(
        description="What is wrong (check or rule name); with the asset, the correlation key."
    )
    severity: Severity = strawberry.field(description="Severity mapped to our four levels.")
    severity_raw: str | None = strawberry.field(description="The tool's own severity word, as sent.")
    message: str = strawberry.field(description="The alert's text.")
    tool: MonitoringTool = strawberry.field(description="The monitoring tool that sent it.")
    category: Category = strawberry.field(description="Technician skill it needs.")
    fingerprint: str = strawberry.field(
        description="Identifies repeats of the same alert and its resolve message."
    )
    dedup_key: str | None = strawberry.field(description="The tool's own deduplication key, if it sent one.")
    status: AlertStatus = strawberry.field(
        description="FIRING for a problem, RESOLVED for a recovery message."
    )
    event_time: datetime = strawberry.field(
        description="When it happened, by the tool's clock (clamped against skew)."
    )
    received_at: datetime = strawberry.field(description="When we stored it.")
    tags: JSON = strawberry.field(description="The tool's labels and tags, as strings.")
    raw: JSON = strawberry.field(description="The tool's original payload for this alert.")
    duplicate: bool = strawberry.field(
        description="A repeat of a fingerprint already firing on its incident."
    )
    suppressed: bool = strawberry.field(
        description="Arrived inside a maintenance window: stored, but opened no incident."
    )
    resolved_at: datetime | None = strawberry.field(
        description="When a resolve message or the incident's resolution closed this firing alert."
    )
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    @strawberry.field(description="The company the alert belongs to.")
    async def company(self, info: strawberry.Info) -> Company | None:
        row = await (await loaders_for(info, self._loaders)).company.load(self._row.company_id)
        return company_type(row) if row else None

    @strawberry.field(
        description="The inventory asset it matched (null for an alert that named no known asset yet)."
    )
    async def asset(self, info: strawberry.Info) -> Asset | None:
        if self._row.asset_id is None:
            return None
        row = await (await loaders_for(info, self._loaders)).asset.load(self._row.asset_id)
        return asset_type(row) if row else None

    @strawberry.field(
        description="The incident the alert was correlated into (null until correlated, or when suppressed)."
    )
    async def incident(self, info: strawberry.Info) -> Incident | None:
        if self._row.incident_id is None:
            return None
        loaders = await loaders_for(info, self._loaders)
        row = await loaders.incident.load(self._row.incident_id)
        return incident_type(row, self._loaders) if row else None


def alert_type(row: tables.Alert | SimpleNamespace, loaders: IncidentLoaders | None = None) -> Alert:
    return Alert(
        id=to_global_id("Alert", row.id),
        asset_name=row.asset_name,
        signature=row.signature,
        severity=Severity(row.severity),
        severity_raw=row.severity_raw,
        message=row.message,
        tool=MonitoringTool(row.tool),
        category=Category(row.category),
        fingerprint=row.fingerprint,
        dedup_key=row.dedup_key,
        status=AlertStatus(row.status),
        event_time=row.event_time,
        received_at=row.received_at,
        tags=cast(JSON, row.tags or {}),
        raw=cast(JSON, row.raw or {}),
        duplicate=row.duplicate,
        suppressed=row.suppressed_by is not None,
        resolved_at=row.resolved_at,
        _row=row,
        _loaders=loaders,
    )


# ---- incidents ---------------------------------------------------------------------------------


@strawberry.type(description="One entry of an incident's timeline.")
class IncidentEvent(Node):
    kind: IncidentEventKind = strawberry.field(description="What happened.")
    at: datetime = strawberry.field(description="When it happened.")
    alert_id: strawberry.ID | None = strawberry.field(
        description="Global ID of the alert that caused it, if any."
    )
    data: JSON = strawberry.field(description="Details of the event (e.g. `note`, `from`, `to`, severities).")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    @strawberry.field(description="Who did it (null for the system, or a user you may not see).")
    async def actor(self, info: strawberry.Info) -> User | None:
        if self._row.actor_id is None:
            return None
        row = await (await loaders_for(info, self._loaders)).user.load(self._row.actor_id)
        return user_type(row) if row else None


def incident_event_type(row: tables.IncidentEvent, loaders: IncidentLoaders | None = None) -> IncidentEvent:
    return IncidentEvent(
        id=to_global_id("IncidentEvent", row.id),
        kind=IncidentEventKind(row.kind),
        at=row.at,
        alert_id=to_global_id("Alert", row.alert_id) if row.alert_id else None,
        data=cast(JSON, row.data or {}),
        _row=row,
        _loaders=loaders,
    )


@strawberry.type(
    description="Correlated alerts that are one real problem: same asset and signature within the company's window."
)
class Incident(Node):
    asset_name: str = strawberry.field(description="The asset's name.")
    signature: str = strawberry.field(description="What is wrong, as its first alert's tool called it.")
    signatures: list[str] = strawberry.field(
        description="Every original signature its alerts carried (one per tool's spelling), first seen first."
    )
    canonical_signature: str = strawberry.field(
        description="The folded signature alerts are correlated by (case, separators, camelCase, the asset's "
        'name and aliases folded away), e.g. `disk_full` for Datadog\'s "Disk usage high" and '
        'Alertmanager\'s "DiskFull".'
    )
    status: IncidentStatus = strawberry.field(description="Where the incident stands.")
    severity: Severity = strawberry.field(description="The highest severity among its alerts.")
    category: Category = strawberry.field(description="Technician skill it needs.")
    alert_count: int = strawberry.field(description="Firing alerts attached, duplicates included.")
    duplicate_count: int = strawberry.field(description="Repeats of a fingerprint that was already firing.")
    tool_sources: list[MonitoringTool] = strawberry.field(description="Every tool that reported it.")
    first_alert_at: datetime = strawberry.field(description="Event time of its first alert.")
    last_alert_at: datetime = strawberry.field(description="Event time of its latest firing alert.")
    flapping: bool = strawberry.field(
        description="Fires and resolves repeatedly; resolve messages no longer close it."
    )
    critical_asset: bool = strawberry.field(description="The asset is marked critical (adds 20 to priority).")
    acknowledged_at: datetime | None = strawberry.field(description="When a technician last acknowledged it.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved (null while open).")
    created_at: datetime = strawberry.field(description="When it was opened.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None
    # The score a list sorted by priority was ordered by (as of its first page); None: score it now.
    _priority_score: strawberry.Private[float | None] = None

    @strawberry.field(
        description="How urgent it is now, 0 to 100: severity base (low 10, medium 30, high 60, critical 90), +20 for a critical asset, +2 per alert (at most 20), +10 when two or more tools report it, +5 per downstream asset hit when it is the root of a cascading failure (its `analysis.blastRadius`, at most 20), capped at 100, then minus one per hour of age (at most 10). A resolved incident scores 0 (reopened, it gets its live score back). In `incidents(orderBy: {field: PRIORITY})`: as of the list's first page, the score it is sorted by."
    )
    def priority_score(self) -> float:
        if self._priority_score is not None:
            return self._priority_score
        row = self._row
        return decayed_score(
            row.priority_base,
            row.created_at,
            datetime.now(UTC),
            resolved=row.status == domain_incidents.IncidentStatus.RESOLVED.value,
        )

    @strawberry.field(description="The company the incident belongs to.")
    async def company(self, info: strawberry.Info) -> Company | None:
        row = await (await loaders_for(info, self._loaders)).company.load(self._row.company_id)
        return company_type(row) if row else None

    @strawberry.field(description="The technician it is assigned to (null: nobody yet).")
    async def assignee(self, info: strawberry.Info) -> User | None:
        if self._row.assigned_to is None:
            return None
        row = await (await loaders_for(info, self._loaders)).user.load(self._row.assigned_to)
        return user_type(row) if row else None

    @strawberry.field(description="When the current assignee got it.")
    def assigned_at(self) -> datetime | None:
        assigned: datetime | None = self._row.assigned_at
        return assigned

    @strawberry.field(description="Its pattern, likely root cause and explanation (null until analysed).")
    async def analysis(
        self, info: strawberry.Info
    ) -> Annotated[IncidentAnalysis, strawberry.lazy("graph.incidents.analysis")] | None:
        from graph.incidents.analysis import analysis_type

        loaders = await loaders_for(info, self._loaders)
        row = await loaders.analysis.load(self._row.id)
        return analysis_type(row, await loaders.llm_analysis.load(self._row.id)) if row else None

    @strawberry.field(
        description="In a cascade, the incident on the most upstream asset: the likely root cause (null otherwise)."
    )
    async def root_incident(self, info: strawberry.Info) -> Incident | None:
        loaders = await loaders_for(info, self._loaders)
        analysis = await loaders.analysis.load(self._row.id)
        if analysis is None or analysis.root_incident_id is None:
            return None
        row = await loaders.incident.load(analysis.root_incident_id)
        return incident_type(row, self._loaders) if row else None

    @strawberry.field(
        description="On a cascade's root: the downstream incidents it likely caused (at most 100)."
    )
    async def related_incidents(self, info: strawberry.Info) -> list[Incident]:
        loaders = await loaders_for(info, self._loaders)
        ids = await loaders.related_incidents.load(self._row.id)
        rows = await loaders.incident.load_many(ids)
        return [incident_type(r, self._loaders) for r in rows if r is not None]

    @strawberry.field(description="The inventory asset (null when its alerts named no known asset).")
    async def asset(self, info: strawberry.Info) -> Asset | None:
        if self._row.asset_id is None:
            return None
        row = await (await loaders_for(info, self._loaders)).asset.load(self._row.asset_id)
        return asset_type(row) if row else None

    @strawberry.field(
        description="The latest decision on it: run a runbook, or hand it to a technician (null before one)."
    )
    async def decision(
        self, info: strawberry.Info
    ) -> Annotated[IncidentDecision, strawberry.lazy("graph.remediation.decisions")] | None:
        from graph.remediation.decisions import load_decision

        return await load_decision(info, self._row.id, self._loaders)

    @strawberry.field(description="Its alerts, oldest event first.")
    async def alerts(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[Alert]:
        check_first(first)  # a bad size fails this field, not the whole batch
        loaders = await loaders_for(info, self._loaders)
        page = await loaders.incident_alerts.load((self._row.id, first, after))
        return connection(page, lambda row: alert_type(row, self._loaders))

    @strawberry.field(
        description="Its SLA clocks: deadlines, time left, breaches (null until the SLA worker has seen it)."
    )
    async def sla(
        self, info: strawberry.Info
    ) -> Annotated[IncidentSla, strawberry.lazy("graph.sla.types")] | None:
        from graph.sla.types import resolve_incident_sla

        return await resolve_incident_sla(info, self)

    @strawberry.field(description="What happened to it, oldest first.")
    async def timeline(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[IncidentEvent]:
        check_first(first)
        loaders = await loaders_for(info, self._loaders)
        page = await loaders.incident_timeline.load((self._row.id, first, after))
        return connection(page, lambda row: incident_event_type(row, self._loaders))

    @strawberry.field(
        description="Resolved by a runbook that ran and passed its health check (false again once reopened)."
    )
    def auto_remediated(self) -> bool:
        return bool(self._row.auto_remediated)

    @strawberry.field(description="The remediations run for it, newest first.")
    async def executions(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="How many, 0 to 100 (default 20).")] = 20,
    ) -> list[Annotated[Execution, strawberry.lazy("graph.remediation.executions")]]:
        from graph.remediation.executions import incident_executions

        return await incident_executions(info, self._row.id, first, self._loaders)


def incident_type(
    row: tables.Incident | SimpleNamespace,
    loaders: IncidentLoaders | None = None,
    *,
    priority_score: float | None = None,
) -> Incident:
    return Incident(
        id=to_global_id("Incident", row.id),
        asset_name=row.asset_name,
        signature=row.signature,
        # Incidents from before migration 0035 kept one signature and no canonical one.
        signatures=list(row.signatures or [row.signature]),
        canonical_signature=row.canonical_signature or canonical_signature(row.signature, row.asset_name),
        status=IncidentStatus(row.status),
        severity=Severity(row.severity),
        category=Category(row.category),
        alert_count=row.alert_count,
        duplicate_count=row.duplicate_count,
        tool_sources=[MonitoringTool(t) for t in row.tool_sources or []],
        first_alert_at=row.first_alert_at,
        last_alert_at=row.last_alert_at,
        flapping=row.flapping,
        critical_asset=row.critical_asset,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        _row=row,
        _loaders=loaders,
        _priority_score=priority_score,
    )


@strawberry.type(description="A change to an incident, as pushed to `incidentChanged` subscribers.")
class IncidentChangedEvent:
    kind: IncidentChangeKind = strawberry.field(description="CREATED, UPDATED or RESOLVED.")
    incident: Incident = strawberry.field(description="The incident as it is now.")


# ---- maintenance windows -----------------------------------------------------------------------


@strawberry.type(description="How a maintenance window repeats.")
class MaintenanceRecurrence:
    frequency: RecurrenceFrequency = strawberry.field(description="DAILY or WEEKLY.")
    days_of_week: list[int] = strawberry.field(description="For WEEKLY: the days, 0 = Monday to 6 = Sunday.")
    timezone: str = strawberry.field(description="IANA time zone the window's wall-clock times are read in.")
    until: datetime | None = strawberry.field(
        description="Last possible start of an occurrence (inclusive); null repeats forever."
    )


@strawberry.type(
    description="A period when a company's alerts are stored as suppressed and open no incident."
)
class MaintenanceWindow(Node):
    name: str = strawberry.field(description="What the maintenance is.")
    starts_at: datetime = strawberry.field(
        description="Start (of the first occurrence, for a recurring window)."
    )
    ends_at: datetime = strawberry.field(
        description="End (of the first occurrence); the window is [startsAt, endsAt)."
    )
    recurrence: MaintenanceRecurrence | None = strawberry.field(
        description="How it repeats; null for a one-off window."
    )
    asset_names: list[str] = strawberry.field(
        description="Only alerts of these assets are suppressed; empty means every asset."
    )
    signatures: list[str] = strawberry.field(
        description="Only alerts with these signatures are suppressed; empty means every signature."
    )
    created_at: datetime = strawberry.field(description="When the window was created.")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    @strawberry.field(description="The company the window belongs to.")
    async def company(self, info: strawberry.Info) -> Company | None:
        row = await (await loaders_for(info, self._loaders)).company.load(self._row.company_id)
        return company_type(row) if row else None

    @strawberry.field(description="Who created it (null for the system, or a user you may not see).")
    async def created_by(self, info: strawberry.Info) -> User | None:
        if self._row.created_by is None:
            return None
        row = await (await loaders_for(info, self._loaders)).user.load(self._row.created_by)
        return user_type(row) if row else None


def maintenance_window_type(
    row: tables.MaintenanceWindow, loaders: IncidentLoaders | None = None
) -> MaintenanceWindow:
    recurrence = None
    if row.recurrence:
        r = Recurrence.from_dict(row.recurrence)
        recurrence = MaintenanceRecurrence(
            frequency=RecurrenceFrequency(r.frequency.value),
            days_of_week=sorted(r.days_of_week),
            timezone=r.timezone,
            until=r.until,
        )
    return MaintenanceWindow(
        id=to_global_id("MaintenanceWindow", row.id),
        name=row.name,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        recurrence=recurrence,
        asset_names=list(row.asset_names or []),
        signatures=list(row.signatures or []),
        created_at=row.created_at,
        _row=row,
        _loaders=loaders,
    )
