"""Idle memory of `alertwhisperer serve` and its worker process (issue 14's footprint goal: at most
150 MiB for both together).

Starts `serve --demo` as `make serve` does, waits until the API is ready and its worker child's loops
are running, lets both idle, and prints each process's resident set size (VmRSS; shared library pages
count in each process, as `ps` and `top` show them).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/idle_rss.py
    .venv/bin/python bench/idle_rss.py          # embedded PostgreSQL (its processes listed apart)

With DATABASE_URL the server runs on a scratch database beside it (dropped afterwards); without it,
on an embedded cluster in a temporary home (stopped and removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import cost_database  # noqa: E402
from db.embedded import stop_embedded  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(env: dict[str, str], settle: float, pgdata: Path | None) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + 120
        worker = None
        while time.monotonic() < deadline:
            kids = [
                p
                for p in children(proc.pid)
                if b"graph.cli\0worker" in Path(f"/proc/{p}/cmdline").read_bytes()
            ]
            try:
                body = httpx.get(url, timeout=2).json()
            except (httpx.HTTPError, ValueError):
                body = {}
            if kids and body.get("status") == "ready":
                mine = [
                    loop
                    for loop in body["correlation"]["loops"]
                    if loop["instance"].endswith(f":{kids[0]}") and loop["state"] == "running"
                ]
                if len(mine) >= 2:  # correlation and sweeper
                    worker = kids[0]
                    break
            time.sleep(0.5)
        if worker is None:
            raise SystemExit("serve did not become ready with a running worker")
        time.sleep(settle)  # idle: nothing is sent
        serve_mib, worker_mib = rss_mib(proc.pid), rss_mib(worker)
        print(f"serve   (pid {proc.pid}): {serve_mib:6.1f} MiB")
        print(f"worker  (pid {worker}): {worker_mib:6.1f} MiB")
        print(f"together          : {serve_mib + worker_mib:6.1f} MiB (goal: at most 150)")
        if pgdata is not None:
            postmaster = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
            pg = [postmaster, *children(postmaster)]
            print(
                f"embedded PostgreSQL: {len(pg)} processes, {sum(rss_mib(p) for p in pg):6.1f} MiB summed"
                f" (postmaster {rss_mib(postmaster):.1f} MiB; shared buffers count in each)"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=30.0, help="seconds of idling before measuring")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aw-idle-"))
    env = dict(os.environ) | {
        "ALERTWHISPERER_HOME": str(home),
        "ALERTWHISPERER_WORKERS": "process",
        "ALERTWHISPERER_LOG_LEVEL": "WARNING",
    }
    try:
        if os.environ.get("DATABASE_URL"):

            async def scratch() -> None:
                async with cost_database("aw_idle") as url:
                    await asyncio.to_thread(measure, env | {"DATABASE_URL": url}, args.settle, None)

            print("database: scratch database beside DATABASE_URL (not counted)")
            asyncio.run(scratch())
        else:
            print("database: embedded PostgreSQL (its processes apart)")
            env.pop("DATABASE_URL", None)
            try:
                measure(env, args.settle, home / "pgdata")
            finally:
                stop_embedded(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
