"""`alertIngest`: the webhook's rules through GraphQL: stored rows, replays, refusals that store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

INGEST = """
mutation($input: AlertIngestInput!) {
  alertIngest(input: $input) { alertIds replayed userErrors { field message code } }
}
"""


async def ingest(gql, token, company, alerts, delivery_id=None):
    body = await gql(
        INGEST,
        {"input": {"companyId": company.gid, "alerts": alerts, "deliveryId": delivery_id}},
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["alertIngest"]


DISK = {"assetName": "db-01", "signature": "DiskFull", "severity": "warning", "message": "/var at 95%"}
WEBHOOK_DISK = {
    "asset_name": "db-01",
    "signature": "DiskFull",
    "severity": "warning",
    "message": "/var at 95%",
}


async def post_generic(client, company, payload, delivery_id):
    """Our JSON through the webhook, under a delivery id."""
    return await client.post(
        "/api/webhooks/alerts",
        content=orjson.dumps(payload),
        headers={
            "content-type": "application/json",
            "x-api-key": company.api_key,
            "x-delivery-id": delivery_id,
        },
    )


async def test_company_admin_ingests_alerts_that_are_stored_normalised(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    # (an event time inside the accepted past: older ones are clamped to the oldest accepted)
    happened_at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)

    # when two alerts are ingested, one with every optional field
    result = await ingest(
        gql,
        admin.token,
        company,
        [
            DISK,
            {
                "assetName": "web-01",
                "assetId": "i-123",
                "signature": "HighCPU",
                "severity": "CRITICAL",
                "message": "CPU 99%",
                "toolSource": "grafana",
                "timestamp": happened_at.isoformat(),
                "status": "RESOLVED",
                "dedupKey": "cpu-web-01",
                "tags": {"env": "prod", "rack": 7},
            },
        ],
    )

    # then both are committed, normalised exactly as the webhook would
    by_asset = {a.asset_name: a for a in await rows.alerts_of(services, company.id)}
    disk, cpu = by_asset["db-01"], by_asset["web-01"]
    assert result == {
        "alertIds": [gid("Alert", disk.id), gid("Alert", cpu.id)],
        "replayed": False,
        "userErrors": [],
    }
    assert len(by_asset) == 2
    assert (
        disk.asset_name,
        disk.signature,
        disk.severity,
        disk.severity_raw,
        disk.tool,
        disk.status,
        disk.dedup_key,
        disk.raw,
    ) == (
        "db-01",
        "DiskFull",
        "medium",
        "warning",
        "generic",
        "firing",
        None,
        {"asset_name": "db-01", "signature": "DiskFull", "severity": "warning", "message": "/var at 95%"},
    )
    assert (cpu.asset_ref, cpu.severity, cpu.tool, cpu.status, cpu.dedup_key, cpu.fingerprint, cpu.tags) == (
        "i-123",
        "critical",
        "grafana",
        "resolved",
        "cpu-web-01",
        "grafana:cpu-web-01",
        {"env": "prod", "rack": "7", "tool_source": "grafana"},
    )
    assert cpu.event_time == happened_at


async def test_a_repeated_delivery_id_stores_nothing_new_and_is_shared_with_the_webhook(
    gql, factory, services, client
):
    # given an MSP admin and a first delivery
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    first = await ingest(gql, msp.token, company, [DISK], delivery_id="batch-42")

    # when the same alert comes again under that delivery id through GraphQL, then through the webhook
    again = await ingest(gql, msp.token, company, [DISK], delivery_id="batch-42")
    webhook = await post_generic(client, company, WEBHOOK_DISK, "batch-42")

    # then both repeats get the first answer and only the first alert is stored
    [stored] = await rows.alerts_of(services, company.id)
    assert first == {"alertIds": [gid("Alert", stored.id)], "replayed": False, "userErrors": []}
    assert again == {"alertIds": [gid("Alert", stored.id)], "replayed": True, "userErrors": []}
    assert (webhook.status_code, webhook.headers["idempotent-replay"]) == (200, "true")
    assert webhook.json() == {"status": "received", "alert_ids": [gid("Alert", stored.id)]}


async def test_a_delivery_id_reused_for_other_alerts_is_a_conflict_through_either_edge(
    gql, factory, services, client
):
    # given an MSP admin and a first delivery
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    await ingest(gql, msp.token, company, [DISK], delivery_id="batch-42")

    # when other alerts come under the same delivery id through GraphQL, then through the webhook
    again = await ingest(gql, msp.token, company, [DISK, DISK], delivery_id="batch-42")
    webhook = await post_generic(client, company, WEBHOOK_DISK | {"message": "/var at 99%"}, "batch-42")

    # then both are refused as a reused key, and only the first alert is stored
    assert again == {
        "alertIds": [],
        "replayed": False,
        "userErrors": [
            {
                "field": "deliveryId",
                "message": "was already used for other alerts: a repeat must carry the same alerts, "
                "new alerts need a new deliveryId",
                "code": "CONFLICT",
            }
        ],
    }
    assert (webhook.status_code, webhook.json()["code"]) == (409, "delivery_id_reused")
    assert len(await rows.alerts_of(services, company.id)) == 1


async def test_invalid_alerts_are_refused_field_by_field_and_nothing_is_stored(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when a batch with a good alert and two bad ones is ingested, and then an empty batch
    result = await ingest(
        gql,
        admin.token,
        company,
        [
            DISK,
            DISK | {"severity": "apocalyptic", "assetName": " "},
            DISK | {"tags": {"k": {"nested": 1}}, "dedupKey": "d" * 300},
        ],
    )
    empty = await ingest(gql, admin.token, company, [])

    # then each failing field is named in input terms, and nothing was stored
    assert result == {
        "alertIds": [],
        "replayed": False,
        "userErrors": [
            {"field": "alerts.1.assetName", "message": "is required", "code": "PAYLOAD_INVALID"},
            {
                "field": "alerts.1.severity",
                "message": "must be one of critical, high, medium, low (or a synonym)",
                "code": "PAYLOAD_INVALID",
            },
            {
                "field": "alerts.2.dedupKey",
                "message": "must be at most 255 characters",
                "code": "PAYLOAD_INVALID",
            },
            {
                "field": "alerts.2.tags.k",
                "message": "must be a string, number or boolean",
                "code": "PAYLOAD_INVALID",
            },
        ],
    }
    assert empty["userErrors"] == [
        {"field": "alerts", "message": "must contain at least one alert", "code": "PAYLOAD_INVALID"}
    ]
    assert await rows.alerts_of(services, company.id) == []


async def test_technician_may_not_ingest(gql, factory, services):
    # given a technician of the company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when the technician ingests an alert
    result = await ingest(gql, tech.token, company, [DISK], delivery_id="tech-1")

    # then it is denied and nothing is stored (the delivery id stays unused)
    assert result == {
        "alertIds": [],
        "replayed": False,
        "userErrors": [
            {"field": None, "message": "you do not have permission to do this", "code": "PERMISSION_DENIED"}
        ],
    }
    assert await rows.alerts_of(services, company.id) == []
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE company_id = $1", company.id
        )
        == 0
    )


async def test_rate_limited_ingest_says_when_to_retry_and_stores_nothing(gql, factory, services):
    # given a company allowed a burst of two alerts and almost no refill, both spent
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=2)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    spent = await ingest(gql, admin.token, company, [DISK, DISK])

    # when one more alert is ingested
    result = await ingest(gql, admin.token, company, [DISK])

    # then it is refused with the retry time
    [error] = result["userErrors"]
    assert (spent["userErrors"], result["alertIds"], error["field"], error["code"]) == (
        [],
        [],
        None,
        "RATE_LIMITED",
    )
    assert error["message"].startswith("rate limit exceeded: retry in ")
    assert int(error["message"].removeprefix("rate limit exceeded: retry in ").removesuffix(" s")) >= 1
    assert len(await rows.alerts_of(services, company.id)) == 2


async def test_a_batch_larger_than_the_burst_is_refused_with_the_largest_batch(gql, factory, services):
    # given a company whose bucket holds at most two alerts
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=2)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when three alerts are ingested in one batch (it could never fit)
    result = await ingest(gql, admin.token, company, [DISK, DISK, DISK])

    # then the batch is refused for good, saying how many alerts a batch may carry, and nothing is stored
    assert result == {
        "alertIds": [],
        "replayed": False,
        "userErrors": [
            {
                "field": "alerts",
                "message": "a request may carry at most 2 alerts (the company's rate-limit burst) and this "
                "one has 3: send smaller batches or raise the burst (companyRateLimitUpdate)",
                "code": "PAYLOAD_INVALID",
            }
        ],
    }
    assert await rows.alerts_of(services, company.id) == []


async def test_the_webhook_and_alert_ingest_draw_on_one_bucket(gql, factory, services, client):
    # given a company allowed three alerts at once, two of them spent through the webhook
    company = await factory.company(rate_limit_per_second=0.01, rate_limit_burst=3)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    webhook = await client.post(
        "/api/webhooks/alerts",
        content=orjson.dumps(
            {
                "alerts": [
                    {"asset_name": f"h{i}", "signature": "y", "severity": "low", "message": "z"}
                    for i in (1, 2)
                ]
            }
        ),
        headers={"content-type": "application/json", "x-api-key": company.api_key},
    )

    # when two more alerts are ingested through GraphQL
    result = await ingest(gql, admin.token, company, [DISK, DISK])

    # then they are refused by the same limit, and only the webhook's alerts are stored
    assert webhook.status_code == 202
    assert [e["code"] for e in result["userErrors"]] == ["RATE_LIMITED"]
    assert len(await rows.alerts_of(services, company.id)) == 2


async def test_overlong_delivery_id_is_refused(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the delivery id is too long
    result = await ingest(gql, admin.token, company, [DISK], delivery_id="d" * 201)

    # then it is refused and nothing is stored
    assert result["userErrors"] == [
        {"field": "deliveryId", "message": "must be 1 to 200 characters", "code": "INVALID_INPUT"}
    ]
    assert await rows.alerts_of(services, company.id) == []
