"""`alertwhisperer serve` runs the background workers in a child process it supervises."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from db.events import topic
from tests.helpers import event_heard
from tests.live import ROOT, free_port, server_env


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if ppid == pid and b"graph.cli worker" in cmdline:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def _wait_for(predicate, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _serve(database_url: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = server_env(database_url, home) | {"ALERTWHISPERER_WORKERS": "process"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(ready, 60)
    return proc, url


async def test_serve_correlates_in_a_worker_process_restarts_it_and_stops_it(
    database_url, tmp_path, factory, services
):
    company = await factory.company()
    proc, url = await asyncio.to_thread(_serve, database_url, tmp_path)
    try:
        # given serve is up: it has one worker child
        [worker] = await asyncio.to_thread(_wait_for, lambda: _children(proc.pid))

        # when an alert arrives, the child correlates it (serve itself runs no worker in this mode): the
        # incident it opens is announced over NOTIFY, which this process hears
        async with (
            event_heard(services, topic(company.id, "incidents")),
            httpx.AsyncClient(base_url=url) as client,
        ):
            resp = await client.post(
                "/api/webhooks/alerts",
                headers={"x-api-key": company.api_key},
                json={
                    "asset_name": "web-01",
                    "signature": "high_cpu",
                    "severity": "high",
                    "message": "CPU at 97%",
                },
            )
            assert resp.status_code == 202
        assert (
            await services.pool.fetchval("SELECT count(*) FROM incidents WHERE company_id = $1", company.id)
            == 1
        )

        # and when the child dies, serve starts another
        os.kill(worker, signal.SIGKILL)
        [replacement] = await asyncio.to_thread(
            _wait_for, lambda: [p for p in _children(proc.pid) if p != worker]
        )
        assert replacement != worker

        # and when serve stops, it stops its worker first (not left for the worker to notice later)
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        assert not _alive(replacement)
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_the_worker_stops_by_itself_when_serve_is_killed(database_url, tmp_path):
    proc, _url = await asyncio.to_thread(_serve, database_url, tmp_path)
    try:
        [worker] = await asyncio.to_thread(_wait_for, lambda: _children(proc.pid))
        # when serve is killed without a chance to stop its worker
        proc.kill()
        proc.wait(10)
        # then the worker notices its parent is gone and exits
        await asyncio.to_thread(_wait_for, lambda: not _alive(worker), 15)
    finally:
        if proc.poll() is None:
            proc.kill()
