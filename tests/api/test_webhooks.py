"""The webhook edge end to end: authentication, HMAC, idempotency, limits, and that refusals store nothing."""

from __future__ import annotations

import asyncio
import pathlib
import re
import time
import uuid

import orjson
import pytest

from domain.alerts import Tool
from domain.rbac import Role
from domain.signing import sign
from graph.core import parse_global_id
from tests.helpers import event_heard, gid

URL = "/api/webhooks/alerts"


def one(**overrides):
    return {
        "asset_name": "web-01",
        "signature": "high_cpu",
        "severity": "high",
        "message": "CPU at 97%",
    } | overrides


def raw_id(alert_id: str) -> uuid.UUID:
    """The row id inside an alert's global ID."""
    kind, raw = parse_global_id(alert_id)
    assert kind == "Alert"
    return uuid.UUID(raw)


async def count_alerts(services, company) -> int:
    return await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id)


async def post(client, company, payload, *, headers=None, url=URL, raw: bytes | None = None):
    body = raw if raw is not None else orjson.dumps(payload)
    h = {"content-type": "application/json", "x-api-key": company.api_key} | (headers or {})
    return await client.post(url, content=body, headers=h)


def signed_headers(company, body: bytes, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"x-timestamp": str(ts), "x-signature": sign(company.hmac_secret.encode(), ts, body)}


async def enable_hmac(factory, company):
    async with factory.uow() as uow:
        await uow.companies.set_webhook_security(company.id, True, False)


async def test_a_single_alert_is_committed_before_the_202(client, factory, services):
    company = await factory.company()
    resp = await post(client, company, one(tags={"env": "prod"}, timestamp="2026-11-27T10:00:00Z"))
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "received"
    [alert_id] = body["alert_ids"]
    row = await services.pool.fetchrow("SELECT * FROM alerts WHERE id = $1", raw_id(alert_id))
    assert row["company_id"] == company.id
    assert (row["asset_name"], row["signature"], row["severity"], row["status"]) == (
        "web-01",
        "high_cpu",
        "high",
        "firing",
    )
    assert orjson.loads(row["raw"])["message"] == "CPU at 97%"
    assert orjson.loads(row["tags"])["env"] == "prod"


NODE = "query($id: ID!) { node(id: $id) { id ... on Alert { assetName signature } } }"


async def test_the_answered_alert_ids_are_global_ids_that_node_takes(client, factory, services, gql):
    # given a company admin and a batch of two alerts accepted by the webhook
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    resp = await post(client, company, {"alerts": [one(asset_name="web-01"), one(asset_name="web-02")]})
    assert resp.status_code == 202
    ids = resp.json()["alert_ids"]

    # when each answered id is looked up with node(id:)
    nodes = [(await gql(NODE, {"id": i}, token=admin.token))["data"]["node"] for i in ids]

    # then each is the stored alert, under the id the webhook answered
    assert nodes == [
        {"id": ids[0], "assetName": "web-01", "signature": "high_cpu"},
        {"id": ids[1], "assetName": "web-02", "signature": "high_cpu"},
    ]
    stored = await services.pool.fetch("SELECT id FROM alerts WHERE company_id = $1 ORDER BY id", company.id)
    assert sorted(raw_id(i) for i in ids) == [r["id"] for r in stored]


async def test_a_batch_of_alerts_and_the_api_key_query_parameter(client, factory, services):
    company = await factory.company()
    payload = {"alerts": [one(asset_name=f"web-{i}") for i in range(25)]}
    resp = await client.post(
        f"{URL}?api_key={company.api_key}",
        content=orjson.dumps(payload),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 202
    assert len(resp.json()["alert_ids"]) == 25
    assert await count_alerts(services, company) == 25


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"x-api-key": ""}, 401, "missing API key: send the X-API-Key header or the api_key query parameter"),
        ({"x-api-key": "aw_not-a-real-key"}, 401, "invalid API key"),
        ({"content-type": "text/xml"}, 415, "Content-Type must be application/json"),
    ],
)
async def test_unauthenticated_or_wrong_type_requests_store_nothing(
    client, factory, services, headers, status, error
):
    company = await factory.company()
    resp = await post(client, company, one(), headers=headers)
    assert resp.status_code == status
    assert resp.json()["error"] == error
    assert await count_alerts(services, company) == 0


