"""The webhook and `alertIngest` store alerts through one use case: the same limits with the same
figures, the same refusal of a delivery id, and the same "unavailable, retry" on a database outage with
nothing half-written."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from db.engine import create_sessionmaker
from domain.ingest import MAX_DELIVERY_ID
from domain.rbac import Role

INGEST = """
mutation($input: AlertIngestInput!) {
  alertIngest(input: $input) { alertIds replayed userErrors { field message code } }
}
"""
DISK = {"assetName": "db-01", "signature": "DiskFull", "severity": "warning", "message": "/var at 95%"}
WEBHOOK_DISK = {
    "asset_name": "db-01",
    "signature": "DiskFull",
    "severity": "warning",
    "message": "/var at 95%",
}
# A bound for a broken test (a request that never gets an answer), never a wait.
ANSWER_TIMEOUT_SECONDS = 15


async def webhook(client, company, alerts, delivery_id=None):
    headers = {"content-type": "application/json", "x-api-key": company.api_key}
    if delivery_id is not None:
        headers["x-delivery-id"] = delivery_id
    async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
        return await client.post(
            "/api/webhooks/alerts", content=orjson.dumps({"alerts": alerts}), headers=headers
        )


async def alert_ingest(client, token, company, alerts, delivery_id=None) -> dict[str, Any]:
    variables = {"input": {"companyId": company.gid, "alerts": alerts, "deliveryId": delivery_id}}
    async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
        resp = await client.post(
            "/graphql",
            json={"query": INGEST, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]["alertIngest"]


async def stored(services, company) -> tuple[int, int]:
    """(alerts, deliveries) stored for the company."""
    row = await services.pool.fetchrow(
        "SELECT (SELECT count(*) FROM alerts WHERE company_id = $1),"
        " (SELECT count(*) FROM webhook_deliveries WHERE company_id = $1)",
        company.id,
    )
    return row[0], row[1]


async def test_a_batch_over_the_burst_is_refused_with_the_same_figures_on_both_edges(
    client, factory, services
):
    # given a company whose bucket holds two alerts
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=2)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when three alerts come through each edge
    resp = await webhook(client, company, [WEBHOOK_DISK] * 3)
    result = await alert_ingest(client, admin.token, company, [DISK] * 3)

    # then both refuse them for good, with the same sentence and the same largest batch
    message = (
        "a request may carry at most 2 alerts (the company's rate-limit burst) and this one has 3: "
        "send smaller batches or raise the burst (companyRateLimitUpdate)"
    )
    assert (resp.status_code, resp.json()) == (
        413,
        {"error": message, "code": "batch_too_large", "max_batch_alerts": 2},
    )
    assert result["userErrors"] == [{"field": "alerts", "message": message, "code": "PAYLOAD_INVALID"}]
    assert await stored(services, company) == (0, 0)


async def test_a_spent_bucket_gives_both_edges_the_same_retry_time(client, factory, services):
    # given a company allowed two alerts and almost no refill, both spent through the webhook
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=2)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    assert (await webhook(client, company, [WEBHOOK_DISK] * 2)).status_code == 202

    # when one more alert comes through each edge
    resp = await webhook(client, company, [WEBHOOK_DISK])
    result = await alert_ingest(client, admin.token, company, [DISK])

    # then both are refused with the same retry time: a hundred seconds for one token at 0.01/s (the
    # bucket refills meanwhile, so the later answer may be a second shorter)
    retry_after = resp.json()["retry_after"]
    assert (resp.status_code, resp.headers["retry-after"]) == (429, str(retry_after))
    assert retry_after in (99, 100)
    [error] = result["userErrors"]
    retry_in = int(error["message"].removeprefix("rate limit exceeded: retry in ").removesuffix(" s"))
    assert (error["field"], error["code"], retry_in in (retry_after, retry_after - 1)) == (
        None,
        "RATE_LIMITED",
        True,
    )
    assert error["message"] == f"rate limit exceeded: retry in {retry_in} s"
    assert await stored(services, company) == (2, 0)


async def test_a_delivery_id_is_held_to_one_length_on_both_edges(client, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    longest, too_long = "w" * MAX_DELIVERY_ID, "g" * (MAX_DELIVERY_ID + 1)

    # when each edge sends an alert under a delivery id one character too long
    resp = await webhook(client, company, [WEBHOOK_DISK], delivery_id=too_long)
    result = await alert_ingest(client, admin.token, company, [DISK], delivery_id=too_long + "x")

    # then both refuse it with the same message, and nothing is stored
    message = "must be 1 to 200 characters"
    assert (resp.status_code, resp.json()) == (
        422,
        {"error": "invalid payload", "errors": [{"field": "X-Delivery-ID", "message": message}]},
    )
    assert result["userErrors"] == [{"field": "deliveryId", "message": message, "code": "INVALID_INPUT"}]
    assert await stored(services, company) == (0, 0)

    # and the longest id is accepted by both
    accepted = await webhook(client, company, [WEBHOOK_DISK], delivery_id=longest)
    ingested = await alert_ingest(client, admin.token, company, [DISK], delivery_id="i" * MAX_DELIVERY_ID)
    assert (accepted.status_code, ingested["userErrors"]) == (202, [])
    assert await stored(services, company) == (2, 2)


async def test_a_database_outage_is_a_503_on_the_webhook_and_nothing_is_half_written(
    second_app, second_client, client, factory, services
):
    # given two companies, one of whose API key the instance has already seen (cached, tokens leased)
    seen, unseen = await factory.company(), await factory.company()
    assert (await webhook(second_client, seen, [WEBHOOK_DISK])).status_code == 202

    # when the instance's database connections are gone
    second_app.state.services.pool.terminate()
    cold = await webhook(second_client, unseen, [WEBHOOK_DISK], delivery_id="outage-1")
    warm = await webhook(second_client, seen, [WEBHOOK_DISK], delivery_id="outage-2")

    # then both requests (one failing at the key lookup, one at the commit) are told to retry
    for resp in (cold, warm):
        assert (resp.status_code, resp.headers["retry-after"], resp.json()) == (
            503,
            "1",
            {"error": "temporarily unable to store alerts; retry"},
        )
    # and nothing was stored: not the alerts, not the delivery ids, which a retry stores as new
    assert await stored(services, unseen) == (0, 0)
    assert await stored(services, seen) == (1, 0)
    retried = await webhook(client, seen, [WEBHOOK_DISK], delivery_id="outage-2")
    assert retried.status_code == 202
    assert await stored(services, seen) == (2, 1)


async def test_a_database_outage_is_a_typed_error_on_alert_ingest_and_nothing_is_half_written(
    second_app, second_client, client, factory, services
):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the instance's alert store and rate limiter cannot reach the database
    second_app.state.services.pool.terminate()
    result = await alert_ingest(second_client, admin.token, company, [DISK], delivery_id="outage-3")

    # then the mutation answers the typed error and stores nothing
    assert result == {
        "alertIds": [],
        "replayed": False,
        "userErrors": [
            {
                "field": None,
                "message": "temporarily unable to store alerts; retry",
                "code": "SERVICE_UNAVAILABLE",
            }
        ],
    }
    assert await stored(services, company) == (0, 0)
    # and its retry on a working instance is stored as new
    retried = await alert_ingest(client, admin.token, company, [DISK], delivery_id="outage-3")
    assert (retried["replayed"], retried["userErrors"], await stored(services, company)) == (
        False,
        [],
        (1, 1),
    )


async def test_a_database_outage_before_the_caller_is_read_is_a_503_on_graphql(
    second_app, second_client, factory
):
    # given a company admin's token
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the instance cannot reach the database at all (its sessions point at a port nobody
    # listens on, as when the server is down), so the caller's row cannot be read
    services = second_app.state.services
    unreachable = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/postgres")
    services.sessionmaker = create_sessionmaker(unreachable)
    try:
        resp = await second_client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"authorization": f"Bearer {admin.token}"},
        )
    finally:
        await unreachable.dispose()

    # then the answer says to retry, in the GraphQL error shape, and no internal error
    assert (resp.status_code, resp.headers["retry-after"], resp.json()) == (
        503,
        "1",
        {
            "data": None,
            "errors": [
                {
                    "message": "temporarily unable to reach the database; retry",
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ],
        },
    )
