"""Root fields of the SLA area (merged into the schema's Query, Mutation and Subscription)."""

from __future__ import annotations

import strawberry

from graph.sla import mutations, queries, subscriptions
from graph.sla.types import SlaBreachedEvent, SlaPolicy


@strawberry.type
class SlaQuery:
    sla_policy: SlaPolicy | None = strawberry.field(
        resolver=queries.sla_policy,
        description="A company's SLA policy (null if the company does not exist or is not yours).",
    )


@strawberry.type
class SlaMutation:
    sla_policy_update: mutations.SlaPolicyUpdatePayload = strawberry.mutation(
        resolver=mutations.sla_policy_update,
        description="Change a company's SLA policy: its company admins and MSP admins. Applies to the "
        "deadlines set from now on (an incident's clocks are recomputed at its next change).",
    )


@strawberry.type
class SlaSubscription:
    # strawberry's field descriptor types the attribute as the event, not the resolver's generator
    sla_breached: SlaBreachedEvent = strawberry.subscription(  # type: ignore[assignment]
        resolver=subscriptions.sla_breached,
        description="Each SLA deadline an incident misses, once, as the monitor acts on it.",
    )