async def test_oversized_body_is_413_and_stores_nothing(client, factory, services):
    company = await factory.company()
    big = orjson.dumps({"alerts": [one(message="x" * 3000) for _ in range(400)]})
    assert len(big) > 1024 * 1024
    resp = await post(client, company, None, raw=big)
    assert resp.status_code == 413
    assert await count_alerts(services, company) == 0


async def test_malformed_json_is_400(client, factory, services):
    company = await factory.company()
    resp = await post(client, company, None, raw=b'{"asset_name": ')
    assert resp.status_code == 400
    assert resp.json() == {"error": "request body is not valid JSON"}
    assert await count_alerts(services, company) == 0


async def test_invalid_payload_is_422_with_every_failing_field_and_stores_nothing(client, factory, services):
    company = await factory.company()
    payload = {"alerts": [one(), one(severity="apocalyptic"), {"asset_name": "x"}]}
    resp = await post(client, company, payload)
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "invalid payload"
    fields = [e["field"] for e in body["errors"]]
    assert "alerts.1.severity" in fields
    assert {"alerts.2.signature", "alerts.2.severity", "alerts.2.message"} <= set(fields)
    assert await count_alerts(services, company) == 0


async def test_unknown_tool_is_404_and_every_path_it_lists_is_served(client, factory):
    # given a company
    company = await factory.company()

    # when a path names no integration
    resp = await post(client, company, one(), url="/api/webhooks/nagios2")

    # then it is a 404 whose `known` list names every ingest path, our JSON's two included
    assert resp.status_code == 404
    assert resp.json() == {
        "error": "unknown integration 'nagios2'",
        "known": sorted(["alerts", "generic", *(t.value for t in Tool if t is not Tool.GENERIC)]),
    }
    for name in resp.json()["known"]:
        assert (await post(client, company, {}, url=f"/api/webhooks/{name}")).status_code != 404, name


DOCUMENTED_PATH = re.compile(r"/api/webhooks/([a-z0-9_-]+)")


def documented_webhook_paths() -> set[str]:
    """Every concrete `/api/webhooks/<name>` that README.md and docs/ give (placeholders left out)."""
    root = pathlib.Path(__file__).resolve().parents[2]
    texts = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return {name for text in texts for name in DOCUMENTED_PATH.findall(text.read_text())}


async def test_every_webhook_path_the_docs_give_is_served(client, factory, services):
    # given the ingest paths the README and the integration guides tell integrators to use
    company = await factory.company()
    paths = documented_webhook_paths()
    assert {"alerts", "generic", "alertmanager", "pagerduty"} <= paths

    # when each is posted to with a valid key
    answers = {
        name: (await post(client, company, {}, url=f"/api/webhooks/{name}")).status_code for name in paths
    }

    # then none is a 404 (an empty object is refused as a payload, so nothing is stored)
    assert {name: status for name, status in answers.items() if status == 404} == {}
    assert await count_alerts(services, company) == 0


async def test_generic_is_our_json_as_alerts_is(client, factory, services):
    # given a company
    company = await factory.company()

    # when our JSON is posted to /api/webhooks/generic
    resp = await post(client, company, one(), url="/api/webhooks/generic")

    # then it is stored as a generic alert, as through /api/webhooks/alerts
    assert resp.status_code == 202
    row = await services.pool.fetchrow(
        "SELECT tool, asset_name FROM alerts WHERE id = $1", raw_id(resp.json()["alert_ids"][0])
    )
    assert (row["tool"], row["asset_name"]) == ("generic", "web-01")


async def test_other_methods_are_405_with_allow(client, factory):
    company = await factory.company()
    resp = await client.get(URL, headers={"x-api-key": company.api_key})
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


