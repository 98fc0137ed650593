"""What the webhook routes need at run time, built once per process in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.delivery_log import DeliveryRecorder
from db.ingest import AlertWriter
from db.ratelimit import RateLimiter
from db.webhook_auth import WebhookCompanyCache


@dataclass
class IngestService:
    companies: WebhookCompanyCache
    limiter: RateLimiter
    writer: AlertWriter
    sns: Any
    # The recent deliveries per company and integration (written without the request waiting).
    deliveries: DeliveryRecorder

    def on_event(self, event: dict[str, Any]) -> None:
        self.companies.on_event(event)
        if event.get("topic") == "system:companies":
            import uuid

            try:
                self.limiter.forget(uuid.UUID(str(event.get("id"))))
            except ValueError:
                pass
