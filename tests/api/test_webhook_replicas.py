"""Two real server processes on one database: the rate limit and idempotency hold across them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.live import live_servers


@pytest.fixture(scope="module")
def two_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with live_servers(database_url, tmp_path_factory.mktemp("replicas"), count=2) as urls:
        yield urls


async def test_rate_limit_holds_across_two_server_processes(two_servers, factory, services):
    # given a company allowed a burst of 10 and almost no refill
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=10)
    headers = {"content-type": "application/json", "x-api-key": company.api_key}

    # when 30 alerts are sent, alternating between the two servers
    async with httpx.AsyncClient(timeout=10) as client:
        statuses = []
        for i in range(30):
            body = orjson.dumps({"asset_name": f"h{i}", "signature": "s", "severity": "low", "message": "m"})
            resp = await client.post(
                two_servers[i % 2] + "/api/webhooks/alerts", content=body, headers=headers
            )
            statuses.append(resp.status_code)

    # then the two processes together accepted exactly the burst
    assert statuses.count(202) == 10
    assert statuses.count(429) == 20
    stored = await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id)
    assert stored == 10


async def test_concurrent_repeats_across_two_processes_store_one_copy(two_servers, factory, services):
    company = await factory.company()
    headers = {"content-type": "application/json", "x-api-key": company.api_key, "x-delivery-id": "dup-1"}
    body = orjson.dumps({"asset_name": "h", "signature": "s", "severity": "low", "message": "m"})
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(
            *[
                client.post(two_servers[i % 2] + "/api/webhooks/alerts", content=body, headers=headers)
                for i in range(16)
            ]
        )
    assert sorted(r.status_code for r in responses) == [200] * 15 + [202]
    assert len({r.json()["alert_ids"][0] for r in responses}) == 1
    stored = await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id)
    assert stored == 1
