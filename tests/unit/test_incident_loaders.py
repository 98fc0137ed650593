"""Subscription events open a read session only when their selection needs related rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graph.incidents.loaders import IncidentLoaders


class Opener:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        await asyncio.sleep(0.01)  # sibling resolvers arrive while it opens
        return object()


async def test_nothing_is_opened_or_built_until_used() -> None:
    opener = Opener()
    loaders = IncidentLoaders(opener)
    assert opener.calls == 0
    assert "company" not in vars(loaders)  # no DataLoader made yet
    with pytest.raises(RuntimeError):
        _ = loaders.uow


async def test_concurrent_resolvers_share_one_unit_of_work() -> None:
    opener = Opener()
    loaders = IncidentLoaders(opener)
    ready = await asyncio.gather(*(loaders.ready() for _ in range(5)))
    assert opener.calls == 1
    assert all(r is loaders for r in ready)
    assert loaders.uow is loaders.uow
    assert loaders.company is loaders.company  # one DataLoader per kind, made once
