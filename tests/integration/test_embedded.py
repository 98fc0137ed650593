"""The embedded cluster (quickstart, tests, benchmark) is tuned for a young, fast-growing database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import asyncpg
import orjson

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


USER = """
import sys
from pathlib import Path
from db.embedded import embedded_database_url
from graph.logs import configure_logging
configure_logging("INFO")
print(embedded_database_url(Path(sys.argv[1]), keep_running=sys.argv[2] == "keep"), flush=True)
sys.stdin.readline()  # exit when told
"""


def _user(home, mode: str = "stop") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", USER, str(home), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.url = proc.stdout.readline().strip()  # type: ignore[attr-defined]
    assert proc.url, proc.stderr.read()  # type: ignore[attr-defined]
    return proc


def _exit(proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    return err


def _postmaster(home) -> int | None:
    pid_file = home / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _connects(url: str) -> bool:
    async def probe() -> bool:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

    return asyncio.run(probe())


def test_a_test_runs_cluster_stops_when_the_last_process_using_it_exits(tmp_path):
    try:
        # given a process that used the cluster and was killed (it never unregisters itself)
        killed = _user(tmp_path)
        killed.kill()
        killed.wait()
        # and two processes of one test run (xdist workers) using it
        first, second = _user(tmp_path), _user(tmp_path)

        # when the first exits, the cluster keeps serving the second
        _exit(first)
        assert _connects(second.url)  # type: ignore[attr-defined]

        # and when the second exits, the cluster is stopped (the killed process does not hold it)
        _exit(second)
        assert _postmaster(tmp_path) is None
    finally:
        stop_embedded(tmp_path)


def test_the_served_cluster_is_left_running_for_the_next_start(tmp_path):
    try:
        # given serve's kind of use (keep running)
        proc = _user(tmp_path, "keep")
        # when its process exits
        _exit(proc)
        # then the cluster is still up for the next start
        assert _postmaster(tmp_path) is not None
    finally:
        stop_embedded(tmp_path)


def test_starting_the_cluster_logs_one_line(tmp_path):
    try:
        # given a brand-new cluster started by a process logging at INFO
        proc = _user(tmp_path)
        # when it has started and exits (stopping the cluster)
        err = _exit(proc)
        # then the log has one line about it, which names where PostgreSQL's own output went
        lines = [orjson.loads(line) for line in err.splitlines()]
        assert [(line["logger"], line["msg"]) for line in lines] == [
            ("db.embedded", "embedded postgres ready")
        ]
        assert lines[0]["server_log"] == str((tmp_path / "pgdata" / "log").resolve())
    finally:
        stop_embedded(tmp_path)
