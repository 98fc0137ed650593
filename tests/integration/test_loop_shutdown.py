"""A background loop ends when its task is cancelled (SIGTERM), even when the cancellation does not
reach `run_loop` as a CancelledError: a loop that went on would keep its process from exiting."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from graph.workers import LoopSpec, run_loop


class Busy:
    """A loop body whose step waits until cancelled, then does what `how` says with the cancellation."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.steps = 0
        self.busy = asyncio.Event()

    async def step(self) -> bool:
        self.steps += 1
        self.busy.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.how == "cleanup-error":
                # as a rollback on the connection whose query was just cancelled can fail
                raise RuntimeError("rollback failed: another operation is in progress") from None
            if self.how == "swallowed":
                # as Python 3.11's `wait_for` does when its awaitable finished at the same moment
                return True
            raise
        return False

    async def idle(self) -> None:
        await asyncio.sleep(0)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("how", ["cleanup-error", "swallowed", "propagated"])
async def test_a_cancelled_loop_ends_however_its_step_saw_the_cancellation(services: Any, how: str):
    body = Busy(how)
    name = f"probe-{uuid.uuid4().hex[:8]}"

    async def start(services: Any, wake: asyncio.Event) -> Busy:
        return body

    task = asyncio.create_task(run_loop(LoopSpec(name, start), services, asyncio.Event()))
    try:
        # given a loop busy in its step
        async with asyncio.timeout(30):
            await body.busy.wait()

        # when its task is cancelled
        task.cancel()

        # then the loop ends (a generous wait: it ends at once, or never), without another step
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(30):
                await asyncio.shield(task)
        assert body.steps == 1
    finally:
        task.cancel()
        with contextlib.suppress(TimeoutError):  # (a loop that does not end fails the test above)
            async with asyncio.timeout(5):
                await asyncio.gather(task, return_exceptions=True)
        await services.pool.execute("DELETE FROM background_loops WHERE name = $1", name)
