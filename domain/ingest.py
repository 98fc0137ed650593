"""Storing a batch of normalised alerts for a company: the one use case behind the webhook and `alertIngest`.

Both edges authenticate their caller their own way (an API key and HMAC, or a signed-in user's
permission), normalise what they received, and then hand the alerts to `AlertIngest`, which applies
the same rules in the same order: the delivery id's length, the batch against the company's burst,
the shared rate limit, then the group-commit store (deduplicated on the delivery id). Every refusal
is a typed error carrying its figures; each edge words it in its own protocol (status codes, or
`userErrors`) from those figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.alerts import NormalizedAlert, Tool
from domain.errors import Conflict, DomainError, InvalidInput
from domain.ports import AlertStore, RateLimit

# A delivery id (the webhook's X-Delivery-ID, `alertIngest`'s deliveryId) is stored as given: one
# length for both edges, checked before anything is charged or stored.
MAX_DELIVERY_ID = 200
SERVICE_UNAVAILABLE_MESSAGE = "temporarily unable to store alerts; retry"


class DeliveryIdInvalid(InvalidInput):
    """A delivery id that is empty or longer than MAX_DELIVERY_ID (each edge names its own field)."""

    def __init__(self) -> None:
        super().__init__(f"must be 1 to {MAX_DELIVERY_ID} characters")


class BatchTooLarge(InvalidInput):
    """More alerts in one request than the company's burst: no retry could ever fit it."""

    def __init__(self, alerts: int, burst: int) -> None:
        super().__init__(
            f"a request may carry at most {burst} alerts (the company's rate-limit burst) and this one "
            f"has {alerts}: send smaller batches or raise the burst (companyRateLimitUpdate)",
            field="alerts",
            code="PAYLOAD_INVALID",
        )
        self.alerts = alerts
        self.burst = burst


class RateLimited(DomainError):
    """The company's bucket does not hold the batch now; it will in `retry_after` seconds."""

    default_code = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded: retry in {retry_after} s")
        self.retry_after = retry_after


class DeliveryReused(Conflict):
    """A delivery id already used for a request that carried other alerts."""

    def __init__(self) -> None:
        super().__init__(
            "was already used for other alerts: a repeat must carry the same alerts, new alerts need a "
            "new delivery id",
            field="deliveryId",
        )


class ReplayedSignature(Conflict):
    """A signed request whose signature was already accepted under another delivery."""

    def __init__(self) -> None:
        super().__init__("this signed request was already accepted (replay)")


class ServiceUnavailable(DomainError):
    """The database could not be reached or could not commit: nothing was stored, a retry may succeed."""

    default_code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str = SERVICE_UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class IngestTenant:
    """The company alerts are stored for, with its rate limit (however the edge found it)."""

    id: uuid.UUID
    rate_per_second: float
    rate_burst: int


@dataclass(frozen=True, slots=True)
class AlertBatch:
    """What the store commits in one go: the alerts of one request and its idempotency keys."""

    company_id: uuid.UUID
    tool: Tool
    alerts: Sequence[NormalizedAlert]
    delivery_key: str | None = None
    signature_hash: str | None = None


@dataclass(frozen=True, slots=True)
class StoredAlerts:
    """The stored answer (the first one, for a repeated delivery id) and whether this was a repeat."""

    response: dict[str, Any]
    replayed: bool


def check_delivery_key(key: str | None) -> None:
    """Refuse a delivery id of the wrong length (DeliveryIdInvalid); None means no idempotency key."""
    if key is not None and not 0 < len(key) <= MAX_DELIVERY_ID:
        raise DeliveryIdInvalid()


class AlertIngest:
    """Charge the company's rate limit and store the batch, or say why not (typed errors above)."""

    def __init__(self, limiter: RateLimit, store: AlertStore) -> None:
        self.limiter = limiter
        self.store = store

    async def __call__(
        self,
        tenant: IngestTenant,
        tool: Tool,
        alerts: Sequence[NormalizedAlert],
        delivery_key: str | None = None,
        signature_hash: str | None = None,
    ) -> StoredAlerts:
        check_delivery_key(delivery_key)
        if len(alerts) > tenant.rate_burst:
            raise BatchTooLarge(len(alerts), tenant.rate_burst)
        decision = await self.limiter.acquire(
            tenant.id, len(alerts), tenant.rate_per_second, tenant.rate_burst
        )
        if decision.too_large:
            raise BatchTooLarge(len(alerts), tenant.rate_burst)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)
        return await self.store.store(AlertBatch(tenant.id, tool, alerts, delivery_key, signature_hash))
