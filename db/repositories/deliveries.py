"""The recent webhook deliveries of the companies the caller may manage the credentials of."""

from __future__ import annotations

import uuid

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.tables import WebhookDeliveryRecord
from domain.rbac import Permission

#: Who reads the deliveries: whoever may fix the tool's credentials (MSP admins, company admins).
PERMISSION = Permission.COMPANY_CREDENTIALS


class DeliveryRepository(ScopedRepository):
    def can_read(self) -> bool:
        return self._principal().can(PERMISSION)

    async def page(
        self,
        *,
        first: int | None,
        after: str | None,
        company_id: uuid.UUID | None = None,
        unknown_company: bool = False,
        integration: str | None = None,
        outcome: str | None = None,
    ) -> Page[WebhookDeliveryRecord]:
        """Newest first."""
        stmt = self.in_company(
            self.readable(WebhookDeliveryRecord, PERMISSION),
            WebhookDeliveryRecord.company_id,
            company_id,
            unknown_company,
            PERMISSION,
        )
        if integration is not None:
            stmt = stmt.where(WebhookDeliveryRecord.integration == integration)
        if outcome is not None:
            stmt = stmt.where(WebhookDeliveryRecord.outcome == outcome)
        return await paginate(
            self.session, stmt, [WebhookDeliveryRecord.at, WebhookDeliveryRecord.id], first=first, after=after
        )
