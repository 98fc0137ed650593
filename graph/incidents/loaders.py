"""Batch loaders for the incident area, built per operation (HTTP) or per event (subscriptions).

Every related row (company, asset, incident, user) that a page of alerts or incidents needs is loaded
with one query per kind instead of one per item, and so are the first pages of a page of incidents'
`alerts` and `timeline`. All loads go through the caller's scoped repositories,
so a related row the caller may not see simply reads as null.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from db.pagination import Page
from db.uow import UnitOfWork

KEY = "incidents"

# One incident's page of a nested connection: (incident id, first, after).
PageKey = tuple[uuid.UUID, int | None, str | None]
FirstPages = Callable[[list[uuid.UUID], int | None], Awaitable[dict[uuid.UUID, Page[Any]]]]
NextPage = Callable[[uuid.UUID, int | None, str], Awaitable[Page[Any]]]


class IncidentLoaders:
    """A read unit of work plus a DataLoader per related kind, each made on first use.

    A subscription builds loaders per event, and most selections (`incidentChanged { kind incident {
    id status priorityScore } }`) need neither: opening an ORM session and six DataLoaders for every
    event cost CPU and left reference cycles for the garbage collector (its pauses delayed every
    request). `ready()` opens the unit of work; `loaders_for` calls it.
    """

    def __init__(self, open_read: Callable[[], Awaitable[UnitOfWork]]) -> None:
        self._open_read = open_read
        self._uow: UnitOfWork | None = None
        self._opening: asyncio.Lock | None = None

    async def ready(self) -> IncidentLoaders:
        if self._uow is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:  # sibling resolvers share one unit of work
                if self._uow is None:
                    self._uow = await self._open_read()
        return self

    @property
    def uow(self) -> UnitOfWork:
        if self._uow is None:
            raise RuntimeError("IncidentLoaders.ready() was not awaited")
        return self._uow

    @functools.cached_property
    def company(self) -> DataLoader[uuid.UUID, Any]:
        return DataLoader(self._by_id(lambda ids: self.uow.companies.get_many(ids)))

    @functools.cached_property
    def asset(self) -> DataLoader[uuid.UUID, Any]:
        return DataLoader(self._by_id(lambda ids: self.uow.assets.get_many(ids)))

    @functools.cached_property
    def incident(self) -> DataLoader[uuid.UUID, Any]:
        return DataLoader(self._by_id(lambda ids: self.uow.incidents.get_many(ids)))

    @functools.cached_property
    def user(self) -> DataLoader[uuid.UUID, Any]:
        return DataLoader(self._by_id(lambda ids: self.uow.users.get_many(ids)))

    @functools.cached_property
    def user_companies(self) -> DataLoader[uuid.UUID, list[uuid.UUID]]:
        return DataLoader(self._user_companies)

    @functools.cached_property
    def analysis(self) -> DataLoader[uuid.UUID, Any]:
        async def load(ids: list[uuid.UUID]) -> list[Any]:
            found = {a.incident_id: a for a in await self.uow.analyses.for_incidents(list(ids))}
            return [found.get(i) for i in ids]

        return DataLoader(load)

    @functools.cached_property
    def llm_analysis(self) -> DataLoader[uuid.UUID, Any]:
        async def load(ids: list[uuid.UUID]) -> list[Any]:
            found = {a.incident_id: a for a in await self.uow.analyses.llm_for_incidents(list(ids))}
            return [found.get(i) for i in ids]

        return DataLoader(load)

    @functools.cached_property
    def related_incidents(self) -> DataLoader[uuid.UUID, list[uuid.UUID]]:
        async def load(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
            found = await self.uow.analyses.downstream_of(list(ids))
            return [found.get(i, []) for i in ids]

        return DataLoader(load)

    @functools.cached_property
    def dependencies(self) -> DataLoader[uuid.UUID, list[uuid.UUID]]:
        return DataLoader(self._dependencies)

    @functools.cached_property
    def incident_alerts(self) -> DataLoader[PageKey, Page[Any]]:
        """A page of an incident's alerts, oldest event first."""
        return DataLoader(
            self._pages(
                lambda ids, first: self.uow.alerts.first_for_incidents(ids, first=first),
                lambda key, first, after: self.uow.alerts.for_incident(key, first=first, after=after),
            )
        )

    @functools.cached_property
    def incident_timeline(self) -> DataLoader[PageKey, Page[Any]]:
        """A page of an incident's timeline, oldest first."""
        return DataLoader(
            self._pages(
                lambda ids, first: self.uow.incidents.first_timelines(ids, first=first),
                lambda key, first, after: self.uow.incidents.timeline(key, first=first, after=after),
            )
        )

    def _pages(
        self, first_pages: FirstPages, next_page: NextPage
    ) -> Callable[[list[PageKey]], Awaitable[list[Page[Any] | BaseException]]]:
        """First pages in one statement per page size; a page after a cursor (one incident's next
        page, asked for alone in practice) on its own, its bad cursor failing only its own field."""

        async def load(keys: list[PageKey]) -> list[Page[Any] | BaseException]:
            found: dict[PageKey, Page[Any] | BaseException] = {}
            for first in {first for _, first, after in keys if after is None}:
                ids = [key for key, size, after in keys if size == first and after is None]
                for key, page in (await first_pages(ids, first)).items():
                    found[(key, first, None)] = page
            for key, first, after in keys:
                if after is not None:
                    try:
                        found[(key, first, after)] = await next_page(key, first, after)
                    except Exception as exc:  # noqa: BLE001 - handed to that one field's resolver
                        found[(key, first, after)] = exc
            return [found[k] for k in keys]

        return load

    def _by_id(
        self, fetch: Callable[[list[uuid.UUID]], Awaitable[Sequence[Any]]]
    ) -> Callable[[list[uuid.UUID]], Awaitable[list[Any]]]:
        async def load(ids: list[uuid.UUID]) -> list[Any]:
            rows = await fetch(list(ids))
            found = {row.id: row for row in rows}
            return [found.get(i) for i in ids]

        return load

    async def _user_companies(self, ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
        found = await self.uow.users.company_ids_of(list(ids))
        return [found.get(i, []) for i in ids]

    async def _dependencies(self, ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
        found = await self.uow.assets.dependencies(list(ids))
        return [found.get(i, []) for i in ids]


async def loaders_for(info: strawberry.Info, own: IncidentLoaders | None = None) -> IncidentLoaders:
    """`own` (the loaders an object was built with, per subscription event) or the operation's, with
    their unit of work open."""
    if own is not None:
        return await own.ready()
    found = info.context.loaders.get(KEY)
    if found is None:
        found = info.context.loaders.setdefault(KEY, IncidentLoaders(info.context.read))
    loaders: IncidentLoaders = await found.ready()
    return loaders


@contextlib.asynccontextmanager
async def fresh_read(context: Any) -> AsyncIterator[UnitOfWork]:
    """A read-only unit of work of its own (never committed), for subscription set-up and events."""
    uow = context.uow()
    await uow.__aenter__()
    try:
        yield uow
    finally:
        await uow.session.rollback()
        await uow.session.close()


@contextlib.asynccontextmanager
async def event_loaders(context: Any) -> AsyncIterator[IncidentLoaders]:
    """Loaders for one subscription event, on a read unit of work of their own opened only if the
    event's selection needs one (closed, never committed, when the event is done)."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_read() -> UnitOfWork:
            return await stack.enter_async_context(fresh_read(context))

        yield IncidentLoaders(open_read)
