"""Blocking outbound calls (boto3) off the event loop, in threads that never hold a process's exit.

`anyio.to_thread.run_sync` runs them in non-daemon worker threads: a task cancelled on SIGTERM stops
awaiting at once, but the interpreter then waits at exit for the thread's call to end, which for an
AWS endpoint that does not answer is botocore's read timeout times its retries (minutes). Every
caller is built for a call cut short (the executor finds a sent command by its comment, the mailer
fails an email whose send was cut, never sending it twice), so a stopping process has no reason to
wait: these threads are daemons, dropped at exit like the rest of a stopped process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# As many calls at once as anyio's default thread limiter allows: a burst of executions cannot
# start hundreds of threads (the ones over the limit wait in their thread, not on the loop).
MAX_THREADS = 40
_slots = threading.BoundedSemaphore(MAX_THREADS)


async def run_sync(call: Callable[[], T]) -> T:
    """`call()` in a daemon thread (with the caller's context variables: the log's request id);
    cancelling the awaiting task abandons the call."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        with _slots:
            try:
                result, error = context.run(call), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="outbound-call", daemon=True).start()
    return await future
