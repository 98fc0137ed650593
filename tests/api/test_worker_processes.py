"""`alertwhisperer worker` as real OS processes on a database of their own: it stops at once on
SIGTERM while its loops are busy (an SES call hanging in a thread included), and two workers email
each notification exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.notifications import enqueue
from db.pool import asyncpg_dsn
from domain.notifications import NotificationKind
from domain.rbac import Role
from tests.live import ROOT, scratch_database, server_env

SENDER = "alerts@msp.example.com"
REGION = "eu-west-1"
STOP_WAIT_SECONDS = 60  # generous: a worker that stops stops within a second or two


@pytest.fixture(scope="module")
def scratch(database_url: str) -> Iterator[str]:
    # The workers run every loop: on the shared test database they would take other tests' emails,
    # executions and incidents.
    with scratch_database(database_url) as url:
        yield url


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def pending_emails(url: str, count: int) -> list[int]:
    """A company, an admin with an email address, and `count` notifications waiting to be emailed."""
    company, user = uuid.uuid4(), uuid.uuid4()
    async with connected(url) as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc)"
            " VALUES ($1, $2, $3, 'h', '\\x00')",
            company,
            f"Acme {company.hex[:6]}",
            company.hex,
        )
        await conn.execute(
            "INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'Dana', 'x', $3)",
            user,
            f"dana-{user.hex[:8]}@example.com",
            Role.COMPANY_ADMIN.value,
        )
        ids: list[int] = []
        for i in range(count):
            ids += await enqueue(
                conn,
                company_id=company,
                user_ids=[user],
                kind=NotificationKind.ESCALATED,
                subject=f"Escalated: DiskFull on db-{i:02d}",
                body="DiskFull was escalated: no runbook matches.",
                now=datetime.now(UTC),
            )
    return ids


async def email_states(url: str, ids: list[int]) -> dict[str, int]:
    async with connected(url) as conn:
        rows = await conn.fetch(
            "SELECT email_state, count(*) AS n FROM notifications WHERE id = ANY($1) GROUP BY 1", ids
        )
    return {r["email_state"]: r["n"] for r in rows}


def worker_env(url: str, home: Path, aws_endpoint: str) -> dict[str, str]:
    env = server_env(url, home) | {
        "ALERTWHISPERER_PARENT_PID": str(os.getpid()),  # the scratch database is migrated already
        "ALERTWHISPERER_EMAIL_FROM": SENDER,
        "ALERTWHISPERER_SES_REGION": REGION,
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "AKIAPLATFORM00000000",
        "AWS_SECRET_ACCESS_KEY": "platform-secret",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_STS"):
        env.pop(name, None)
    return env


async def until(check: Callable[[], Awaitable[bool]]) -> bool:
    """Whether `check` came true within STOP_WAIT_SECONDS (a generous wait, not a timed assertion)."""
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "graph.cli",
        "worker",
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def stop(proc: asyncio.subprocess.Process) -> int | None:
    """SIGTERM, and its exit code once it stopped (None: it did not stop in STOP_WAIT_SECONDS)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=STOP_WAIT_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
    return proc.returncode


class Unanswering:
    """A TCP endpoint that takes connections and never answers: an AWS call to it hangs in its
    thread until botocore's read timeout (30 s, then retries)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.called = threading.Event()
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.held.append(conn)
                self.called.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


async def test_the_worker_stops_at_once_on_sigterm_while_an_email_hangs_in_ses(scratch, tmp_path):
    # given emails to send and an SES that never answers
    ses = Unanswering()
    ids = await pending_emails(scratch, 5)
    proc = await start_worker(worker_env(scratch, tmp_path, ses.url))
    try:
        # when SIGTERM comes while the mailer waits on SES (its thread inside botocore's call)
        called = await asyncio.to_thread(ses.called.wait, STOP_WAIT_SECONDS)
        assert called, "the worker never called SES"
        code = await stop(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        ses.close()

    # then it stops cleanly, without waiting out the hanging call
    assert code == 0, "the worker did not stop within a minute of SIGTERM" if code is None else code
    # and the email cut mid-send is the only one left `sending` (it becomes failed, never sent twice,
    # once its lease runs out); the ones not tried yet wait for the next worker
    assert await email_states(scratch, ids) == {"sending": 1, "pending": len(ids) - 1}


def ses_messages_to(address: str) -> list[Any]:
    """What moto's SES (this process's server, its in-memory backend) accepted for `address`."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [m for m in sent if address in m.destinations.get("ToAddresses", [])]


async def running_mailers(url: str) -> set[str]:
    async with connected(url) as conn:
        rows = await conn.fetch(
            "SELECT instance FROM background_loops WHERE name = 'mailer' AND state = 'running'"
        )
    return {r["instance"] for r in rows}


async def test_two_worker_processes_email_each_notification_exactly_once(scratch, moto_server, tmp_path):
    import boto3

    # given SES (moto's server) with a verified sender, and two `alertwhisperer worker` processes on
    # one database, both mailers running
    boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=moto_server,
        aws_access_key_id="AKIAPLATFORM00000000",
        aws_secret_access_key="platform-secret",
    ).create_email_identity(EmailIdentity=SENDER)
    env = worker_env(scratch, tmp_path, moto_server)
    before = await running_mailers(scratch)
    procs = [await start_worker(env), await start_worker(env)]
    try:

        async def both_running() -> bool:
            assert all(p.returncode is None for p in procs), "a worker exited"
            return len(await running_mailers(scratch) - before) == 2

        assert await until(both_running), "the two mailers never ran"

        # when 30 notifications are committed at once (the NOTIFY wakes both mailers)
        ids = await pending_emails(scratch, 30)

        async def all_sent() -> bool:
            return (await email_states(scratch, ids)).get("sent", 0) == len(ids)

        await until(all_sent)
    finally:
        codes = [await stop(p) for p in procs]

    # then every one is sent, and SES got exactly one email for each
    assert await email_states(scratch, ids) == {"sent": 30}
    async with connected(scratch) as conn:
        rows = await conn.fetch(
            "SELECT n.subject, n.email_message_id, u.email FROM notifications n"
            " JOIN users u ON u.id = n.user_id WHERE n.id = ANY($1)",
            ids,
        )
    (address,) = {r["email"] for r in rows}
    messages = ses_messages_to(address)
    assert len(messages) == 30
    assert sorted(m.id for m in messages) == sorted(r["email_message_id"] for r in rows)
    assert len({m.subject for m in messages}) == 30
    assert codes == [0, 0]
