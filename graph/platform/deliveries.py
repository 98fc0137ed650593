"""`webhookDeliveries`: why a company's tool is failing, from the answers its webhooks got.

MSP admins read every company's deliveries, company admins their own companies'; technicians hold no
`company:credentials` permission and get PERMISSION_DENIED, as for the audit log. A request whose API
key named no company (missing or unknown) belongs to nobody: it is only in the server log.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry

from db import tables
from domain.errors import NotFound
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
from graph.enums import MonitoringTool
from graph.platform.users import domain_errors_as_graphql


@strawberry.enum(description="What became of a webhook delivery.")
class DeliveryOutcome(enum.Enum):
    ACCEPTED = strawberry.enum_value("accepted", description="Its alerts were stored (202).")
    IGNORED = strawberry.enum_value(
        "ignored", description="A notification that changes no alert (200 `ignored`): nothing stored."
    )
    REPLAYED = strawberry.enum_value(
        "replayed", description="A repeated `X-Delivery-ID`: the first answer again, nothing stored."
    )
    REFUSED = strawberry.enum_value(
        "refused", description="Refused (4xx or 5xx): `status`, `reason` and `detail` say why."
    )


@strawberry.type(description="One webhook request a company's API key authenticated, and its answer.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Opaque ID of the record.")
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")
    integration: MonitoringTool = strawberry.field(description="The endpoint it was sent to.")
    outcome: DeliveryOutcome = strawberry.field(description="Accepted, ignored, replayed or refused.")
    status: int = strawberry.field(description="The HTTP status answered.")
    reason: str = strawberry.field(
        description="Machine-readable reason, e.g. `accepted`, `signature_rejected`, `invalid_payload`, "
        "`rate_limited`, `batch_too_large`, `delivery_id_reused` (README, Webhooks)."
    )
    detail: str | None = strawberry.field(
        description="The answer's error message (and failing fields); never the body or a secret."
    )
    alert_count: int = strawberry.field(description="Alerts it stored (or replayed).")
    request_id: str | None = strawberry.field(description="`X-Request-ID` of the request, to match logs.")
    at: datetime = strawberry.field(description="When it was answered.")


def delivery_type(row: tables.WebhookDeliveryRecord) -> WebhookDelivery:
    return WebhookDelivery(
        id=to_global_id("WebhookDelivery", row.id),
        company_id=to_global_id("Company", row.company_id),
        integration=MonitoringTool(row.integration),
        outcome=DeliveryOutcome(row.outcome),
        status=row.status,
        reason=row.reason,
        detail=row.detail,
        alert_count=row.alert_count,
        request_id=row.request_id,
        at=row.at,
    )


async def webhook_deliveries(
    info: strawberry.Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this company's deliveries.")
    ] = None,
    integration: Annotated[
        MonitoringTool | None, strawberry.argument(description="Only those sent to this endpoint.")
    ] = None,
    outcome: Annotated[DeliveryOutcome | None, strawberry.argument(description="Only this outcome.")] = None,
) -> Connection[WebhookDelivery]:
    require_principal(info)
    uow = await info.context.read()
    if not uow.deliveries.can_read():
        raise PublicError("you do not have permission to read webhook deliveries", "PERMISSION_DENIED")
    company, unknown = None, False
    if company_id is not None:
        try:
            company = from_global_id(company_id, "Company", field="companyId")
        except NotFound:
            unknown = True
    with domain_errors_as_graphql():
        page = await uow.deliveries.page(
            first=first,
            after=after,
            company_id=company,
            unknown_company=unknown,
            integration=integration.value if integration is not None else None,
            outcome=outcome.value if outcome is not None else None,
        )
    return connection(page, delivery_type)
