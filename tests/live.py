"""Real server processes for end-to-end tests (uvicorn subprocesses on free loopback ports)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from graph.ws_protocol import WS_PROTOCOL
from tests.conftest import TEST_SECRETS

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database(database_url: str) -> Iterator[str]:
    """A database of its own beside the test one, migrated to head (dropped after): for tests whose
    processes seed data that would show in the shared test database's lists."""
    import asyncio
    import uuid

    import asyncpg

    from db.engine import asyncpg_dsn
    from db.migrate import upgrade_to_head
    from tests.helpers import with_database

    name = f"aw_scratch_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = with_database(database_url, name)
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, home: Path, workers: bool = False) -> dict[str, str]:
    return (
        dict(os.environ)
        | TEST_SECRETS
        | {
            "DATABASE_URL": database_url,
            "ALERTWHISPERER_HOME": str(home),
            "ALERTWHISPERER_WORKERS": "1" if workers else "0",
            "ALERTWHISPERER_LOG_LEVEL": "WARNING",
        }
    )


@contextmanager
def live_servers(database_url: str, home: Path, count: int = 1, workers: bool = False) -> Iterator[list[str]]:
    """Start `count` server processes on one database; yields their base URLs once all are ready."""
    env = server_env(database_url, home, workers)
    procs, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "graph.asgi:app",
                        "--port",
                        str(port),
                        "--no-access-log",
                        "--ws",
                        WS_PROTOCOL,
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url, proc in zip(urls, procs, strict=True):
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server at {url} did not start")
                time.sleep(0.1)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
