"""Subscription events open a read session only when their selection needs related rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graph.incidents.loaders import IncidentLoaders


class Opener:
    """Opens a unit of work only when the test lets it (`release`), so sibling resolvers provably
    arrive while it is still opening."""

    def __init__(self) -> None:
        self.calls = 0
        self.opening = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> Any:
        self.calls += 1
        self.opening.set()
        await self.release.wait()
        return object()


async def test_nothing_is_opened_or_built_until_used() -> None:
    opener = Opener()
    loaders = IncidentLoaders(opener)
    assert opener.calls == 0
    assert "company" not in vars(loaders)  # no DataLoader made yet
    with pytest.raises(RuntimeError):
        _ = loaders.uow


async def test_concurrent_resolvers_share_one_unit_of_work() -> None:
    # given an opening that has not finished
    opener = Opener()
    opener.release.clear()
    loaders = IncidentLoaders(opener)
    waiting = [asyncio.create_task(loaders.ready()) for _ in range(5)]
    await opener.opening.wait()  # the first resolver has started opening; the others ran meanwhile
    # when the five sibling resolvers are all waiting and the opening then completes
    assert not any(t.done() for t in waiting)
    opener.release.set()
    ready = await asyncio.gather(*waiting)
    # then they share the one unit of work
    assert opener.calls == 1
    assert all(r is loaders for r in ready)
    assert loaders.uow is loaders.uow
    assert loaders.company is loaders.company  # one DataLoader per kind, made once
