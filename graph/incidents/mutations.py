"""Mutations of the incident area: correlation settings, maintenance windows, working incidents.

Each runs in one transaction (`mutate`); events are published inside it (by the repositories for
settings and maintenance windows, with `uow.publish` for incident changes), so nothing is announced
that did not commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry

from domain.correlation import CorrelationSettings
from domain.errors import InvalidInput, NotFound
from domain.ids import uuid7
from domain.incidents import IncidentAction
from domain.maintenance import MaintenanceWindow as WindowRule
from domain.maintenance import Recurrence
from domain.maintenance import RecurrenceFrequency as DomainFrequency
from domain.rbac import Permission
from graph.core import USER_ERRORS_DESCRIPTION, UserError, from_global_id, mutate, to_global_id
from graph.incidents.types import (
    Incident,
    MaintenanceWindow,
    MonitoringTool,
    RecurrenceFrequency,
    incident_type,
    maintenance_window_type,
)
from graph.platform.types import Company, company_type

# ---- correlation settings ----------------------------------------------------------------------


@strawberry.input(description="A company's correlation settings; omitted fields keep their value.")
class CorrelationConfigUpdateInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    window_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="Correlation window, 5 to 15 minutes."
    )
    flap_threshold: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="More fire/resolve cycles than this within the flap window mark an incident flapping (1-100).",
    )
    flap_window_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="Flap detection window, 1 minute to 24 hours."
    )
    auto_resolve_minutes: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Quiet minutes before incidents of `autoResolveTools` resolve themselves (1 minute to 7 days); null turns auto-resolve off.",
    )
    auto_resolve_tools: list[MonitoringTool] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Tools that never send a resolve, e.g. `[SPLUNK]` (replaces the list; [] for none).",
    )


@strawberry.type(description="Result of `correlationConfigUpdate`.")
class CorrelationConfigUpdatePayload:
    company: Company | None = strawberry.field(default=None, description="The company with its new settings.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


# The domain names its fields after the company columns; the input names them without the prefix.
_SETTINGS_FIELDS = {"correlationWindowMinutes": "windowMinutes"}


def _given(value: Any, current: Any) -> Any:
    return current if value is strawberry.UNSET or value is None else value


async def correlation_config_update(
    info: strawberry.Info,
    input: Annotated[CorrelationConfigUpdateInput, strawberry.argument(description="The mutation's input.")],
) -> CorrelationConfigUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        try:
            uow.companies.require(Permission.COMPANY_SETTINGS, company_id)
        except NotFound as exc:
            raise NotFound("company not found", field="companyId") from exc
        current = await uow.companies.get(company_id)
        if current is None:
            raise NotFound("company not found", field="companyId")
        auto_resolve = (
            current.auto_resolve_minutes
            if input.auto_resolve_minutes is strawberry.UNSET
            else input.auto_resolve_minutes
        )
        given = input.auto_resolve_tools
        tools = list(
            dict.fromkeys(
                current.auto_resolve_tools
                if given is strawberry.UNSET or given is None
                else [tool.value for tool in given]
            )
        )
        settings = CorrelationSettings.from_minutes(
            window_minutes=_given(input.window_minutes, current.correlation_window_minutes),
            flap_threshold=_given(input.flap_threshold, current.flap_threshold),
            flap_window_minutes=_given(input.flap_window_minutes, current.flap_window_minutes),
            auto_resolve_minutes=auto_resolve,
            auto_resolve_tools=tools,
        )
        try:
            settings.validate()
        except InvalidInput as exc:
            exc.field = _SETTINGS_FIELDS.get(exc.field or "", exc.field)
            raise
        row = await uow.companies.update_settings(
            company_id,
            "company.correlation_update",
            correlation_window_minutes=int(settings.window.total_seconds() // 60),
            flap_threshold=settings.flap_threshold,
            flap_window_minutes=int(settings.flap_window.total_seconds() // 60),
            auto_resolve_minutes=auto_resolve,
            auto_resolve_tools=tools,
        )
        return {"company": company_type(row)}

    return await mutate(info, work, CorrelationConfigUpdatePayload)


# ---- maintenance windows -----------------------------------------------------------------------


@strawberry.input(description="How a maintenance window repeats.")
class MaintenanceRecurrenceInput:
    frequency: RecurrenceFrequency = strawberry.field(description="DAILY or WEEKLY.")
    days_of_week: list[int] | None = strawberry.field(
        default=None, description="For WEEKLY (required there): 0 = Monday to 6 = Sunday."
    )
    timezone: str = strawberry.field(
        default="UTC", description="IANA time zone the window's wall-clock times repeat in."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Last possible start of an occurrence (inclusive); omit to repeat forever."
    )


@strawberry.input(description="A new maintenance window.")
class MaintenanceWindowCreateInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    name: str = strawberry.field(description="What the maintenance is (1-120 characters).")
    starts_at: datetime = strawberry.field(
        description="Start, with a time zone offset (of the first occurrence, when recurring)."
    )
    ends_at: datetime = strawberry.field(
        description="End, after `startsAt`; a recurring occurrence lasts at most 7 days."
    )
    recurrence: MaintenanceRecurrenceInput | None = strawberry.field(
        default=None, description="Omit for a one-off window."
    )
    asset_names: list[str] | None = strawberry.field(
        default=None, description="Only these assets (case-insensitive, at most 100); omit for every asset."
    )
    signatures: list[str] | None = strawberry.field(
        default=None,
        description=(
            "Only these signatures (case-insensitive, at most 100), and the alerts whose canonical signature"
            " is the canonical form of one of them; omit for every signature."
        ),
    )


@strawberry.type(description="Result of `maintenanceWindowCreate`.")
class MaintenanceWindowCreatePayload:
    maintenance_window: MaintenanceWindow | None = strawberry.field(
        default=None, description="The new window."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def maintenance_window_create(
    info: strawberry.Info,
    input: Annotated[MaintenanceWindowCreateInput, strawberry.argument(description="The mutation's input.")],
) -> MaintenanceWindowCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        recurrence = None
        if input.recurrence is not None:
            r = input.recurrence
            recurrence = Recurrence(
                frequency=DomainFrequency(r.frequency.value),
                days_of_week=frozenset(r.days_of_week or ()),
                timezone=r.timezone,
                until=r.until,
            )
        asset_names, signatures = list(input.asset_names or []), list(input.signatures or [])
        window = WindowRule(
            id=uuid7(),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            recurrence=recurrence,
            asset_names=frozenset(asset_names),
            signatures=frozenset(signatures),
        )
        row = await uow.maintenance.create(company_id, input.name, window, asset_names, signatures)
        return {"maintenance_window": maintenance_window_type(row)}

    return await mutate(info, work, MaintenanceWindowCreatePayload)


@strawberry.input(description="The maintenance window to delete.")
class MaintenanceWindowDeleteInput:
    id: strawberry.ID = strawberry.field(description="Maintenance window global ID.")


@strawberry.type(description="Result of `maintenanceWindowDelete`.")
class MaintenanceWindowDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the deleted window."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def maintenance_window_delete(
    info: strawberry.Info,
    input: Annotated[MaintenanceWindowDeleteInput, strawberry.argument(description="The mutation's input.")],
) -> MaintenanceWindowDeletePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.maintenance.delete(from_global_id(input.id, "MaintenanceWindow"))
        return {"deleted_id": to_global_id("MaintenanceWindow", row.id)}

    return await mutate(info, work, MaintenanceWindowDeletePayload)


# ---- working incidents -------------------------------------------------------------------------


@strawberry.input(description="Acknowledge an incident: someone owns it now.")
class IncidentAcknowledgeInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="Optional note for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Resolve an incident by hand; its open alerts are closed with it.")
class IncidentResolveInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="Optional note for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Start work on an incident.")
class IncidentStartWorkInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="Optional note for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Escalate an incident.")
class IncidentEscalateInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="Why it is escalated, for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Put an incident on hold until the client answers or acts.")
class IncidentWaitOnClientInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="What the client was asked, for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Reopen a resolved incident.")
class IncidentReopenInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    note: str | None = strawberry.field(
        default=None, description="Optional note for the timeline (at most 2000 characters)."
    )


@strawberry.type(description="Result of a mutation that changes an incident.")
class IncidentPayload:
    incident: Incident | None = strawberry.field(default=None, description="The incident after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def _work_incident(
    info: strawberry.Info, global_id: str, note: str | None, action: IncidentAction
) -> IncidentPayload:
    async def work(uow: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        # The writer closes the open alerts of a resolved incident and announces the change itself.
        row, _ = await uow.incidents.apply(from_global_id(global_id, "Incident"), action, note, now)
        return {"incident": incident_type(row)}

    return await mutate(info, work, IncidentPayload)


async def incident_acknowledge(
    info: strawberry.Info,
    input: Annotated[IncidentAcknowledgeInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.ACKNOWLEDGE)


async def incident_resolve(
    info: strawberry.Info,
    input: Annotated[IncidentResolveInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.RESOLVE)


async def incident_start_work(
    info: strawberry.Info,
    input: Annotated[IncidentStartWorkInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.START_WORK)


async def incident_escalate(
    info: strawberry.Info,
    input: Annotated[IncidentEscalateInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.ESCALATE)


async def incident_wait_on_client(
    info: strawberry.Info,
    input: Annotated[IncidentWaitOnClientInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.WAIT_ON_CLIENT)


async def incident_reopen(
    info: strawberry.Info,
    input: Annotated[IncidentReopenInput, strawberry.argument(description="The mutation's input.")],
) -> IncidentPayload:
    return await _work_incident(info, input.id, input.note, IncidentAction.REOPEN)
