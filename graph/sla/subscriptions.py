"""`slaBreached`: the SLA deadlines a company's incidents miss, as the monitor acts on them.

The channel is `company:{id}:sla`, named from the authenticated scope (as `incidentChanged`); each
event names an `sla_events` row, re-read with the caller's tenant scope (within the companies
subscribed to) after commit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, cast

import strawberry

from db.repositories.incidents import incident_rows
from db.repositories.sla import SlaClockRepository
from db.sla import SLA_TOPIC
from domain.rbac import Permission
from graph.core import require_principal
from graph.incidents.loaders import event_loaders
from graph.incidents.subscriptions import COMPANY_ID_DESCRIPTION, _companies, _topics
from graph.incidents.types import incident_type
from graph.sla.types import SlaBreachedEvent, SlaClock


async def sla_breached(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
) -> AsyncGenerator[SlaBreachedEvent, None]:
    topics = await _topics(info, company_id, SLA_TOPIC, Permission.INCIDENT_READ)
    companies = _companies(topics)
    principal = require_principal(info)
    pool = info.context.services.pool
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            event = await sub.queue.get()
            if event.id is None or not event.id.isdigit():
                continue
            info.context.event_started()
            try:
                async with event_loaders(info.context) as loaders:
                    # Breaches are rare: one read unit of work per event is cheap enough.
                    uow = (await loaders.ready()).uow
                    found = await SlaClockRepository(uow.session, uow.principal).events([int(event.id)])
                    found = [e for e in found if e.company_id in companies]
                    rows = await incident_rows(pool, principal, [e.incident_id for e in found], companies)
                    incidents = {r.id: r for r in rows}
                    for row in found:
                        incident = incidents.get(row.incident_id)
                        if incident is None:
                            continue
                        yield SlaBreachedEvent(
                            clock=SlaClock(row.clock),
                            deadline=row.deadline,
                            level=row.level,
                            at=row.at,
                            incident=incident_type(cast(Any, incident), loaders),
                        )
            finally:
                await info.context.event_finished()
