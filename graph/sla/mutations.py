"""`slaPolicyUpdate`: a company's SLA targets, business hours, holidays and warning threshold."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from db.repositories.sla import SlaPolicyRepository
from domain import sla as domain_sla
from domain.alerts import Severity as DomainSeverity
from domain.errors import DomainError, InvalidInput
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    from_global_id,
    mutate,
    user_error,
)
from graph.enums import SlaErrorCode

if TYPE_CHECKING:  # a GraphQL enum built at run time (`_mirror`): a plain enum to the type checker
    from domain.alerts import Severity
else:
    from graph.incidents.types import Severity
from graph.sla.types import SlaPolicy, Weekday, sla_policy_type


@strawberry.type(description="Why `slaPolicyUpdate` could not be applied; nothing was changed.")
class SlaPolicyError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase path), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: SlaErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.input(description="The targets of one severity, in business minutes.")
class SlaTargetInput:
    severity: Severity = strawberry.field(description="The incidents' severity.")
    response_minutes: int = strawberry.field(description="Until a person acknowledges it: 1 to 525600.")
    resolution_minutes: int = strawberry.field(description="Until it is resolved: 1 to 525600.")


@strawberry.input(description="When the SLA clocks run.")
class BusinessHoursInput:
    timezone: str = strawberry.field(description="IANA time zone, e.g. Europe/Berlin.")
    days: list[Weekday] = strawberry.field(description="The working days (at least one).")
    start: str = strawberry.field(description="Start of the working day, HH:MM.")
    end: str = strawberry.field(
        description="End of the working day, HH:MM after the start (24:00: midnight)."
    )


@strawberry.input(description="Days the SLA clocks stand still.")
class SlaHolidaysInput:
    country: str | None = strawberry.field(
        default=None, description="ISO 3166 code whose public holidays count (e.g. DE); null: none."
    )
    subdivision: str | None = strawberry.field(
        default=None, description="The country's state or region (e.g. BY), for regional holidays."
    )
    dates: list[date] = strawberry.field(
        default_factory=list, description="The company's own days off (at most 366)."
    )


@strawberry.input(description="SLA policy fields to change; omitted fields stay as they are.")
class SlaPolicyUpdateInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    targets: list[SlaTargetInput] | None = strawberry.field(
        default=strawberry.UNSET, description="New targets of the severities listed (each at most once)."
    )
    business_hours: BusinessHoursInput | None = strawberry.field(
        default=strawberry.UNSET, description="New business hours; null: around the clock."
    )
    holidays: SlaHolidaysInput | None = strawberry.field(
        default=strawberry.UNSET, description="New holidays (replacing the old); null: none."
    )
    warn_at_percent: int | None = strawberry.field(
        default=strawberry.UNSET, description="New warning threshold, 1 to 100 percent of a deadline."
    )


@strawberry.type(description="Result of `slaPolicyUpdate`.")
class SlaPolicyUpdatePayload:
    sla_policy: SlaPolicy | None = strawberry.field(default=None, description="The policy as saved.")
    user_errors: list[SlaPolicyError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _changed(input: SlaPolicyUpdateInput, policy: domain_sla.SlaPolicy) -> domain_sla.SlaPolicy:
    changes: dict[str, Any] = {}
    if input.targets is not strawberry.UNSET and input.targets is not None:
        targets = dict(policy.targets)
        seen: set[DomainSeverity] = set()
        for i, t in enumerate(input.targets):
            severity = DomainSeverity(t.severity.value)
            if severity in seen:
                raise InvalidInput("each severity at most once", field=f"targets[{i}].severity")
            seen.add(severity)
            targets[severity] = domain_sla.check_target(
                severity, t.response_minutes, t.resolution_minutes, f"targets[{i}]"
            )
        changes["targets"] = targets
    if input.business_hours is not strawberry.UNSET:
        hours = input.business_hours
        changes["business_hours"] = (
            None
            if hours is None
            else domain_sla.check_business_hours(
                hours.timezone,
                [domain_sla.Weekday[d.name] for d in hours.days],
                hours.start,
                hours.end,
                "businessHours",
            )
        )
    if input.holidays is not strawberry.UNSET:
        days = input.holidays
        changes["holidays"] = (
            domain_sla.Holidays()
            if days is None
            else domain_sla.check_holidays(days.country, days.subdivision, list(days.dates), "holidays")
        )
    if input.warn_at_percent is not strawberry.UNSET and input.warn_at_percent is not None:
        if not 1 <= input.warn_at_percent <= 100:
            raise InvalidInput("must be between 1 and 100", field="warnAtPercent")
        changes["warn_percent"] = input.warn_at_percent
    return dataclasses.replace(policy, **changes)


def _error(exc: DomainError) -> SlaPolicyError:
    error: SlaPolicyError = user_error(exc, SlaErrorCode, SlaPolicyError)
    return error


async def sla_policy_update(
    info: strawberry.Info,
    input: Annotated[SlaPolicyUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> SlaPolicyUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        repo = SlaPolicyRepository(uow.session, uow.principal, uow.audit)
        saved = await repo.update(company_id, lambda policy: _changed(input, policy))
        return {"sla_policy": sla_policy_type(company_id, saved)}

    return await mutate(info, work, SlaPolicyUpdatePayload, _error)