async def test_every_answer_carries_a_request_id(client, factory):
    company = await factory.company()
    given = await post(client, company, one(), headers={"x-request-id": "trace-42.a_b"})
    assert given.status_code == 202
    assert given.headers["x-request-id"] == "trace-42.a_b"
    made = [
        await post(client, company, one(), headers={"x-request-id": "bad id with spaces"}) for _ in range(2)
    ]
    ids = {r.headers["x-request-id"] for r in made}
    assert len(ids) == 2
    assert "bad id with spaces" not in ids
    refused = await client.post(URL, content=b"{}", headers={"content-type": "application/json"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"]


async def test_an_internal_error_is_masked_logged_and_stores_nothing(
    client, factory, services, monkeypatch, caplog
):
    import graph.webhooks.routes as routes

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(routes, "normalize", broken)
    company = await factory.company()
    resp = await post(client, company, one())
    assert resp.status_code == 500
    assert resp.json() == {"error": "internal server error", "request_id": resp.headers["x-request-id"]}
    assert "secret internals" not in resp.text
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert await count_alerts(services, company) == 0


async def test_hmac_good_signature_is_accepted(client, factory, services):
    company = await factory.company()
    await enable_hmac(factory, company)
    body = orjson.dumps(one())
    resp = await post(client, company, None, raw=body, headers=signed_headers(company, body))
    assert resp.status_code == 202
    assert await count_alerts(services, company) == 1


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda h, b: {}, "X-Timestamp header is required when HMAC signing is enabled"),
        (
            lambda h, b: {"x-timestamp": h["x-timestamp"]},
            "X-Signature header is required when HMAC signing is enabled",
        ),
        (
            lambda h, b: h | {"x-signature": "sha256=" + "0" * 64},
            "X-Signature does not match the request body",
        ),
        (lambda h, b: h | {"x-signature": "md5=abc"}, "X-Signature must be 'sha256=<64 hex digits>'"),
        (lambda h, b: h | {"x-timestamp": "yesterday"}, "X-Timestamp must be unix seconds"),
    ],
)
async def test_hmac_bad_signatures_are_403_and_store_nothing(client, factory, services, mutate, error):
    company = await factory.company()
    await enable_hmac(factory, company)
    body = orjson.dumps(one())
    resp = await post(client, company, None, raw=body, headers=mutate(signed_headers(company, body), body))
    assert resp.status_code == 403
    assert resp.json() == {"error": error}
    assert await count_alerts(services, company) == 0


async def test_hmac_expired_timestamp_is_403(client, factory, services):
    company = await factory.company()
    await enable_hmac(factory, company)
    body = orjson.dumps(one())
    resp = await post(
        client, company, None, raw=body, headers=signed_headers(company, body, int(time.time()) - 301)
    )
    assert resp.status_code == 403
    assert resp.json() == {"error": "X-Timestamp is more than 300 seconds away from server time"}
    assert await count_alerts(services, company) == 0


async def test_hmac_signature_made_with_the_old_secret_fails_after_rotation_without_grace(
    client, factory, services, gql
):
    company = await factory.company()
    await enable_hmac(factory, company)
    admin = await factory.user(Role.MSP_ADMIN)
    async with event_heard(services, "system:companies"):  # the rotation reaches the key cache
        rotated = await gql(
            "mutation($id: ID!) { companyWebhookSecurityUpdate(input:"
            " {id: $id, rotateSecret: true, gracePeriodHours: 0}) { hmacSecret userErrors { code } } }",
            {"id": gid("Company", company.id)},
            token=admin.token,
        )
    assert rotated["data"]["companyWebhookSecurityUpdate"]["userErrors"] == []
    body = orjson.dumps(one())
    resp = await post(client, company, None, raw=body, headers=signed_headers(company, body))
    assert resp.status_code == 403
    assert await count_alerts(services, company) == 0


async def test_a_replayed_signed_request_is_409(client, factory, services):
    company = await factory.company()
    await enable_hmac(factory, company)
    body = orjson.dumps(one())
    headers = signed_headers(company, body)
    first = await post(client, company, None, raw=body, headers=headers)
    replay = await post(client, company, None, raw=body, headers=headers)
    other_delivery = await post(
        client, company, None, raw=body, headers=headers | {"x-delivery-id": "new-id"}
    )
    assert first.status_code == 202
    assert replay.status_code == 409
    assert replay.json() == {"error": "this signed request was already accepted (replay)"}
    assert other_delivery.status_code == 409
    assert await count_alerts(services, company) == 1


