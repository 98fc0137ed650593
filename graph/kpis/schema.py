"""Root fields of the KPI area (merged into the schema's Query and Subscription)."""

from __future__ import annotations

import strawberry

from graph.kpis import queries, subscriptions
from graph.kpis.types import Kpis


@strawberry.type
class KpiQuery:
    kpis: Kpis = strawberry.field(
        resolver=queries.kpis,
        description="KPIs of a company, or (MSP admins, `companyId` omitted) of all companies with a row "
        "per company, for whole UTC hours of a range of at most 400 days. Company admins and technicians "
        "read their own companies'. Errors: INVALID_RANGE (`from` not before `to`), RANGE_TOO_LONG, "
        "NOT_FOUND (a company that is not yours), PERMISSION_DENIED (`companyId` omitted by a non-MSP admin).",
    )


@strawberry.type
class KpiSubscription:
    # strawberry's field descriptor types the attribute as the event, not the resolver's generator
    kpis_updated: Kpis = strawberry.subscription(  # type: ignore[assignment]
        resolver=subscriptions.kpis_updated,
        description="A company's KPIs for the last `hours` (up to now, whole hours): at once, then each "
        "time they change, at most once a second.",
    )
