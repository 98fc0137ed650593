"""How long a new user waits: `alertwhisperer serve --demo` (what `make serve` runs) on an empty
database, until the demo's first incident exists, and the first incident a remediation resolved.

It prints figures and asserts nothing. The database is a scratch one beside DATABASE_URL, or an
embedded cluster (`bench/scratch.py`); the server runs with its worker process, as `make serve` does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import cost_database  # noqa: E402
from db.engine import asyncpg_dsn  # noqa: E402
from tests.live import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRST = "SELECT count(*) FROM incidents"
REMEDIATED = "SELECT count(*) FROM incidents WHERE auto_remediated AND status = 'RESOLVED'"


async def main() -> None:
    async with cost_database("demo_first") as url:
        home = tempfile.mkdtemp(prefix="demo-home-")
        port = free_port()
        env = dict(os.environ) | {
            "DATABASE_URL": url,
            "ALERTWHISPERER_HOME": home,
            "ALERTWHISPERER_LOG_LEVEL": "WARNING",
        }
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv/bin/alertwhisperer"),
            *("serve", "--demo", "--port", str(port)),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        figures: dict[str, float] = {}
        try:
            conn = None
            while time.monotonic() - began < 180 and len(figures) < 2:
                await asyncio.sleep(0.2)
                try:
                    conn = conn or await asyncpg.connect(asyncpg_dsn(url))
                    for name, sql in (("first incident", FIRST), ("first self-healed incident", REMEDIATED)):
                        if name not in figures and await conn.fetchval(sql):
                            figures[name] = time.monotonic() - began
                except (asyncpg.PostgresError, OSError):
                    conn = None  # not migrated yet
            if conn is not None:
                await conn.close()
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        for name, seconds in figures.items():
            print(f"{name:<28} {seconds:6.1f} s after `serve --demo` started (empty database)")


if __name__ == "__main__":
    asyncio.run(main())