async def test_a_repeated_delivery_id_returns_the_first_answer_and_stores_nothing(client, factory, services):
    # given a delivery accepted under an id
    company = await factory.company()
    first = await post(client, company, one(), headers={"x-delivery-id": "delivery-1"})

    # when the same alert comes again under that id (a retry), its bytes laid out differently
    again = await post(
        client,
        company,
        None,
        raw=orjson.dumps(one(), option=orjson.OPT_INDENT_2),
        headers={"x-delivery-id": "delivery-1"},
    )

    # then it gets the first answer and nothing new is stored
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["idempotent-replay"] == "true"
    assert again.json() == first.json()
    assert await count_alerts(services, company) == 1


async def test_a_delivery_id_reused_for_other_alerts_is_409_and_stores_nothing(client, factory, services):
    # given a delivery accepted under an id
    company = await factory.company()
    first = await post(client, company, one(), headers={"x-delivery-id": "delivery-1"})

    # when other alerts come under the same id, one at a time and in a batch
    changed = await post(client, company, one(message="changed"), headers={"x-delivery-id": "delivery-1"})
    batch = await post(
        client,
        company,
        {"alerts": [one(), one(asset_name="web-02")]},
        headers={"x-delivery-id": "delivery-1"},
    )

    # then both are refused as a reused key (not answered as replays), and only the first alert is stored
    assert first.status_code == 202
    for refused in (changed, batch):
        assert refused.status_code == 409
        assert "idempotent-replay" not in refused.headers
        assert refused.json() == {
            "error": "X-Delivery-ID was already used for a request with other alerts: "
            "a retry must carry the same alerts, new alerts need a new delivery id",
            "code": "delivery_id_reused",
        }
    rows = await services.pool.fetch("SELECT message FROM alerts WHERE company_id = $1", company.id)
    assert [r["message"] for r in rows] == ["CPU at 97%"]


async def test_concurrent_deliveries_of_other_alerts_under_one_id_store_one_of_them(
    client, factory, services
):
    # given twenty different alerts sent at once under one delivery id
    company = await factory.company()
    responses = await asyncio.gather(
        *[
            post(client, company, one(asset_name=f"h{i}"), headers={"x-delivery-id": "clash"})
            for i in range(20)
        ]
    )

    # then one is stored and every other one is refused as a reused key
    assert sorted(r.status_code for r in responses) == [202] + [409] * 19
    assert {r.json().get("code") for r in responses if r.status_code == 409} == {"delivery_id_reused"}
    assert await count_alerts(services, company) == 1


async def test_concurrent_repeats_of_one_delivery_store_one_copy(client, factory, services):
    company = await factory.company()
    payload = {"alerts": [one(asset_name=f"h{i}") for i in range(3)]}
    responses = await asyncio.gather(
        *[post(client, company, payload, headers={"x-delivery-id": "storm"}) for _ in range(20)]
    )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    assert len({r.text for r in responses}) == 1
    assert await count_alerts(services, company) == 3


async def test_rate_limit_answers_429_with_retry_after_and_stores_nothing(client, factory, services):
    company = await factory.company(rate_limit_per_second=0.5, rate_limit_burst=3)
    statuses = [(await post(client, company, one(asset_name=f"h{i}"))).status_code for i in range(3)]
    limited = await post(client, company, one(asset_name="h-over"))
    assert statuses == [202, 202, 202]
    assert limited.status_code == 429
    # the next token is at most 2 s away at 0.5/s (less if the bucket refilled while the requests ran,
    # as on a loaded machine): the header and the body say the same whole seconds
    retry = int(limited.headers["retry-after"])
    assert retry in (1, 2)
    assert limited.json() == {"error": "rate limit exceeded", "retry_after": retry}
    assert await count_alerts(services, company) == 3


