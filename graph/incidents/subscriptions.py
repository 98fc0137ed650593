"""Live subscriptions: `alertReceived` and `incidentChanged`.

Channels are named from the authenticated principal's scope only (`company:{id}:alerts|incidents`),
never from the argument alone. Events are thin (kind + ids); the rows are re-read after commit with
the repositories' tenant scope (a burst of changes in one raw query, no ORM session), so a subscriber
sees exactly what committed and what it may see. Related rows (company, asset, alerts, timeline) go
through loaders whose session opens only if the selection asks for them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from db.events import BusEvent, topic
from db.repositories.alerts import alert_rows
from db.repositories.incidents import incident_rows
from domain.incidents import IncidentChangeKind as DomainChangeKind
from domain.rbac import Permission
from domain.tenancy import tenant_scope
from graph.core import PublicError, require_principal
from graph.incidents.loaders import event_loaders, fresh_read
from graph.incidents.queries import decode_id
from graph.incidents.types import (
    Alert,
    IncidentChangedEvent,
    IncidentChangeKind,
    alert_type,
    incident_type,
)

EVENT_CHUNK = 200
COMPANY_ID_DESCRIPTION = "Only this company (global ID); omit for every company you may see now."


async def _topics(
    info: strawberry.Info, company_id: str | None, name: str, permission: Permission
) -> set[str]:
    scope = tenant_scope(require_principal(info), permission)
    async with fresh_read(info.context) as uow:
        if company_id is None:
            return {topic(c, name) for c in await uow.companies.visible_ids() if scope.allows(c)}
        key, _ = decode_id(company_id, "Company")
        found = key is not None and await uow.companies.get(key) is not None
    if key is None or not found or not scope.allows(key):
        raise PublicError("company not found", "NOT_FOUND")
    return {topic(key, name)}


def _companies(topics: set[str]) -> list[uuid.UUID]:
    """The company ids of `company:{id}:...` topics."""
    return [uuid.UUID(t.split(":")[1]) for t in topics]


_SLICE_SECONDS = 0.002
_CATCH_UP_SLICE_SECONDS = 0.010
_BEHIND_EVENTS = 100
_slice_started = [0.0]


async def _pause_if_busy(waiting: int = 0) -> None:
    """Sending an event never waits, so a burst would hold the event loop for a whole chunk and delay
    every webhook; this lets other work in once the current slice has run for 2 ms.

    With more than `_BEHIND_EVENTS` events still `waiting`, slices are longer: on a loop saturated by
    webhooks, 2 ms turns leave the subscription too small a share of the loop to catch up once it is
    behind (bench/README.md has the figures).
    """
    now = time.perf_counter()
    slice_ = _CATCH_UP_SLICE_SECONDS if waiting > _BEHIND_EVENTS else _SLICE_SECONDS
    if now - _slice_started[0] >= slice_:
        await asyncio.sleep(0)
        _slice_started[0] = time.perf_counter()


def _incident_changes(events: list[BusEvent]) -> list[tuple[uuid.UUID, str]]:
    """(incident id, kind) pairs from events: the worker announces a batch's changes in one event
    (`changes`), a technician's action one change (`id`, `kind`)."""
    pairs: list[tuple[str | None, str | None]] = []
    for e in events:
        if e.changes:
            pairs.extend(e.changes)
        else:
            pairs.append((e.id, e.kind))
    return [
        (incident_id, str(kind))
        for raw_id, kind in pairs
        if kind in DomainChangeKind.__members__ and (incident_id := _uuid(raw_id)) is not None
    ]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def alert_received(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
) -> AsyncGenerator[Alert, None]:
    topics = await _topics(info, company_id, "alerts", Permission.ALERT_READ)
    companies = _companies(topics)
    principal = require_principal(info)
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            event = await sub.queue.get()
            ids = [i for i in map(_uuid, event.ids) if i is not None]
            if not ids:
                continue
            info.context.event_started()
            try:
                async with event_loaders(info.context) as loaders:
                    for row in await alert_rows(info.context.services.pool, principal, ids, companies):
                        yield alert_type(row, loaders)
                        await _pause_if_busy()
            finally:
                await info.context.event_finished()


async def incident_changed(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
) -> AsyncGenerator[IncidentChangedEvent, None]:
    topics = await _topics(info, company_id, "incidents", Permission.INCIDENT_READ)
    companies = _companies(topics)
    principal = require_principal(info)
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            # Take every event already waiting, so a burst costs one read instead of one per event.
            events = [await sub.queue.get()]
            while len(events) < EVENT_CHUNK and not sub.queue.empty():
                events.append(sub.queue.get_nowait())
            wanted = _incident_changes(events)
            for start in range(0, len(wanted), EVENT_CHUNK):
                part = wanted[start : start + EVENT_CHUNK]
                info.context.event_started()
                try:
                    async with event_loaders(info.context) as loaders:
                        # The session of `loaders` is only opened if the selection asks for more
                        # (company, asset, alerts, timeline): the incidents themselves are one query.
                        found = await incident_rows(
                            info.context.services.pool, principal, [i for i, _ in part], companies
                        )
                        rows = {r.id: r for r in found}
                        for position, (incident_id, kind) in enumerate(part, start + 1):
                            row = rows.get(incident_id)
                            if row is not None:
                                yield IncidentChangedEvent(
                                    kind=IncidentChangeKind(kind), incident=incident_type(row, loaders)
                                )
                                # Still to send: the rest of these changes, and at least one per
                                # notification queued meanwhile.
                                await _pause_if_busy(len(wanted) - position + sub.queue.qsize())
                finally:
                    await info.context.event_finished()
