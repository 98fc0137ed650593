"""`/metrics`: every family is exposed, and each moves when its event happens; the worker process's own
scrape target; the token that can guard the endpoint."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.rbac import Role
from graph.workers import CorrelationLoop
from tests import incident_rows as rows
from tests.api.test_subscriptions import ALERT_RECEIVED, connect
from tests.helpers import sample
from tests.live import ROOT, free_port, live_servers, server_env

FAMILIES = [
    "alertwhisperer_webhook_requests",
    "alertwhisperer_alerts_ingested",
    "alertwhisperer_correlation_batch_seconds",
    "alertwhisperer_correlated_alerts",
    "alertwhisperer_correlation_incidents",
    "alertwhisperer_correlation_lag_seconds",
    "alertwhisperer_correlation_quarantined_companies",
    "alertwhisperer_reaction_backlog",
    "alertwhisperer_reaction_oldest_pending_seconds",
    "alertwhisperer_metrics_database_up",
    "alertwhisperer_alerts_purged",
    "alertwhisperer_websocket_connections",
    "alertwhisperer_graphql_subscriptions",
    "alertwhisperer_remediation_executions",
    "alertwhisperer_sla_events",
    "alertwhisperer_emails",
    "alertwhisperer_db_pool_connections",
    "process_resident_memory_bytes",
]


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> dict[Any, float]:
    resp = await client.get("/metrics")
    assert resp.status_code == 200, resp.text
    return parse(resp.text)


async def post_alert(client: httpx.AsyncClient, company: Any, url: str = "/api/webhooks/alerts") -> Any:
    body = orjson.dumps(
        {
            "asset_name": "web-01",
            "signature": f"s-{uuid.uuid4().hex[:6]}",
            "severity": "high",
            "message": "CPU at 97%",
        }
    )
    return await client.post(
        url, content=body, headers={"content-type": "application/json", "x-api-key": company.api_key}
    )


async def test_every_family_is_exposed_in_the_prometheus_text_format(client):
    # when Prometheus scrapes the API
    resp = await client.get("/metrics")

    # then it reads the text format with every family described
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    for family in FAMILIES:
        assert f"# HELP {family}" in resp.text, family
    assert value(parse(resp.text), "alertwhisperer_metrics_database_up") == 1.0


async def test_an_accepted_webhook_counts_one_request_and_its_alerts(client, factory):
    company = await factory.company()
    before = await scrape(client)

    resp = await post_alert(client, company)

    assert resp.status_code == 202
    after = await scrape(client)
    labels = {"outcome": "accepted", "reason": "accepted", "status": "202"}
    name = "alertwhisperer_webhook_requests_total"
    assert value(after, name, **labels) == value(before, name, **labels) + 1
    name = "alertwhisperer_alerts_ingested_total"
    assert value(after, name, integration="generic") == value(before, name, integration="generic") + 1


INGEST = """
mutation($input: AlertIngestInput!) {
  alertIngest(input: $input) { alertIds replayed userErrors { code } }
}
"""


async def test_alerts_ingested_through_graphql_count_under_their_own_integration(client, gql, factory):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    alerts = [
        {"assetName": "db-01", "signature": f"s-{i}", "severity": "high", "message": "disk"} for i in range(2)
    ]
    variables = {"input": {"companyId": company.gid, "alerts": alerts, "deliveryId": uuid.uuid4().hex}}
    name = "alertwhisperer_alerts_ingested_total"
    before = await scrape(client)

    # when an admin ingests two alerts through `alertIngest`, and repeats the delivery
    first = await gql(INGEST, variables, token=admin.token)
    again = await gql(INGEST, variables, token=admin.token)

    # then the two stored alerts count once, as graphql (the replay stored nothing)
    assert first["data"]["alertIngest"]["userErrors"] == [], first
    assert again["data"]["alertIngest"]["replayed"] is True
    after = await scrape(client)
    assert value(after, name, integration="graphql") == value(before, name, integration="graphql") + 2
    assert value(after, name, integration="generic") == value(before, name, integration="generic")


async def test_refusals_count_by_reason_and_status_and_store_no_alert(client, services, factory):
    company = await factory.company()
    name = "alertwhisperer_webhook_requests_total"
    bad_key = {"outcome": "refused", "reason": "invalid_api_key", "status": "401"}
    no_route = {"outcome": "refused", "reason": "unknown_integration", "status": "404"}
    before = await scrape(client)

    # when a request brings a wrong key, and another names no integration
    wrong = dataclasses.replace(company, api_key="aw_wrong")
    assert (await post_alert(client, wrong)).status_code == 401
    assert (
        await post_alert(client, company, "/api/webhooks/no-such-tool-" + uuid.uuid4().hex)
    ).status_code == 404

    # then each counts under its reason, and an unknown path adds no label value of its own
    after = await scrape(client)
    assert value(after, name, **bad_key) == value(before, name, **bad_key) + 1
    assert value(after, name, **no_route) == value(before, name, **no_route) + 1
    assert not any("no-such-tool" in str(key) for key in after)
    assert await rows.alerts_of(services, company.id) == []


async def test_a_correlation_batch_is_timed_and_counted(client, services, factory):
    company = await factory.company()
    assert (await post_alert(client, company)).status_code == 202
    batches = sample("alertwhisperer_correlation_batch_seconds_count")
    correlated = sample("alertwhisperer_correlated_alerts_total")
    created = sample("alertwhisperer_correlation_incidents_total", change="created")

    # when the correlation loop takes a step (it drains every waiting alert)
    loop = CorrelationLoop(services, asyncio.Event())
    try:
        while await loop.step():
            pass
    finally:
        await loop.close()

    # then the batch is timed, and its alerts and new incident counted
    assert sample("alertwhisperer_correlation_batch_seconds_count") >= batches + 1
    assert sample("alertwhisperer_correlated_alerts_total") >= correlated + 1
    assert sample("alertwhisperer_correlation_incidents_total", change="created") >= created + 1
    assert value(await scrape(client), "alertwhisperer_correlation_lag_seconds") == 0.0


async def test_the_lag_shows_the_oldest_waiting_alert(client, services, factory):
    company = await factory.company()
    alert = await rows.alert(
        services, company.id, correlated_at=None, received_at=datetime.now(UTC) - timedelta(minutes=2)
    )
    try:
        assert value(await scrape(client), "alertwhisperer_correlation_lag_seconds") >= 119
    finally:
        await services.pool.execute("DELETE FROM alerts WHERE id = $1", alert)


class Probe:
    def __init__(self, name: str) -> None:
        self.name = name

    async def handle(self, conn: Any, change: Any) -> None:
        return None


async def test_a_reactions_backlog_is_read_at_scrape_time(client, services, factory):
    from db.reactions import ReactionRunner

    # given a registered reaction and one change waiting for it
    company = await factory.company()
    reaction = Probe(f"probe-{uuid.uuid4().hex[:8]}")
    runner = ReactionRunner(services.pool, reaction)
    await runner.register()
    try:
        incident = await rows.incident(services, company.id)
        await services.pool.execute(
            "INSERT INTO incident_changes (company_id, incident_id, version, kind, after_status, after_severity,"
            " actor) VALUES ($1, $2, 2, 'UPDATED', 'NEW', 'high', 'test')",
            company.id,
            incident,
        )

        # then the scrape shows it pending, and none once handled
        pending = {"reaction": reaction.name, "state": "pending"}
        assert value(await scrape(client), "alertwhisperer_reaction_backlog", **pending) == 1
        await runner.run_once()
        assert value(await scrape(client), "alertwhisperer_reaction_backlog", **pending) == 0
    finally:
        await services.pool.execute("DELETE FROM reactions WHERE name = $1", reaction.name)


async def test_pool_gauges_show_the_connections_in_use(client, services, settings):
    # given a connection taken from the asyncpg pool
    async with services.pool.acquire():
        samples = await scrape(client)
    name = "alertwhisperer_db_pool_connections"
    # (the scrape itself held one more while it read the database figures, and gave it back)
    assert value(samples, name, pool="asyncpg", state="in_use") >= 1
    assert value(samples, name, pool="asyncpg", state="max") == settings.db_pool_size
    assert value(samples, name, pool="sqlalchemy", state="max") >= settings.db_pool_size


@pytest.fixture
async def guarded_client(settings: Any, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    from graph.app import create_app

    app = create_app(
        dataclasses.replace(settings, metrics_token="m" * 40), database_url=database_url, migrate=False
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            yield c


async def test_with_a_token_set_metrics_need_it(guarded_client):
    assert (await guarded_client.get("/metrics")).status_code == 401
    wrong = await guarded_client.get("/metrics", headers={"authorization": "Bearer " + "x" * 40})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = await guarded_client.get("/metrics", headers={"authorization": "Bearer " + "m" * 40})
    assert right.status_code == 200
    assert "alertwhisperer_webhook_requests" in right.text


WORKER_TOKEN = "w" * 40


def _worker_get(port: int, token: str | None = WORKER_TOKEN) -> httpx.Response | None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=1)
    except httpx.HTTPError:
        return None


def _worker_metrics(port: int) -> dict[Any, float] | None:
    resp = _worker_get(port)
    return parse(resp.text) if resp is not None and resp.status_code == 200 else None


async def test_the_worker_process_serves_its_own_metrics(database_url, services, factory, tmp_path):
    # given an alert waiting for correlation, and `alertwhisperer worker` with a metrics port guarded
    # by the API's metrics token
    company = await factory.company()
    await rows.alert(services, company.id, correlated_at=None)
    port = free_port()
    env = server_env(database_url, tmp_path) | {
        "ALERTWHISPERER_PARENT_PID": str(os.getpid()),  # serve's way: no migration of its own
        "ALERTWHISPERER_WORKER_METRICS_PORT": str(port),
        "ALERTWHISPERER_WORKER_METRICS_HOST": "127.0.0.1",
        "ALERTWHISPERER_METRICS_TOKEN": WORKER_TOKEN,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "graph.cli",
        "worker",
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # when its loops have correlated the alert
        deadline = time.monotonic() + 60
        samples = None
        while time.monotonic() < deadline and proc.returncode is None:
            samples = await asyncio.to_thread(_worker_metrics, port)
            if samples and value(samples, "alertwhisperer_correlated_alerts_total") >= 1:
                break
            await asyncio.sleep(0.2)

        # then its endpoint shows its batches and its pool
        assert samples is not None, "the worker's metrics endpoint never answered"
        assert value(samples, "alertwhisperer_correlated_alerts_total") >= 1
        assert value(samples, "alertwhisperer_correlation_batch_seconds_count") >= 1
        assert value(samples, "alertwhisperer_db_pool_connections", pool="asyncpg", state="max") >= 1

        # and refuses a scrape without the token, or with another one
        for token in (None, "x" * 40):
            refused = await asyncio.to_thread(_worker_get, port, token)
            assert refused is not None
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "alertwhisperer_" not in refused.text
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0


async def _live_gauges(url: str) -> tuple[float, float]:
    async with httpx.AsyncClient() as c:
        samples = parse((await c.get(url + "/metrics")).text)
    return (
        value(samples, "alertwhisperer_websocket_connections"),
        value(samples, "alertwhisperer_graphql_subscriptions"),
    )


async def _until(url: str, expected: tuple[float, float]) -> tuple[float, float]:
    deadline = time.monotonic() + 10
    seen = await _live_gauges(url)
    while seen != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        seen = await _live_gauges(url)
    return seen


async def test_subscriptions_are_counted_while_open(database_url, factory, tmp_path):
    company = await factory.company()
    user = await factory.user(Role.COMPANY_ADMIN, [company])
    with live_servers(database_url, tmp_path) as (url,):
        assert await _live_gauges(url) == (0, 0)
        async with connect(url, user.token) as socket:
            # when a client subscribes
            await socket.subscribe("1", ALERT_RECEIVED, {"c": company.gid})
            # then one websocket and one subscription are counted
            assert await _until(url, (1, 1)) == (1, 1)
            await socket.send({"id": "1", "type": "complete"})
            assert await _until(url, (1, 0)) == (1, 0)
        # and none once it has gone
        assert await _until(url, (0, 0)) == (0, 0)
