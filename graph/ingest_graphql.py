"""`alertIngest`: the generic webhook's alerts through GraphQL, under the same rules.

The input is turned into the generic webhook JSON and goes through the same normaliser and the same
use case (`domain.ingest.AlertIngest`: delivery id, batch and rate limits, group-commit store), so a
`deliveryId` is one idempotency key shared with the webhook's `X-Delivery-ID`, and a database outage
is the user error SERVICE_UNAVAILABLE where the webhook answers 503. Unlike the webhook, the caller is a signed-in user who needs
`alert:ingest` on the company (company and MSP admins).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from adapters import metrics
from db.outage import database_unavailable
from domain.alerts import PayloadError, Tool
from domain.errors import DomainError
from domain.ingest import (
    DeliveryIdInvalid,
    DeliveryReused,
    IngestTenant,
    RateLimited,
    ServiceUnavailable,
    check_delivery_key,
)
from domain.normalizers import NormalizeContext, normalize
from graph.core import (
    USER_ERRORS_DESCRIPTION,
    ErrorCode,
    UserError,
    from_global_id,
    require_principal,
    user_error,
)
from graph.incidents.types import AlertStatus
from graph.webhooks.answers import alert_global_ids


@strawberry.input(description="One alert, with the generic webhook's fields (see the integrations guide).")
class AlertInput:
    asset_name: str = strawberry.field(description="The asset as your tool names it (1-255 characters).")
    asset_id: str | None = strawberry.field(
        default=None,
        description="Your tool's id for the asset, if any: matched against the company's assets'"
        " `externalId` (an alert matching none is placed by `assetName`).",
    )
    signature: str = strawberry.field(description="What is wrong: check or rule name (1-255 characters).")
    severity: str = strawberry.field(
        description="critical, high, medium or low (common synonyms such as warning or error accepted); "
        "ok, normal, cleared, resolved or recovery resolve the alert."
    )
    message: str = strawberry.field(description="The alert's text (up to 4000 characters).")
    tool_source: str | None = strawberry.field(
        default=None, description="The sending tool's name; a known tool becomes the alert's `tool`."
    )
    timestamp: datetime | None = strawberry.field(
        default=None, description="When it happened (default now; clock skew is clamped)."
    )
    status: AlertStatus | None = strawberry.field(
        default=None, description="FIRING (default) or RESOLVED for a recovery."
    )
    dedup_key: str | None = strawberry.field(
        default=None, description="Your key that identifies repeats of this alert and its resolve message."
    )
    tags: JSON | None = strawberry.field(
        default=None, description="Object of string, number or boolean values (at most 50)."
    )


@strawberry.input(description="Alerts to store for one company.")
class AlertIngestInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    alerts: list[AlertInput] = strawberry.field(
        description="1 to 1000 alerts, and at most the company's rate-limit burst (a larger batch could never fit)."
    )
    delivery_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key (1-200 characters), shared with the webhook's X-Delivery-ID: a repeat with the same alerts stores nothing and returns the first answer; with other alerts it is refused (CONFLICT).",
    )


@strawberry.type(description="Result of `alertIngest`: the alerts are committed when this returns.")
class AlertIngestPayload:
    alert_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the stored alerts (of the first delivery, for a repeat)."
    )
    replayed: bool = strawberry.field(
        description="True when `deliveryId` was seen before and nothing new was stored."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


_CAMEL = {
    "asset_name": "assetName",
    "asset_id": "assetId",
    "tool_source": "toolSource",
    "dedup_key": "dedupKey",
}


def _generic(alert: AlertInput) -> dict[str, Any]:
    """The generic webhook JSON of one input alert (fields left out are omitted)."""
    item: dict[str, Any] = {
        "asset_name": alert.asset_name,
        "asset_id": alert.asset_id,
        "signature": alert.signature,
        "severity": alert.severity,
        "message": alert.message,
        "tool_source": alert.tool_source,
        "timestamp": alert.timestamp.isoformat() if alert.timestamp else None,
        "status": alert.status.value if alert.status else None,
        "dedup_key": alert.dedup_key,
        "tags": alert.tags,
    }
    return {k: v for k, v in item.items() if v is not None}


def _input_path(path: str) -> str:
    """`alerts.3.asset_name` (webhook JSON) -> `alerts.3.assetName` (this input)."""
    return ".".join(_CAMEL.get(part, part) for part in path.split("."))


def _refused(*errors: UserError) -> AlertIngestPayload:
    return AlertIngestPayload(alert_ids=[], replayed=False, user_errors=list(errors))


async def alert_ingest(
    info: strawberry.Info,
    input: Annotated[AlertIngestInput, strawberry.argument(description="The mutation's input.")],
) -> AlertIngestPayload:
    require_principal(info)
    try:
        return await _ingest(info, input)
    except ServiceUnavailable as exc:
        return _refused(user_error(exc))
    except Exception as exc:
        # The company lookup meets an outage before the use case does: the same typed answer.
        if database_unavailable(exc):
            return _refused(user_error(ServiceUnavailable()))
        raise


async def _ingest(info: strawberry.Info, input: AlertIngestInput) -> AlertIngestPayload:
    ingest = info.context.services.ingest_service()
    try:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        async with info.context.uow() as uow:
            company = await uow.alerts.ingest_company(company_id)
            tenant = IngestTenant(company_id, company.rate_limit_per_second, company.rate_limit_burst)
        check_delivery_key(input.delivery_id)
    except DeliveryIdInvalid as exc:
        exc.field = "deliveryId"
        return _refused(user_error(exc))
    except DomainError as exc:
        return _refused(user_error(exc))

    try:
        alerts = normalize(
            Tool.GENERIC,
            {"alerts": [_generic(a) for a in input.alerts]},
            NormalizeContext(now=datetime.now(UTC)),
        )
    except PayloadError as exc:
        return _refused(
            *(
                UserError(field=_input_path(e.field), message=e.message, code=ErrorCode.PAYLOAD_INVALID)
                for e in exc.errors
            )
        )

    try:
        result = await ingest.alerts(tenant, Tool.GENERIC, alerts, delivery_key=input.delivery_id)
    except RateLimited as exc:
        return _refused(UserError(field=None, message=exc.message, code=ErrorCode.RATE_LIMITED))
    except DeliveryReused:
        return _refused(
            UserError(
                field="deliveryId",
                message="was already used for other alerts: a repeat must carry the same alerts, "
                "new alerts need a new deliveryId",
                code=ErrorCode.CONFLICT,
            )
        )
    except ServiceUnavailable:
        raise
    except DomainError as exc:  # the batch larger than the burst
        return _refused(user_error(exc))
    ids = alert_global_ids(result.response)
    if not result.replayed:  # committed when the use case returns; a replay stored nothing
        metrics.alerts_ingested(metrics.GRAPHQL_INTEGRATION, len(ids))
    return AlertIngestPayload(
        alert_ids=[strawberry.ID(i) for i in ids],
        replayed=result.replayed,
        user_errors=[],
    )


@strawberry.type
class IngestMutation:
    alert_ingest: AlertIngestPayload = strawberry.mutation(
        resolver=alert_ingest,
        description="Store alerts for a company, as the generic webhook does (company and MSP admins).",
    )
