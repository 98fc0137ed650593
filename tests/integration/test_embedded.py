"""The embedded cluster (quickstart, tests, benchmark) is tuned for a young, fast-growing database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import asyncpg

from db.embedded import embedded_database_url, stop_embedded

NAPTIME = """
import asyncio, sys
from pathlib import Path
import asyncpg
from db.embedded import embedded_database_url, stop_embedded
async def main(url):
    conn = await asyncpg.connect(url)
    try:
        print(await conn.fetchval("SHOW autovacuum_naptime"))
    finally:
        await conn.close()
home = Path(sys.argv[1])
try:
    asyncio.run(main(embedded_database_url(home)))
finally:
    stop_embedded(home)
"""


def test_a_new_embedded_cluster_autovacuums_every_five_seconds_and_keeps_it_across_restarts(tmp_path):
    async def naptime(url: str) -> str:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SHOW autovacuum_naptime")
        finally:
            await conn.close()

    try:
        # given a brand-new cluster
        first = asyncio.run(naptime(embedded_database_url(tmp_path)))
        # when it is stopped and another process starts it again
        assert stop_embedded(tmp_path)
        deadline = time.monotonic() + 30
        while (tmp_path / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        again = subprocess.run(
            [sys.executable, "-c", NAPTIME, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        # then autovacuum visits every 5 s both times (PostgreSQL's default is 1 min)
        assert first == "5s"
        assert again.stdout.strip() == "5s"
    finally:
        stop_embedded(tmp_path)
