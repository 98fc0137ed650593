"""What one single-alert webhook costs the API process, without uvicorn and HTTP in the way.

`bench/ingest.py` measures the whole server; its process CPU also holds uvicorn's HTTP parsing and
socket writes (the bare endpoint's ~80 us per request on a 2-core machine). This benchmark builds the
real application, calls its ASGI entry point directly with signed generic alerts like those of phase
(b) (500 assets x 20 signatures, HMAC on, a delivery id each) from concurrent tasks, lets the real
group commit store them in PostgreSQL, and prints this process's CPU per request. `--profile` adds
cProfile's top functions.

    .venv/bin/python bench/webhook_cost.py                  # embedded PostgreSQL in a temp dir
    DATABASE_URL=postgresql://... .venv/bin/python bench/webhook_cost.py --requests 50000 --profile

With DATABASE_URL, a scratch database is created beside the given one and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import hmac
import pstats
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import cost_database  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.uow import UnitOfWork  # noqa: E402
from domain.rbac import SYSTEM  # noqa: E402
from graph.app import create_app  # noqa: E402
from graph.services import build_services  # noqa: E402
from graph.settings import Settings  # noqa: E402

SIGNATURES = [f"Signature{i:02d}" for i in range(20)]
WARMUP = 500


def _requests(n: int, api_key: bytes, secret: bytes) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    rng = random.Random(1)
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    out = []
    for i in range(n):
        asset, sig = rng.randrange(500), SIGNATURES[rng.randrange(20)]
        body = orjson.dumps(
            {
                "asset_name": f"srv-{asset:04d}.prod.example.net",
                "signature": sig,
                "severity": ("critical", "high", "medium", "low")[i % 4],
                "message": f"{sig} on srv-{asset:04d}: value {i} over threshold",
                "tool_source": "prometheus",
                "timestamp": when,
                "status": "resolved" if i % 20 == 0 else "firing",
                "tags": {"env": "prod", "team": f"team-{asset % 12}", "region": "eu-west-1"},
            }
        )
        stamp = str(int(time.time())).encode()
        signature = b"sha256=" + hmac.new(secret, stamp + b"." + body, hashlib.sha256).hexdigest().encode()
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-api-key", api_key),
            (b"x-timestamp", stamp),
            (b"x-signature", signature),
            (b"x-delivery-id", f"cost-{i}".encode()),
        ]
        out.append((headers, body))
    return out


async def _post(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/webhooks/alerts",
        "headers": headers,
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "root_path": "",
    }
    delivered = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request is served
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def _measure(url: str, requests: int, concurrency: int, profile: bool, home: Path) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings.from_env(
        {
            "ALERTWHISPERER_HOME": str(home),
            "ALERTWHISPERER_BCRYPT_ROUNDS": "4",
            "ALERTWHISPERER_WORKERS": "0",
        }
    )
    async with build_services(settings, url) as services:
        async with UnitOfWork(services.sessionmaker, SYSTEM, services.cipher, "bench") as uow:
            row, creds = await uow.companies.create(f"Cost {uuid.uuid4().hex[:6]}")
            await uow.companies.update_settings(
                row.id, "bench.settings", rate_limit_per_second=1_000_000.0, rate_limit_burst=1_000_000
            )
            await uow.companies.set_webhook_security(row.id, True, False)
    work = _requests(WARMUP + requests, (creds.api_key or "").encode(), (creds.hmac_secret or "").encode())
    app = create_app(settings, database_url=url, migrate=False)
    statuses: dict[int, int] = {}
    async with app.router.lifespan_context(app):
        for headers, body in work[:WARMUP]:
            await _post(app, headers, body)
        queue = iter(work[WARMUP:])

        async def client() -> None:
            for headers, body in queue:
                status = await _post(app, headers, body)
                statuses[status] = statuses.get(status, 0) + 1

        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = sum(statuses.values())
    print(
        f"{n:,} requests ({', '.join(f'{k}: {v:,}' for k, v in sorted(statuses.items()))}) from {concurrency} tasks"
    )
    print(
        f"  {n / wall:,.0f} requests/s; this process's CPU {cpu / n * 1e6:,.0f} us per request"
        + (" (under cProfile: inflated)" if profile else "")
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


async def _run(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="aw-webhook-cost-"))  # the application's home (keys, logs)
    try:
        async with cost_database("aw_webhook_cost") as url:
            await _measure(url, args.requests, args.concurrency, args.profile, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent requests (default 64)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    uvloop.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
