"""Refused webhooks are logged (never with a secret) and every answer to a company's key is in its
recent deliveries (`webhookDeliveries`), so a client can see why its tool is failing."""

from __future__ import annotations

import logging
import time

import orjson

from db import delivery_log
from domain.rbac import Role
from domain.signing import sign
from graph.logs import JsonFormatter

DELIVERIES = """
query($c: ID, $i: MonitoringTool, $o: DeliveryOutcome, $first: Int, $after: String) {
  webhookDeliveries(companyId: $c, integration: $i, outcome: $o, first: $first, after: $after) {
    nodes { companyId integration outcome status reason detail alertCount requestId at }
    pageInfo { hasNextPage endCursor }
  }
}"""
ALERT = {"asset_name": "web-01", "signature": "high_cpu", "severity": "high", "message": "CPU 97%"}


async def send(client, key, payload, *, url="/api/webhooks/alerts", headers=None):
    h = {"content-type": "application/json", "x-api-key": key} | (headers or {})
    return await client.post(url, content=orjson.dumps(payload), headers=h)


async def written(services) -> None:
    """Wait for the delivery records queued so far (they are written after the answer)."""
    await services.ingest_service().deliveries.flush()


async def nodes(gql, token, **variables):
    body = await gql(DELIVERIES, {"first": 100} | variables, token=token)
    assert "errors" not in body, body
    return body["data"]["webhookDeliveries"]["nodes"]


async def test_each_refusal_is_one_log_line_with_reason_and_request_id_and_no_secret(client, factory, caplog):
    # given a company that requires signed webhooks
    company = await factory.company()
    async with factory.uow() as uow:
        await uow.companies.set_webhook_security(company.id, True, False)
    body = orjson.dumps(ALERT)
    ts = int(time.time())
    wrong = sign(b"not-the-secret", ts, body)
    caplog.set_level(logging.INFO, logger="graph.webhooks")

    # when one request has a wrong signature, one an unknown key, one an invalid payload
    r1 = await client.post(
        "/api/webhooks/alerts",
        content=body,
        headers={
            "content-type": "application/json",
            "x-api-key": company.api_key,
            "x-timestamp": str(ts),
            "x-signature": wrong,
            "x-request-id": "req-signature-1",
        },
    )
    r2 = await send(client, "aw_unknown_key_0123456789", ALERT, headers={"x-request-id": "req-unknown-1"})
    # then each refusal is a log line naming status, reason, integration, company and request id
    assert (r1.status_code, r2.status_code) == (403, 401)
    refused = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    lines = [orjson.loads(JsonFormatter().format(r)) for r in refused]
    assert len(lines) == 2, lines
    signature_line = next(line for line in lines if line["status"] == 403)
    assert signature_line["reason"] == "signature_rejected"
    assert signature_line["integration"] == "generic"
    assert signature_line["company_id"] == str(company.id)
    unknown_line = next(line for line in lines if line["status"] == 401)
    assert (unknown_line["reason"], unknown_line["company_id"]) == ("invalid_api_key", None)
    text = "\n".join(JsonFormatter().format(r) for r in refused)
    for secret in (company.api_key, company.hmac_secret, wrong, "aw_unknown_key_0123456789", "CPU 97%"):
        assert secret not in text


async def test_refusal_log_lines_carry_the_request_id(client, factory, caplog):
    # given a company
    company = await factory.company()
    caplog.set_level(logging.INFO, logger="graph.webhooks")
    records: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(orjson.loads(JsonFormatter().format(record)))

    handler = Capture()
    logging.getLogger("graph.webhooks").addHandler(handler)
    try:
        # when it sends an invalid payload with its own request id
        resp = await send(
            client, company.api_key, {"severity": "high"}, headers={"x-request-id": "req-422-a"}
        )
    finally:
        logging.getLogger("graph.webhooks").removeHandler(handler)
    # then the log line says so under that request id, naming the failing fields only
    assert resp.status_code == 422
    [line] = [r for r in records if r["msg"] == "webhook refused"]
    assert line["request_id"] == "req-422-a"
    assert (line["status"], line["reason"]) == (422, "invalid_payload")
    assert "asset_name" in line["fields"]


