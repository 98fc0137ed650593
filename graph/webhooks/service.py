"""What the webhook routes need at run time, built once per process in the lifespan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from db.delivery_log import DeliveryRecorder
from db.events import COMPANIES_TOPIC, BusEvent
from db.ingest import AlertWriter
from db.ratelimit import RateLimiter
from db.webhook_auth import WebhookCompanyCache
from domain.ingest import AlertIngest


@dataclass
class IngestService:
    companies: WebhookCompanyCache
    limiter: RateLimiter
    writer: AlertWriter
    sns: Any
    # The recent deliveries per company and integration (written without the request waiting).
    deliveries: DeliveryRecorder
    # The use case both the webhook and `alertIngest` store alerts through.
    alerts: AlertIngest = field(init=False)

    def __post_init__(self) -> None:
        self.alerts = AlertIngest(self.limiter, self.writer)

    def on_event(self, event: BusEvent) -> None:
        """Bus hook: a company's change, published by the repository that made it, drops what this
        process cached of it (its API key lookup, its rate-limit lease)."""
        if event.topic != COMPANIES_TOPIC:
            return
        self.companies.forget(str(event.id))
        try:
            self.limiter.forget(uuid.UUID(str(event.id)))
        except ValueError:
            pass