async def test_a_batch_larger_than_the_burst_is_413_with_the_largest_batch_and_stores_nothing(
    client, factory, services
):
    # given a company whose bucket holds at most five alerts
    company = await factory.company(rate_limit_per_second=1, rate_limit_burst=5)

    # when a batch of six arrives (it could never fit, however long the sender waits)
    resp = await post(client, company, {"alerts": [one(asset_name=f"h{i}") for i in range(6)]})

    # then it is refused for good with the largest batch allowed, no retry time, and nothing stored
    assert resp.status_code == 413
    assert "retry-after" not in resp.headers
    assert resp.json() == {
        "error": "a request may carry at most 5 alerts (the company's rate-limit burst) and this one has 6: "
        "send smaller batches or raise the burst (companyRateLimitUpdate)",
        "code": "batch_too_large",
        "max_batch_alerts": 5,
    }
    assert await count_alerts(services, company) == 0
    # and a batch of exactly the burst is accepted
    full = await post(client, company, {"alerts": [one(asset_name=f"h{i}") for i in range(5)]})
    assert full.status_code == 202
    assert await count_alerts(services, company) == 5


async def bucket_tokens(services, company) -> float:
    return await services.pool.fetchval(
        "SELECT tokens FROM rate_limit_buckets WHERE company_id = $1", company.id
    )


async def test_a_refused_batch_takes_nothing_and_its_retry_after_is_honoured(client, factory, services):
    # given a company with a burst of ten at two alerts a second, eight of them spent
    company = await factory.company(rate_limit_per_second=2, rate_limit_burst=10)
    for i in range(8):
        assert (await post(client, company, one(asset_name=f"h{i}"))).status_code == 202
    before = await bucket_tokens(services, company)

    # when a batch of six finds only about two tokens
    refused = await post(client, company, {"alerts": [one(asset_name=f"b{i}") for i in range(6)]})

    # then it is refused with a retry time, and the bucket it waits for keeps its tokens
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert refused.json() == {"error": "rate limit exceeded", "retry_after": retry_after}
    assert 2 <= retry_after <= 3
    assert await bucket_tokens(services, company) >= before
    assert await count_alerts(services, company) == 8

    # when the sender waits as told (the bucket's clock is moved back, this process's lease is over)
    await services.pool.execute(
        "UPDATE rate_limit_buckets SET refreshed_at = refreshed_at - make_interval(secs => $2) "
        "WHERE company_id = $1",
        company.id,
        float(retry_after),
    )
    services.ingest_service().limiter.forget(company.id)
    again = await post(client, company, {"alerts": [one(asset_name=f"b{i}") for i in range(6)]})

    # then the same batch is accepted
    assert again.status_code == 202
    assert await count_alerts(services, company) == 14


async def test_a_key_rotated_without_grace_period_stops_working(client, factory, services, gql):
    company = await factory.company()
    assert (await post(client, company, one())).status_code == 202
    admin = await factory.user(Role.MSP_ADMIN)
    async with event_heard(services, "system:companies"):  # the rotation reaches the key cache
        rotated = await gql(
            "mutation($id: ID!) { companyApiKeyRotate(input: {id: $id, gracePeriodHours: 0})"
            " { apiKey userErrors { code } } }",
            {"id": gid("Company", company.id)},
            token=admin.token,
        )
    assert rotated["data"]["companyApiKeyRotate"]["userErrors"] == []
    resp = await post(client, company, one())
    assert resp.status_code == 401
    assert await count_alerts(services, company) == 1


async def test_nul_characters_in_the_raw_payload_are_stored_safely(client, factory, services):
    # given an alert whose extra fields carry NUL characters (JSONB cannot store them)
    company = await factory.company()
    resp = await post(client, company, one(note="before\u0000after"))
    # then it is committed with the NUL replaced, and a normal alert in the same moment is unaffected
    assert resp.status_code == 202
    raw = await services.pool.fetchval("SELECT raw->>'note' FROM alerts WHERE company_id = $1", company.id)
    assert raw == "before\ufffdafter"