async def test_a_company_admin_sees_accepted_and_refused_deliveries_with_reasons(
    client, factory, services, gql
):
    # given a company, its admin and another company
    company = await factory.company(rate_limit_burst=2)
    other = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when its tools send an accepted alert, an invalid payload, too big a batch, a PagerDuty ack,
    # and the other company sends one alert
    assert (await send(client, company.api_key, ALERT, headers={"x-request-id": "ok-1"})).status_code == 202
    assert (await send(client, company.api_key, {"severity": "high"})).status_code == 422
    assert (await send(client, company.api_key, {"alerts": [ALERT] * 3})).status_code == 413
    ack = {"event_action": "acknowledge", "dedup_key": "k1", "payload": {"summary": "s", "source": "db-1"}}
    ignored = await send(client, company.api_key, ack, url="/api/webhooks/pagerduty")
    assert ignored.status_code == 200
    assert (await send(client, other.api_key, ALERT)).status_code == 202
    await written(services)

    # then its admin sees its four deliveries, newest first, with status and reason
    rows = await nodes(gql, admin.token)
    assert [(r["outcome"], r["status"], r["reason"], r["integration"]) for r in rows] == [
        ("IGNORED", 200, "ignored", "PAGERDUTY"),
        ("REFUSED", 413, "batch_too_large", "GENERIC"),
        ("REFUSED", 422, "invalid_payload", "GENERIC"),
        ("ACCEPTED", 202, "accepted", "GENERIC"),
    ]
    assert {r["companyId"] for r in rows} == {company.gid}
    assert rows[3]["alertCount"] == 1
    assert rows[3]["requestId"] == "ok-1"
    assert "asset_name" in rows[2]["detail"]
    # and filters narrow them
    refused = await nodes(gql, admin.token, o="REFUSED", i="GENERIC")
    assert [r["status"] for r in refused] == [413, 422]
    assert [r["reason"] for r in await nodes(gql, admin.token, i="PAGERDUTY")] == ["ignored"]
    # and another company's deliveries are as if they did not exist
    assert await nodes(gql, admin.token, c=other.gid) == []


async def test_msp_admins_read_any_company_technicians_are_refused_and_pages_are_keyset(
    client, factory, services, gql
):
    # given a company with three refused deliveries (wrong signature)
    company = await factory.company()
    async with factory.uow() as uow:
        await uow.companies.set_webhook_security(company.id, True, False)
    for _ in range(3):
        assert (await send(client, company.api_key, ALERT)).status_code == 403
    await written(services)
    msp = await factory.user(Role.MSP_ADMIN)
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when an MSP admin pages through them two at a time
    first = await gql(DELIVERIES, {"c": company.gid, "first": 2}, token=msp.token)
    page = first["data"]["webhookDeliveries"]
    second = await gql(
        DELIVERIES, {"c": company.gid, "first": 2, "after": page["pageInfo"]["endCursor"]}, token=msp.token
    )
    # then the pages hold all three, once each
    rest = second["data"]["webhookDeliveries"]
    assert page["pageInfo"]["hasNextPage"]
    assert not rest["pageInfo"]["hasNextPage"]
    assert [r["reason"] for r in page["nodes"] + rest["nodes"]] == ["signature_rejected"] * 3
    assert "X-Timestamp header is required" in page["nodes"][0]["detail"]
    # and a technician is told it may not read them
    denied = await gql(DELIVERIES, {"c": company.gid}, token=tech.token)
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_the_sweeper_keeps_the_newest_records_per_company_and_integration(factory, services):
    # given one company with five records for one integration and two for another, and an old one
    company = await factory.company()
    rows = [("generic", f"{i} minutes") for i in range(5)] + [("zabbix", f"{i} minutes") for i in range(2)]
    rows.append(("nagios", "30 days"))
    for integration, age in rows:
        await services.pool.execute(
            "INSERT INTO webhook_delivery_log (company_id, integration, outcome, status, reason, at) "
            "VALUES ($1, $2, 'refused', 403, $3, now() - $4::text::interval)",
            company.id,
            integration,
            age,
            age,
        )
    # when the prune keeps three per integration
    pruned = await delivery_log.prune(services.pool, keep=3, days=7)
    # then the two oldest generic ones and the 30-day-old one went, the newest stayed
    left = await services.pool.fetch(
        "SELECT integration, reason FROM webhook_delivery_log WHERE company_id = $1 ORDER BY integration, at DESC",
        company.id,
    )
    assert pruned >= 3
    assert [(r["integration"], r["reason"]) for r in left] == [
        ("generic", "0 minutes"),
        ("generic", "1 minutes"),
        ("generic", "2 minutes"),
        ("zabbix", "0 minutes"),
        ("zabbix", "1 minutes"),
    ]
