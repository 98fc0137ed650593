"""How long a subscription may hold the event loop while it sends a burst of events."""

from __future__ import annotations

import asyncio
import time

from graph.incidents import subscriptions


async def _yielded(waiting: int, slice_ran_for: float) -> bool:
    """Whether `_pause_if_busy` let other work in after the current slice ran for `slice_ran_for` s."""
    other_ran = False

    def other() -> None:
        nonlocal other_ran
        other_ran = True

    subscriptions._slice_started[0] = time.perf_counter() - slice_ran_for
    asyncio.get_running_loop().call_soon(other)
    await subscriptions._pause_if_busy(waiting)
    yielded = other_ran
    await asyncio.sleep(0)  # let `other` run either way before the next case
    return yielded


async def test_a_subscription_keeping_up_lets_other_work_in_every_2_ms():
    assert not await _yielded(waiting=0, slice_ran_for=0.0005)
    assert await _yielded(waiting=0, slice_ran_for=0.003)
    assert await _yielded(waiting=subscriptions._BEHIND_EVENTS, slice_ran_for=0.003)


async def test_a_subscription_far_behind_takes_longer_turns_to_catch_up():
    behind = subscriptions._BEHIND_EVENTS + 1
    assert not await _yielded(waiting=behind, slice_ran_for=0.003)
    assert await _yielded(waiting=behind, slice_ran_for=0.011)
