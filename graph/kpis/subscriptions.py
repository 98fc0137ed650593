"""`kpisUpdated`: a company's KPIs for the last hours, pushed when they change, at most once a second.

The rollup pass announces `company:{id}:kpis` in the transaction that changed the company's rows
(`db.kpis`), so every server process hears it (LISTEN/NOTIFY). The channel is named from the
authenticated scope; each push re-reads the figures with the caller's tenant scope. Events that come
within a second of the last push are folded into one read after the second has passed (`Throttle`),
and a read whose figures equal the last push sends nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import strawberry

from db.kpis import KPIS_TOPIC
from db.repositories.kpis import KpiReader
from domain import kpis as rules
from domain.errors import InvalidInput
from domain.rbac import Permission
from graph.core import now, require_principal
from graph.incidents.loaders import fresh_read
from graph.incidents.subscriptions import _topics
from graph.kpis.queries import company_of, figures_of, kpi_scope
from graph.kpis.types import KpiFigures, Kpis, kpis_type
from graph.platform.types import company_type

MIN_INTERVAL_SECONDS = 1.0
MAX_HOURS = int(rules.MAX_RANGE.total_seconds() // 3600)


class Throttle:
    """At most one push per `interval`: `wait` returns once `interval` has passed since the last
    `mark` (at once if it already has)."""

    def __init__(
        self,
        interval: float = MIN_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self.monotonic = monotonic
        self.sleep = sleep
        self._last: float | None = None

    def mark(self) -> None:
        self._last = self.monotonic()

    async def wait(self) -> None:
        if self._last is None:
            return
        left = self.interval - (self.monotonic() - self._last)
        if left > 0:
            await self.sleep(left)


async def kpis_updated(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")],
    hours: Annotated[
        int,
        strawberry.argument(description=f"How many hours back from now the figures cover, 1 to {MAX_HOURS}."),
    ] = 24,
) -> AsyncGenerator[Kpis, None]:
    principal = require_principal(info)
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidInput(f"must be between 1 and {MAX_HOURS}", field="hours")
    topics = await _topics(info, company_id, KPIS_TOPIC, Permission.INCIDENT_READ)
    scope = kpi_scope(principal)
    async with fresh_read(info.context) as uow:
        row = await company_of(uow, scope, company_id)
        key, company = row.id, company_type(row)  # read while the session is open
    reader = KpiReader(info.context.services.pool, scope)
    throttle = Throttle()
    last: KpiFigures | None = None
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            moment = now(info)
            start, end = rules.kpi_range(moment - timedelta(hours=hours), moment)
            figures, _ = await figures_of(reader, [key], start, end)
            if figures != last:
                last = figures
                throttle.mark()
                yield kpis_type(reader, company, [key], start, end, figures)
            await sub.queue.get()
            await throttle.wait()
            while not sub.queue.empty():  # what came meanwhile is in the one read that follows
                sub.queue.get_nowait()
