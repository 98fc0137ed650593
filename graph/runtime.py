"""Background work started with the server: workers, sweeps, cache invalidation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def start_background(services: Any, app: Any) -> AsyncIterator[None]:
    yield
