"""Queries of the incident area: alerts, incidents, maintenance windows; all scoped to the caller."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry

from db.repositories.alerts import AlertSearch
from db.repositories.incidents import IncidentSearch, IncidentSort
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    Connection,
    connection,
    parse_global_id,
    require_principal,
)
from graph.incidents.loaders import loaders_for
from graph.incidents.types import (
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    MaintenanceWindow,
    MonitoringTool,
    Severity,
    alert_type,
    incident_type,
    maintenance_window_type,
)

COMPANY_ID_DESCRIPTION = "Only this company (global ID); omit for every company you may see."


def decode_id(global_id: str | None, kind: str) -> tuple[uuid.UUID | None, bool]:
    """(uuid, False) for a valid ID of `kind`; (None, True) for anything else; (None, False) when omitted."""
    if global_id is None:
        return None, False
    found, raw = parse_global_id(global_id)
    if found != kind:
        return None, True
    try:
        return uuid.UUID(raw), False
    except ValueError:
        return None, True


def _asset(value: str | None) -> tuple[uuid.UUID | None, str | None]:
    """An asset global ID filters by the asset; any other text is a name substring."""
    if not value or not value.strip():
        return None, None
    asset_id, _ = decode_id(value.strip(), "Asset")
    return (asset_id, None) if asset_id is not None else (None, value)


@strawberry.input(description="Narrow `alerts`: every field given must match.")
class AlertFilter:
    status: list[AlertStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    severity: list[Severity] | None = strawberry.field(default=None, description="Any of these severities.")
    asset: str | None = strawberry.field(
        default=None, description="An asset global ID, or a case-insensitive substring of the asset name."
    )
    tool: MonitoringTool | None = strawberry.field(default=None, description="Only alerts from this tool.")
    since: datetime | None = strawberry.field(default=None, description="Event time at or after this.")
    until: datetime | None = strawberry.field(default=None, description="Event time before this.")
    text: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of message, signature or asset name (first 200 characters used).",
    )


@strawberry.input(description="Narrow `incidents`: every field given must match.")
class IncidentFilter:
    status: list[IncidentStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    severity: list[Severity] | None = strawberry.field(default=None, description="Any of these severities.")
    asset: str | None = strawberry.field(
        default=None, description="An asset global ID, or a case-insensitive substring of the asset name."
    )
    tool: MonitoringTool | None = strawberry.field(
        default=None, description="Only incidents this tool reported."
    )
    since: datetime | None = strawberry.field(default=None, description="Created at or after this.")
    until: datetime | None = strawberry.field(default=None, description="Created before this.")
    text: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of signature or asset name (first 200 characters used).",
    )
    flapping: bool | None = strawberry.field(
        default=None, description="Only flapping (true) or non-flapping (false) incidents."
    )


@strawberry.enum(description="What incidents are sorted by.")
class IncidentOrderField(enum.Enum):
    PRIORITY = strawberry.enum_value(
        "priority_score",
        description="`priorityScore`, as of the first page's time (its cursors carry it, so later pages"
        " continue the same order and show the scores they were sorted by).",
    )
    CREATED_AT = strawberry.enum_value("created_at", description="When the incident was opened.")
    LAST_ALERT_AT = strawberry.enum_value(
        "last_alert_at", description="Event time of the incident's latest firing alert."
    )


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = strawberry.enum_value("asc", description="Smallest first (oldest, lowest score).")
    DESC = strawberry.enum_value("desc", description="Largest first (newest, highest score).")


@strawberry.input(
    description="Sort order of `incidents` (ties broken by ID). A cursor only continues the order it came from."
)
class IncidentOrder:
    field: IncidentOrderField = strawberry.field(
        default=IncidentOrderField.CREATED_AT, description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="Ascending or descending."
    )


def _search_fields(company_id: str | None, f: Any) -> dict[str, Any]:
    """The filters alerts and incidents share, decoded from their GraphQL filter input."""
    company, unknown = decode_id(company_id, "Company")
    asset_id, asset_name = _asset(f.asset)
    return {
        "company_id": company,
        "unknown_company": unknown,
        "statuses": tuple(s.value for s in f.status or ()),
        "severities": tuple(s.value for s in f.severity or ()),
        "asset_id": asset_id,
        "asset_name": asset_name,
        "tool": f.tool.value if f.tool else None,
        "since": f.since,
        "until": f.until,
        "text": f.text,
    }


async def alerts(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
    filter: Annotated[
        AlertFilter | None, strawberry.argument(description="Conditions the alerts must meet.")
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Alert]:
    require_principal(info)
    search = AlertSearch(**_search_fields(company_id, filter or AlertFilter()))
    loaders = await loaders_for(info)
    page = await loaders.uow.alerts.page(search, first=first, after=after)
    return connection(page, alert_type)


async def incidents(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
    filter: Annotated[
        IncidentFilter | None, strawberry.argument(description="Conditions the incidents must meet.")
    ] = None,
    order_by: Annotated[
        IncidentOrder | None, strawberry.argument(description="Sort order (default: newest first).")
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Incident]:
    require_principal(info)
    f = filter or IncidentFilter()
    order = order_by or IncidentOrder()
    search = IncidentSearch(**_search_fields(company_id, f), flapping=f.flapping)
    loaders = await loaders_for(info)
    descending = order.direction is OrderDirection.DESC
    if order.field is IncidentOrderField.PRIORITY:
        scored = await loaders.uow.incidents.page_by_priority(
            search, descending=descending, first=first, after=after, now=datetime.now(UTC)
        )
        return connection(scored, lambda s: incident_type(s.incident, priority_score=s.priority_score))
    page = await loaders.uow.incidents.page(
        search, sort=IncidentSort(order.field.value), descending=descending, first=first, after=after
    )
    return connection(page, incident_type)


async def incident(
    info: strawberry.Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="Incident global ID.")],
) -> Incident | None:
    require_principal(info)
    key, _ = decode_id(id, "Incident")
    if key is None:
        return None
    row = await (await loaders_for(info)).incident.load(key)
    return incident_type(row) if row else None


async def alert(
    info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Alert global ID.")]
) -> Alert | None:
    require_principal(info)
    key, _ = decode_id(id, "Alert")
    if key is None:
        return None
    loaders = await loaders_for(info)
    row = await loaders.uow.alerts.get(key)
    return alert_type(row) if row else None


async def maintenance_windows(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[MaintenanceWindow]:
    require_principal(info)
    company, unknown = decode_id(company_id, "Company")
    loaders = await loaders_for(info)
    page = await loaders.uow.maintenance.page(company, unknown_company=unknown, first=first, after=after)
    return connection(page, maintenance_window_type)
