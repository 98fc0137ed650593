"""GraphQL types of the SLA area: an incident's clocks, a company's policy, breach events."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from db.repositories.sla import SlaClockRepository
from domain import sla as domain_sla
from domain.alerts import Severity as DomainSeverity
from graph.core import to_global_id
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.incidents.types import Incident

if TYPE_CHECKING:  # a GraphQL enum built at run time (`_mirror`): a plain enum to the type checker
    from domain.alerts import Severity
else:
    from graph.incidents.types import Severity


@strawberry.enum(description="A day of the week, for business hours.")
class Weekday(enum.Enum):
    MONDAY = strawberry.enum_value(0, description="Monday.")
    TUESDAY = strawberry.enum_value(1, description="Tuesday.")
    WEDNESDAY = strawberry.enum_value(2, description="Wednesday.")
    THURSDAY = strawberry.enum_value(3, description="Thursday.")
    FRIDAY = strawberry.enum_value(4, description="Friday.")
    SATURDAY = strawberry.enum_value(5, description="Saturday.")
    SUNDAY = strawberry.enum_value(6, description="Sunday.")


@strawberry.enum(description="Which of an incident's SLA clocks.")
class SlaClock(enum.Enum):
    RESPONSE = strawberry.enum_value(
        "response", description="Until a person acknowledges (or it resolves): the response target."
    )
    RESOLUTION = strawberry.enum_value("resolution", description="Until it resolves: the resolution target.")


@strawberry.type(description="An incident's SLA clocks, counted in its company's business time.")
class IncidentSla:
    response_deadline: datetime | None = strawberry.field(
        description="When a person must have acknowledged it (null while paused)."
    )
    resolution_deadline: datetime | None = strawberry.field(
        description="When it must be resolved (null while paused; restarts when it reopens)."
    )
    response_remaining_seconds: float | None = strawberry.field(
        description="Seconds until the response deadline, negative once past; while paused, the "
        "business seconds it had left; null once met."
    )
    resolution_remaining_seconds: float | None = strawberry.field(
        description="Seconds until the resolution deadline, negative once past; while paused, the "
        "business seconds it had left; null once met."
    )
    response_breached: bool = strawberry.field(description="The response deadline passed before it was met.")
    resolution_breached: bool = strawberry.field(
        description="The resolution deadline passed before it was met."
    )
    paused: bool = strawberry.field(description="Its clocks stand still: it is waiting on the client.")


def _remaining(clocks: domain_sla.IncidentClocks, kind: domain_sla.SlaKind, now: datetime) -> float | None:
    if clocks.get(kind, "met_at") is not None:
        return None
    if clocks.paused:
        left: float | None = clocks.get(kind, "left_seconds")
        return left
    return domain_sla.remaining_seconds(clocks.get(kind, "deadline"), now)


def incident_sla_type(row: Any, now: datetime) -> IncidentSla:
    clocks = domain_sla.IncidentClocks(
        **{name: getattr(row, name) for name in domain_sla.IncidentClocks.__dataclass_fields__}
    )
    response, resolution = domain_sla.SlaKind.RESPONSE, domain_sla.SlaKind.RESOLUTION
    return IncidentSla(
        response_deadline=clocks.response_deadline,
        resolution_deadline=clocks.resolution_deadline,
        response_remaining_seconds=_remaining(clocks, response, now),
        resolution_remaining_seconds=_remaining(clocks, resolution, now),
        response_breached=domain_sla.breached(clocks, response, now),
        resolution_breached=domain_sla.breached(clocks, resolution, now),
        paused=clocks.paused,
    )


def _sla_loader(loaders: IncidentLoaders) -> DataLoader[uuid.UUID, Any]:
    """The clocks of a page of incidents in one query, cached with the operation's (or the event's)
    incident loaders."""
    found: DataLoader[uuid.UUID, Any] | None = loaders.__dict__.get("sla_clocks")
    if found is None:
        repo = SlaClockRepository(loaders.uow.session, loaders.uow.principal)

        async def load(ids: list[uuid.UUID]) -> list[Any]:
            rows = {r.incident_id: r for r in await repo.clocks(ids)}
            return [rows.get(i) for i in ids]

        found = loaders.__dict__.setdefault("sla_clocks", DataLoader(load))
    return found


async def resolve_incident_sla(info: strawberry.Info, incident: Incident) -> IncidentSla | None:
    """`Incident.sla`: null until the sla-clocks reaction has seen the incident."""
    loaders = await loaders_for(info, incident._loaders)
    row = await _sla_loader(loaders).load(incident._row.id)
    return None if row is None else incident_sla_type(row, datetime.now(UTC))


@strawberry.type(description="How long incidents of one severity may take, in business minutes.")
class SlaTarget:
    severity: Severity = strawberry.field(description="The incidents' severity.")
    response_minutes: int = strawberry.field(description="Until a person acknowledges it (at least 1).")
    resolution_minutes: int = strawberry.field(description="Until it is resolved (at least 1).")


@strawberry.type(description="When the SLA clocks run.")
class BusinessHours:
    timezone: str = strawberry.field(description="IANA time zone the hours are read in.")
    days: list[Weekday] = strawberry.field(description="The working days.")
    start: str = strawberry.field(description="Start of the working day, HH:MM local time.")
    end: str = strawberry.field(description="End of the working day, HH:MM local time (24:00: midnight).")


@strawberry.type(description="Days the SLA clocks stand still.")
class SlaHolidays:
    country: str | None = strawberry.field(description="ISO 3166 code whose public holidays count.")
    subdivision: str | None = strawberry.field(description="The country's state or region, if any.")
    dates: list[date] = strawberry.field(description="The company's own days off.")


@strawberry.type(description="A company's SLA policy (the spec's defaults until changed).")
class SlaPolicy:
    company_id: strawberry.ID = strawberry.field(description="The company's global ID.")
    targets: list[SlaTarget] = strawberry.field(description="One target per severity.")
    business_hours: BusinessHours | None = strawberry.field(
        description="When the clocks run; null: around the clock."
    )
    holidays: SlaHolidays = strawberry.field(description="Days the clocks stand still.")
    warn_at_percent: int = strawberry.field(
        description="Share of a deadline's time after which the assignee is warned (default 80)."
    )


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def sla_policy_type(company_id: uuid.UUID, policy: domain_sla.SlaPolicy) -> SlaPolicy:
    hours = policy.business_hours
    order = list(DomainSeverity)
    return SlaPolicy(
        company_id=to_global_id("Company", company_id),
        targets=[
            SlaTarget(
                severity=Severity(severity.value),
                response_minutes=target.response_minutes,
                resolution_minutes=target.resolution_minutes,
            )
            for severity, target in sorted(policy.targets.items(), key=lambda i: order.index(i[0]))
        ],
        business_hours=None
        if hours is None
        else BusinessHours(
            timezone=hours.timezone,
            days=[Weekday(int(d)) for d in sorted(hours.days)],
            start=_hhmm(hours.start_minute),
            end=_hhmm(hours.end_minute),
        ),
        holidays=SlaHolidays(
            country=policy.holidays.country,
            subdivision=policy.holidays.subdivision,
            dates=sorted(policy.holidays.dates),
        ),
        warn_at_percent=policy.warn_percent,
    )


@strawberry.type(description="An SLA deadline an incident missed, as pushed to `slaBreached` subscribers.")
class SlaBreachedEvent:
    clock: SlaClock = strawberry.field(description="RESPONSE or RESOLUTION.")
    deadline: datetime = strawberry.field(description="The deadline that passed.")
    level: int | None = strawberry.field(
        description="For a resolution breach: the escalation level it made (1 company admins, 2 MSP admins)."
    )
    at: datetime = strawberry.field(description="When the monitor acted on it.")
    incident: Incident = strawberry.field(description="The incident as it is now.")
