"""A small, fast HTTP/1.1 load generator for the ingest benchmark (raw asyncio protocols on uvloop).

Each connection keeps one request in flight (keep-alive, no pipelining); requests are pre-built bytes
(pre-signed in chunks, topped up when a chunk runs out); a response is parsed only as far as its status
line and Content-Length. Load can be spread over several client processes (`processes=`), which start
together on a wall-clock instant and measure the same window.

Two drivers:
- closed loop (`run_load`): C connections send back-to-back for warm-up + duration; throughput and
  latency are taken from responses completed inside the measured window.
- paced (`run_paced`): a fixed request rate over a pool of connections, recording the wall-clock send
  time of every request (used to time webhook -> subscription event latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import multiprocessing as mp
import random
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "low")
SIGNATURES = (
    "HighCPUUsage",
    "HighMemoryUsage",
    "DiskSpaceLow",
    "DiskIOSaturated",
    "ServiceDown",
    "HTTP5xxRate",
    "HighLatency",
    "PodCrashLooping",
    "NodeNotReady",
    "ReplicationLag",
    "TooManyConnections",
    "SlowQueries",
    "CertificateExpiring",
    "PacketLoss",
    "InterfaceDown",
    "BGPSessionDown",
    "BackupFailed",
    "QueueBacklog",
    "OOMKilled",
    "NTPDrift",
)


@dataclass(frozen=True)
class LoadSpec:
    """What to send. Picklable, so each client process builds its own requests from it."""

    kind: str  # "bare" | "generic" | "alertmanager" | "probe"
    host: str
    port: int
    path: str
    api_key: str = ""
    secret: bytes = b""
    repeat_ratio: float = 0.10
    batch: int = 1  # alerts per request (Alertmanager groups; generic `{"alerts": [...]}` when > 1)
    assets: int = 500  # distinct asset names in the mix
    prefix: str = "d"  # makes delivery ids / probe signatures unique per run and process
    signed: bool = True
    expected_rate: float = 10_000.0  # requests/s over all processes (sizes the pre-built pool)
    extra: dict[str, Any] = field(default_factory=dict)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestFactory:
    """Builds request bytes in chunks: the body, HMAC over `"<ts>.<body>"`, a unique X-Delivery-ID, and
    (with probability `repeat_ratio`) an exact retransmission of a request sent shortly before."""

    def __init__(self, spec: LoadSpec, seed: int = 0) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self.index = 0
        self.recent: deque[bytes] = deque(maxlen=400)
        self.repeats_built = 0
        self.seq = 0
        self.probe_names: list[str] = []  # probe signature per request index (paced probe runs)
        host = f"{spec.host}:{spec.port}"
        self.head = (
            f"POST {spec.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n".encode()
        )
        if spec.api_key:
            self.head += f"X-API-Key: {spec.api_key}\r\n".encode()

    def chunk(self, n: int) -> list[bytes]:
        out: list[bytes] = []
        ts = str(int(time.time()))
        now = _now_iso()
        rng = self.rng
        for _ in range(n):
            if self.recent and rng.random() < self.spec.repeat_ratio:
                # a sender retrying a delivery: same bytes, same X-Delivery-ID
                out.append(self.recent[rng.randrange(len(self.recent))])
                self.repeats_built += 1
                continue
            i = self.index
            self.index += 1
            body = self._body(i, now)
            headers = [self.head, b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
            if self.spec.signed and self.spec.secret:
                mac = hmac.new(self.spec.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                headers += [b"X-Timestamp: ", ts.encode(), b"\r\nX-Signature: sha256=", mac.encode(), b"\r\n"]
            headers += [b"X-Delivery-ID: ", f"{self.spec.prefix}-{i}".encode(), b"\r\n\r\n", body]
            req = b"".join(headers)
            out.append(req)
            if self.spec.kind != "probe":
                self.recent.append(req)
        return out

    def _event_id(self) -> str:
        """Unique per alert, so no two bodies (and so no two signatures) are ever equal."""
        self.seq += 1
        return f"event {self.spec.prefix}-{self.seq}"

    def _body(self, i: int, now: str) -> bytes:
        kind = self.spec.kind
        if kind == "alertmanager":
            return self._alertmanager(now)
        if kind == "probe":
            name = f"probe-{self.spec.prefix}-{i}"
            self.probe_names.append(name)
            alert = {
                "asset_name": f"probe-host-{i % 50:02d}",
                "signature": name,
                "severity": "high",
                "message": f"latency probe {i}",
                "tool_source": "prometheus",
                "timestamp": now,
                "status": "firing",
                "tags": {"env": "bench"},
            }
            return orjson.dumps(alert)
        if self.spec.batch > 1:
            return orjson.dumps({"alerts": [self._generic(now) for _ in range(self.spec.batch)]})
        return orjson.dumps(self._generic(now))

    def _generic(self, now: str) -> dict[str, Any]:
        rng = self.rng
        asset = rng.randrange(self.spec.assets)
        sig = SIGNATURES[rng.randrange(len(SIGNATURES))]
        return {
            "asset_name": f"srv-{asset:04d}.prod.example.net",
            "signature": sig,
            "severity": SEVERITIES[rng.randrange(len(SEVERITIES))],
            "message": f"{sig} on srv-{asset:04d}: value {rng.randrange(1000)} over threshold ({self._event_id()})",
            "tool_source": "prometheus",
            "timestamp": now,
            "status": "resolved" if rng.random() < 0.05 else "firing",
            "tags": {"env": "prod", "team": f"team-{asset % 12}", "region": "eu-west-1"},
        }

    def _alertmanager(self, now: str) -> bytes:
        rng = self.rng
        sig = SIGNATURES[rng.randrange(len(SIGNATURES))]
        alerts = []
        for _ in range(self.spec.batch):
            asset = rng.randrange(self.spec.assets)
            inst = f"srv-{asset:04d}.prod.example.net:9100"
            severity = SEVERITIES[rng.randrange(len(SEVERITIES))]
            alerts.append(
                {
                    "status": "resolved" if rng.random() < 0.05 else "firing",
                    "labels": {"alertname": sig, "instance": inst, "severity": severity, "job": "node"},
                    "annotations": {
                        "summary": f"{sig} on {inst}",
                        "description": f"value {rng.randrange(1000)} ({self._event_id()})",
                    },
                    "startsAt": now,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": f"http://prometheus:9090/graph?g0.expr={sig}",
                    "fingerprint": hashlib.blake2b(f"{inst}/{sig}".encode(), digest_size=8).hexdigest(),
                }
            )
        payload = {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{sig}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "alertwhisperer",
            "groupLabels": {"alertname": sig},
            "commonLabels": {"alertname": sig},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
        return orjson.dumps(payload)


class RequestSource:
    """Pre-built requests, topped up a chunk at a time (counted when it happens inside the window)."""

    def __init__(self, factory: RequestFactory, prefill: int, chunk: int = 2000) -> None:
        self.factory = factory
        self.chunk_size = chunk
        self.queue: deque[bytes] = deque(factory.chunk(prefill))
        self.refills = 0

    def next(self) -> bytes:
        q = self.queue
        if not q:
            self.refills += 1
            q.extend(self.factory.chunk(self.chunk_size))
        return q.popleft()


class _Conn(asyncio.Protocol):
    __slots__ = ("driver", "transport", "buf", "need", "status", "sent_at", "tag", "lost")

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.tag: Any = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, tag: Any = None) -> None:
        self.tag = tag
        self.sent_at = time.perf_counter()
        self.transport.write(data)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                pos = head.find(b"\r\ncontent-length:")
                length = 0
                if pos >= 0:
                    stop = head.find(b"\r\n", pos + 2)
                    length = int(head[pos + 17 : stop if stop >= 0 else len(head)])
                self.need = end + 4 + length
            if len(buf) < self.need:
                return
            del buf[: self.need]
            self.need = -1
            self.driver.done(self, self.status, time.perf_counter())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.driver.lost(self)


async def _connect(driver: Any, host: str, port: int, n: int) -> list[_Conn]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(n):
        _, proto = await loop.create_connection(lambda: _Conn(driver), host, port)
        conns.append(proto)
    return conns


class _ClosedLoop:
    """Every connection sends its next request as soon as the previous answer is in."""

    def __init__(self, source: RequestSource, t_measure: float, t_end: float) -> None:
        self.source = source
        self.t_measure = t_measure
        self.t_end = t_end
        self.latencies = array("d")
        self.statuses: Counter[int] = Counter()
        self.warm_statuses: Counter[int] = Counter()
        self.in_flight = 0
        self.drained = asyncio.get_running_loop().create_future()
        self.refills_at_start = 0
        self.errors = 0

    def start(self, conn: _Conn) -> None:
        self.in_flight += 1
        conn.send(self.source.next())

    def done(self, conn: _Conn, status: int, now: float) -> None:
        self.in_flight -= 1
        if now >= self.t_measure:
            if now < self.t_end:
                self.statuses[status] += 1
                self.latencies.append(now - conn.sent_at)
        else:
            self.warm_statuses[status] += 1
            self.refills_at_start = self.source.refills
        if now < self.t_end:
            self.in_flight += 1
            conn.send(self.source.next())
        elif self.in_flight == 0 and not self.drained.done():
            self.drained.set_result(None)

    def lost(self, conn: _Conn) -> None:
        if conn.need >= 0 or conn.sent_at:
            self.errors += 1


def _sync_clock(start_wall: float) -> float:
    """perf_counter() value of the wall-clock instant `start_wall`."""
    return time.perf_counter() + (start_wall - time.time())


async def _closed_loop(
    spec: LoadSpec, conns: int, source: RequestSource, start_wall: float, warmup: float, duration: float
) -> dict[str, Any]:
    t0 = _sync_clock(start_wall)
    driver = _ClosedLoop(source, t0 + warmup, t0 + warmup + duration)
    connections = await _connect(driver, spec.host, spec.port, conns)
    delay = t0 - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu: list[float] = []
    loop = asyncio.get_running_loop()
    loop.call_later(max(0.0, driver.t_measure - time.perf_counter()), lambda: cpu.append(time.process_time()))
    loop.call_later(max(0.0, driver.t_end - time.perf_counter()), lambda: cpu.append(time.process_time()))
    for c in connections:
        driver.start(c)
    await asyncio.sleep(max(0.0, driver.t_end - time.perf_counter()) + 0.01)
    refills_before = driver.refills_at_start
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(driver.drained, timeout=30)
    for c in connections:
        if c.transport is not None:
            c.transport.close()
    return {
        "statuses": dict(driver.statuses),
        "warm_statuses": dict(driver.warm_statuses),
        "latencies": driver.latencies.tobytes(),
        "duration": duration,
        "refills_in_window": source.refills - refills_before,
        "errors": driver.errors,
        "unfinished": driver.in_flight,
        "cpu_seconds": (cpu[1] - cpu[0]) if len(cpu) == 2 else float("nan"),
    }


class _Paced:
    """A fixed send rate: the scheduler hands each due request to an idle connection."""

    def __init__(self) -> None:
        self.idle: deque[_Conn] = deque()
        self.latencies = array("d")
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.size = 0
        self.all_idle = asyncio.Event()
        self.freed = asyncio.Event()

    def done(self, conn: _Conn, status: int, now: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(now - conn.sent_at)
        self.idle.append(conn)
        self.freed.set()
        if len(self.idle) == self.size:
            self.all_idle.set()

    def lost(self, conn: _Conn) -> None:
        self.errors += 1


async def _paced(
    spec: LoadSpec, conns: int, rate: float, start_wall: float, factory: RequestFactory, requests: list[bytes]
) -> dict[str, Any]:
    total = len(requests)
    driver = _Paced()
    connections = await _connect(driver, spec.host, spec.port, conns)
    driver.idle.extend(connections)
    sent_wall = array("d", [0.0] * total)
    t0 = _sync_clock(start_wall)
    delay = t0 - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu0 = time.process_time()
    sent = 0
    lag = array("d")  # how late each request left compared with its schedule
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - t0) * rate) + 1)
        while sent < due and driver.idle:
            conn = driver.idle.popleft()
            sent_wall[sent] = time.time()
            conn.send(requests[sent])
            lag.append(conn.sent_at - (t0 + sent / rate))
            sent += 1
        if sent < due:  # every connection is waiting for an answer: wait for one to be free
            driver.freed.clear()
            await driver.freed.wait()
        else:  # sleep until the next request is due (uvloop timers have 1 ms resolution)
            await asyncio.sleep(max(0.001, t0 + sent / rate - time.perf_counter()))
    driver.size = len(connections)
    if len(driver.idle) < driver.size:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(driver.all_idle.wait(), timeout=30)
    for c in connections:
        if c.transport is not None:
            c.transport.close()
    return {
        "statuses": dict(driver.statuses),
        "latencies": driver.latencies.tobytes(),
        "sent_wall": sent_wall.tobytes(),
        "names": factory.probe_names,
        "errors": driver.errors,
        "send_lag": lag.tobytes(),
        "cpu_seconds": time.process_time() - cpu0,
    }


def _child(pipe: Any, mode: str, spec: LoadSpec, kwargs: dict[str, Any]) -> None:
    """Client process: build requests, report ready, wait for the start instant, run, send results."""
    import uvloop

    async def main() -> dict[str, Any]:
        if mode == "closed":
            n = kwargs["prefill"]
            source = RequestSource(RequestFactory(spec, seed=kwargs["seed"]), prefill=n)
            pipe.send("ready")
            start_wall = pipe.recv()
            return await _closed_loop(
                spec, kwargs["conns"], source, start_wall, kwargs["warmup"], kwargs["duration"]
            )
        factory = RequestFactory(spec, seed=7)
        requests = factory.chunk(int(kwargs["rate"] * kwargs["duration"]))
        pipe.send("ready")
        start_wall = pipe.recv()
        return await _paced(spec, kwargs["conns"], kwargs["rate"], start_wall, factory, requests)

    try:
        result = uvloop.run(main())
    except Exception as exc:  # reported to the parent, which prints it
        result = {"exception": repr(exc)}
    pipe.send(result)
    pipe.close()


@dataclass
class LoadResult:
    statuses: Counter[int]
    latencies: array  # seconds, one per response completed inside the window
    duration: float
    refills_in_window: int = 0
    errors: int = 0
    client_cpu_seconds: float = 0.0
    extra: list[dict[str, Any]] = field(default_factory=list)

    def count(self, *codes: int) -> int:
        return sum(self.statuses.get(c, 0) for c in codes)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def pct(self, *ps: float) -> list[float]:
        return percentiles(self.latencies, *ps)


def percentiles(values: Any, *ps: float) -> list[float]:
    """Nearest-rank percentiles of `values` (one sort for all of them)."""
    if not len(values):
        return [float("nan")] * len(ps)
    ordered = sorted(values)
    n = len(ordered)
    return [ordered[min(n - 1, max(0, round(p / 100 * (n - 1))))] for p in ps]


class _SendAll:
    def __init__(self, requests: list[bytes]) -> None:
        self.todo = deque(requests)
        self.pending = 0
        self.statuses: Counter[int] = Counter()
        self.latencies = array("d")
        self.finished = asyncio.get_running_loop().create_future()

    def start(self, conn: _Conn) -> None:
        if self.todo:
            self.pending += 1
            conn.send(self.todo.popleft())

    def done(self, conn: _Conn, status: int, now: float) -> None:
        self.pending -= 1
        self.statuses[status] += 1
        self.latencies.append(now - conn.sent_at)
        self.start(conn)
        if not self.todo and self.pending == 0 and not self.finished.done():
            self.finished.set_result(None)

    def lost(self, conn: _Conn) -> None:
        if not self.finished.done():
            self.finished.set_exception(ConnectionError("server closed a connection"))


async def send_all(spec: LoadSpec, n: int, connections: int = 8) -> LoadResult:
    """Send `n` requests built from `spec` as fast as `connections` connections allow (in this process)."""
    requests = RequestFactory(spec, seed=11).chunk(n)
    driver = _SendAll(requests)
    conns = await _connect(driver, spec.host, spec.port, connections)
    t0 = time.perf_counter()
    for c in conns:
        driver.start(c)
    await driver.finished
    elapsed = time.perf_counter() - t0
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return LoadResult(driver.statuses, driver.latencies, elapsed)


async def _spawn(
    mode: str,
    spec_for: Callable[[int], LoadSpec],
    processes: int,
    kwargs_for: Callable[[int], dict[str, Any]],
    lead: float = 0.3,
    on_start: Callable[[float], None] | None = None,
) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    children = []
    for i in range(processes):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(child, mode, spec_for(i), kwargs_for(i)), daemon=True)
        proc.start()
        children.append((proc, parent))
    try:
        for _proc, pipe in children:
            msg = await asyncio.to_thread(pipe.recv)
            if msg != "ready":
                raise RuntimeError(f"client process failed: {msg}")
        start_wall = time.time() + lead
        for _, pipe in children:
            pipe.send(start_wall)
        if on_start is not None:
            on_start(start_wall)
        results = [await asyncio.to_thread(pipe.recv) for _, pipe in children]
    finally:
        for proc, _ in children:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
    for r in results:
        if "exception" in r:
            raise RuntimeError(f"client process failed: {r['exception']}")
    return results


async def run_load(
    spec: LoadSpec,
    *,
    connections: int = 64,
    processes: int = 1,
    warmup: float = 2.0,
    duration: float = 10.0,
    on_start: Callable[[float], None] | None = None,
) -> LoadResult:
    """Closed-loop load over `connections` connections spread across `processes` client processes."""
    per_proc = [
        connections // processes + (1 if i < connections % processes else 0) for i in range(processes)
    ]
    prefill = int(spec.expected_rate * (warmup + duration) * 1.2 / processes) + 1000

    def spec_for(i: int) -> LoadSpec:
        return LoadSpec(**{**spec.__dict__, "prefix": f"{spec.prefix}{i}"})

    results = await _spawn(
        "closed",
        spec_for,
        processes,
        lambda i: {
            "conns": per_proc[i],
            "prefill": prefill,
            "seed": hash((spec.prefix, i)) & 0xFFFF,
            "warmup": warmup,
            "duration": duration,
        },
        on_start=on_start,
    )
    statuses: Counter[int] = Counter()
    lat = array("d")
    refills = errors = 0
    cpu = 0.0
    for r in results:
        cpu += r["cpu_seconds"]
        statuses.update({int(k): v for k, v in r["statuses"].items()})
        chunk = array("d")
        chunk.frombytes(r["latencies"])
        lat.extend(chunk)
        refills += r["refills_in_window"]
        errors += r["errors"]
    return LoadResult(statuses, lat, duration, refills, errors, cpu, results)


async def run_paced(
    spec: LoadSpec,
    *,
    rate: float,
    duration: float,
    connections: int = 32,
    on_start: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """One client process sending `rate` requests/s for `duration` s; returns send times per request."""
    results = await _spawn(
        "paced",
        lambda i: spec,
        1,
        lambda i: {
            "conns": connections,
            "rate": rate,
            "duration": duration,
        },
        lead=0.5,
        on_start=on_start,
    )
    r = results[0]
    lat = array("d")
    lat.frombytes(r["latencies"])
    sent = array("d")
    sent.frombytes(r["sent_wall"])
    send_lag = array("d")
    send_lag.frombytes(r["send_lag"])
    r["send_lag"] = send_lag
    r["latencies"] = lat
    r["sent_wall"] = sent
    r["statuses"] = Counter({int(k): v for k, v in r["statuses"].items()})
    return r
