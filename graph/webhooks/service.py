"""What the webhook routes need at run time, built once per process in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db.delivery_log import DeliveryRecorder
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

    def on_event(self, event: dict[str, Any]) -> None:
        self.companies.on_event(event)
        if event.get("topic") == "system:companies":
            import uuid

            try:
                self.limiter.forget(uuid.UUID(str(event.get("id"))))
            except ValueError:
                pass
