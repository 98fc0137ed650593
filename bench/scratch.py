"""The database of the per-alert cost benchmarks: a scratch database beside DATABASE_URL (dropped
afterwards), or, without DATABASE_URL, an embedded cluster in a temporary directory (stopped and
removed afterwards)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from db.embedded import embedded_database_url, stop_embedded
from db.engine import asyncpg_dsn
from tests.helpers import with_database


@asynccontextmanager
async def cost_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database for one benchmark run."""
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        home = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        try:
            yield embedded_database_url(home)
        finally:
            stop_embedded(home)
            shutil.rmtree(home, ignore_errors=True)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(database_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
