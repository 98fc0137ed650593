"""The audit log for admins: a newest-first connection and a CSV or JSON export.

MSP admins read every entry; company admins read their own companies' entries; technicians hold no
`audit:read` permission and get a PERMISSION_DENIED error (not an empty list), so a missing right is
never mistaken for a quiet log.
"""

from __future__ import annotations

import csv
import enum
import io
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import strawberry

from db import tables
from domain.errors import InvalidInput, NotFound
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    Connection,
    PublicError,
    connection,
    from_global_id,
    require_principal,
    to_global_id,
)
from graph.platform.types import AuditEntry, audit_type
from graph.platform.users import domain_errors_as_graphql, empty_connection

MAX_FILTER_TEXT = 64


@strawberry.input(description="Which audit entries to return; every given condition must hold.")
class AuditLogFilter:
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only entries about this company."
    )
    action: str | None = strawberry.field(default=None, description="Only this action, e.g. `asset.update`.")
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only changes made by this user (global ID)."
    )
    entity_type: str | None = strawberry.field(
        default=None, description="Only changes to this kind of object, e.g. `asset`."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only entries at or after this time (UTC if no offset is given)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Only entries before this time (UTC if no offset is given)."
    )


@strawberry.enum(description="File format of an audit log export.")
class AuditExportFormat(enum.Enum):
    CSV = strawberry.enum_value("csv", description="Comma-separated values with a header row (text/csv).")
    JSON = strawberry.enum_value("json", description="A JSON array of objects (application/json).")


@strawberry.type(description="An audit log export: the matching entries as one file, oldest first.")
class AuditLogExport:
    format: AuditExportFormat = strawberry.field(description="The format of `content`.")
    content_type: str = strawberry.field(description="MIME type of `content` (text/csv or application/json).")
    content: str = strawberry.field(
        description="The file: CSV with a header row, or a JSON array of objects."
    )
    row_count: int = strawberry.field(description="How many entries `content` holds.")
    truncated: bool = strawberry.field(
        description="More entries matched than one export holds (the newest were kept); narrow the filter."
    )


class NoMatch(Exception):
    """A filter names an object that cannot match (malformed or foreign ID): the result is empty."""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _id(global_id: strawberry.ID | None, kind: str, field: str) -> uuid.UUID | None:
    if global_id is None:
        return None
    try:
        return from_global_id(global_id, kind, field=field)
    except NotFound as exc:
        raise NoMatch from exc


def _filters(info: strawberry.Info, flt: AuditLogFilter | None) -> dict[str, Any]:
    """Repository filter arguments: InvalidInput for oversized text, NoMatch for IDs that match nothing."""
    flt = flt or AuditLogFilter()
    for name, value in (("action", flt.action), ("entityType", flt.entity_type)):
        if value is not None and len(value) > MAX_FILTER_TEXT:
            raise InvalidInput(f"must be at most {MAX_FILTER_TEXT} characters", field=f"filter.{name}")
        if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL: no entry matches
            raise NoMatch
    return {
        "company_id": _id(flt.company_id, "Company", "companyId"),
        "action": flt.action,
        "actor_id": _id(flt.actor_id, "User", "actorId"),
        "entity_type": flt.entity_type,
        "since": _utc(flt.since),
        "until": _utc(flt.until),
    }


def _require_audit_read(uow: Any) -> None:
    if not uow.audit.can_read():
        raise PublicError("you do not have permission to read the audit log", "PERMISSION_DENIED")


async def audit_log(
    info: strawberry.Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    filter: Annotated[
        AuditLogFilter | None, strawberry.argument(description="Conditions entries must meet.")
    ] = None,
) -> Connection[AuditEntry]:
    require_principal(info)
    uow = await info.context.read()
    _require_audit_read(uow)
    with domain_errors_as_graphql():
        try:
            filters = _filters(info, filter)
        except NoMatch:
            return empty_connection()
        page = await uow.audit.page(first=first, after=after, **filters)
    return connection(page, audit_type)


EXPORT_COLUMNS = (
    "id",
    "at",
    "actorId",
    "actorEmail",
    "action",
    "entityType",
    "entityId",
    "companyId",
    "before",
    "after",
    "requestId",
)


def export_record(row: tables.AuditEntry) -> dict[str, Any]:
    """One entry as exported: the API's global IDs and field names."""
    return {
        "id": to_global_id("AuditEntry", row.id),
        "at": row.at.isoformat(),
        "actorId": to_global_id("User", row.actor_id) if row.actor_id else None,
        "actorEmail": row.actor_email,
        "action": row.action,
        "entityType": row.entity_type,
        "entityId": row.entity_id,
        "companyId": to_global_id("Company", row.company_id) if row.company_id else None,
        "before": row.before,
        "after": row.after,
        "requestId": row.request_id,
    }


def _spreadsheet_safe(text: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) runs as a formula in spreadsheet apps; asset names and
    # emails are user input, so such cells are prefixed with an apostrophe (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in records:
        cells = []
        for column in EXPORT_COLUMNS:
            value = record[column]
            if value is None:
                cells.append("")
            elif isinstance(value, dict | list):
                cells.append(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
            else:
                cells.append(_spreadsheet_safe(str(value)))
        writer.writerow(cells)
    return out.getvalue()


async def audit_log_export(
    info: strawberry.Info,
    format: Annotated[AuditExportFormat, strawberry.argument(description="CSV (with a header row) or JSON.")],
    filter: Annotated[
        AuditLogFilter | None, strawberry.argument(description="Conditions entries must meet.")
    ] = None,
) -> AuditLogExport:
    require_principal(info)
    uow = await info.context.read()
    _require_audit_read(uow)
    with domain_errors_as_graphql():
        try:
            rows, truncated = await uow.audit.export(**_filters(info, filter))
        except NoMatch:
            rows, truncated = [], False
    records = [export_record(r) for r in rows]
    if format is AuditExportFormat.CSV:
        content, content_type = to_csv(records), "text/csv"
    else:
        content, content_type = orjson.dumps(records).decode(), "application/json"
    return AuditLogExport(
        format=format, content_type=content_type, content=content, row_count=len(records), truncated=truncated
    )
