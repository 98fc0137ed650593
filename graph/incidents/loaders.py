"""Batch loaders for the incident area, built per operation (HTTP) or per event (subscriptions).

Every related row (company, asset, incident, user) that a page of alerts or incidents needs is loaded
with one query per kind instead of one per item. All loads go through the caller's scoped repositories,
so a related row the caller may not see simply reads as null.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from db.uow import UnitOfWork

KEY = "incidents"


class IncidentLoaders:
    """One read unit of work plus a DataLoader per related kind."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.company = DataLoader(self._by_id(lambda ids: uow.companies.get_many(ids)))
        self.asset = DataLoader(self._by_id(lambda ids: uow.assets.get_many(ids)))
        self.incident = DataLoader(self._by_id(lambda ids: uow.incidents.get_many(ids)))
        self.user = DataLoader(self._by_id(lambda ids: uow.users.get_many(ids)))
        self.user_companies = DataLoader(self._user_companies)
        self.dependencies = DataLoader(self._dependencies)

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
    """`own` (the loaders an object was built with, per subscription event) or the operation's."""
    if own is not None:
        return own
    found = info.context.loaders.get(KEY)
    if found is None:
        uow = await info.context.read()
        found = info.context.loaders.setdefault(KEY, IncidentLoaders(uow))
    return found


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
    """Fresh loaders on a fresh scoped session for one subscription event."""
    async with fresh_read(context) as uow:
        yield IncidentLoaders(uow)
