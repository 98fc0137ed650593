"""Every monitoring tool end to end: its documented payload in, alerts stored, its resolve closes the incident."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from adapters.sns import SnsVerifier
from db.correlation import CorrelationWorker
from domain.alerts import Tool
from domain.normalizers import NormalizeContext, normalize
from graph.webhooks.sns import SnsGateway
from tests.unit.payloads import load
from tests.unit.test_sns_adapter import CertServer, signed

PAIRS = [
    ("alertmanager", "alertmanager_firing", "alertmanager_resolved"),
    ("grafana", "grafana_firing", "grafana_resolved"),
    ("datadog", "datadog_triggered", "datadog_recovered"),
    ("datadog", "datadog_default_triggered", "datadog_default_recovered"),  # a new webhook's payload
    ("zabbix", "zabbix_problem", "zabbix_recovery"),
    ("pagerduty", "pagerduty_trigger", "pagerduty_resolve"),
    ("nagios", "nagios_service_problem", "nagios_service_recovery"),
    ("nagios", "nagios_host_problem", "nagios_host_recovery"),
    ("icinga", "icinga_service_problem", "icinga_service_recovery"),
    ("newrelic", "newrelic_activated", "newrelic_closed"),
]


async def post(client, company, tool: str, payload) -> object:
    return await client.post(
        f"/api/webhooks/{tool}",
        content=orjson.dumps(payload),
        headers={"content-type": "application/json", "x-api-key": company.api_key},
    )


async def drain(services) -> None:
    worker = CorrelationWorker(services.pool, batch_size=500)
    while (await worker.run_once()).alerts:
        pass


async def incident_statuses(services, company) -> list[str]:
    rows = await services.pool.fetch("SELECT status FROM incidents WHERE company_id = $1", company.id)
    return [r["status"] for r in rows]


@pytest.mark.parametrize(("tool", "firing", "resolved"), PAIRS)
async def test_a_tools_alert_opens_an_incident_and_its_resolve_closes_it(
    client, factory, services, tool, firing, resolved
):
    # given a company and the tool's documented firing payload
    company = await factory.company()
    first = await post(client, company, tool, load(firing))
    assert first.status_code == 202, first.text
    await drain(services)
    opened = await incident_statuses(services, company)
    assert opened
    assert set(opened) == {"NEW"}
    stored = await services.pool.fetch("SELECT tool, raw FROM alerts WHERE company_id = $1", company.id)
    assert {r["tool"] for r in stored} == {tool}
    assert all(orjson.loads(r["raw"]) for r in stored)  # the tool's own payload is kept

    # when the tool's resolve message arrives
    second = await post(client, company, tool, load(resolved))
    assert second.status_code == 202, second.text
    await drain(services)

    # then the incidents it names are resolved, and only those
    resolved_keys = {
        (a.asset_name.lower(), a.signature.lower())
        for a in normalize(Tool(tool), load(resolved), NormalizeContext(now=datetime.now(UTC)))
    }
    expected = sorted(["RESOLVED"] * len(resolved_keys) + ["NEW"] * (len(opened) - len(resolved_keys)))
    assert sorted(await incident_statuses(services, company)) == expected


IGNORED = {"status": "ignored", "alert_ids": [], "reason": "no alert in this notification"}


@pytest.mark.parametrize(
    ("tool", "sample", "answer"),
    [
        (
            "pagerduty",
            "pagerduty_acknowledge",
            IGNORED | {"message": "Event processed", "dedup_key": "samplekeyhere"},
        ),
        ("nagios", "nagios_acknowledgement", IGNORED),
        ("icinga", "icinga_downtime_start", IGNORED),
    ],
)
async def test_messages_that_are_not_alerts_are_acknowledged_and_store_nothing(
    client, factory, services, tool, sample, answer
):
    company = await factory.company()
    resp = await post(client, company, tool, load(sample))
    assert resp.status_code == 200
    assert resp.json() == answer
    assert await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id) == 0


async def test_pagerduty_answers_its_dedup_key_and_a_trigger_without_one_can_be_resolved_with_it(
    client, factory, services
):
    # given a company, a PagerDuty trigger with a dedup_key and one without
    company = await factory.company()
    keyed = load("pagerduty_trigger")
    unkeyed = {k: v for k, v in keyed.items() if k != "dedup_key"} | {
        "payload": keyed["payload"] | {"source": "db-09", "class": "cpu"}
    }

    # when both are sent
    first = await post(client, company, "pagerduty", keyed)
    second = await post(client, company, "pagerduty", unkeyed)

    # then each answer carries PagerDuty's message and the event's dedup_key, made up when none was sent
    assert first.status_code == second.status_code == 202
    assert first.json() == {
        "status": "received",
        "alert_ids": first.json()["alert_ids"],
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    made_up = second.json()["dedup_key"]
    assert second.json()["message"] == "Event processed"
    assert made_up == hashlib.sha256(b"pagerduty|db-09|cpu").hexdigest()[:32]
    await drain(services)
    assert sorted(await incident_statuses(services, company)) == ["NEW", "NEW"]

    # when the sender resolves with the key it was answered
    resolve = await post(client, company, "pagerduty", {"event_action": "resolve", "dedup_key": made_up})
    await drain(services)

    # then that alert's incident is resolved, and only that one
    assert (resolve.status_code, resolve.json()["dedup_key"]) == (202, made_up)
    assert sorted(await incident_statuses(services, company)) == ["NEW", "RESOLVED"]


async def test_a_generic_alert_sent_again_with_severity_normal_resolves_its_incident(
    client, factory, services
):
    # given a generic alert that opened an incident
    company = await factory.company()
    problem = {
        "asset_name": "web-01",
        "signature": "http_check",
        "severity": "critical",
        "message": "HTTP 500",
    }
    assert (await post(client, company, "alerts", problem)).status_code == 202
    await drain(services)
    assert await incident_statuses(services, company) == ["NEW"]

    # when the same check reports severity "normal" (as Alerta clears an alert)
    cleared = await post(client, company, "alerts", problem | {"severity": "normal", "message": "HTTP 200"})
    await drain(services)

    # then it is accepted as a resolve and the incident is resolved
    assert cleared.status_code == 202
    statuses = await services.pool.fetch(
        "SELECT status, severity_raw FROM alerts WHERE company_id = $1 ORDER BY id", company.id
    )
    assert [(r["status"], r["severity_raw"]) for r in statuses] == [
        ("firing", "critical"),
        ("resolved", "normal"),
    ]
    assert await incident_statuses(services, company) == ["RESOLVED"]


async def test_generic_and_splunk_payloads_are_stored(client, factory, services):
    company = await factory.company()
    batch = await post(client, company, "alerts", load("generic_batch"))
    splunk = await post(client, company, "splunk", load("splunk_alert"))
    assert batch.status_code == 202
    assert splunk.status_code == 202
    tools = await services.pool.fetch("SELECT DISTINCT tool FROM alerts WHERE company_id = $1", company.id)
    assert "splunk" in {r["tool"] for r in tools}


@pytest.fixture
def sns(services):
    """SNS with a throwaway signing certificate in place of AWS's (restored afterwards)."""
    ingest = services.ingest_service()
    original = ingest.sns
    visited: list[str] = []

    async def http_get(url: str) -> bytes:
        visited.append(url)
        return b"<ConfirmSubscriptionResponse/>"

    ingest.sns = SnsGateway(verify=True, verifier=SnsVerifier(fetch_cert=CertServer()), http_get=http_get)
    yield visited
    ingest.sns = original


def sns_post(client, company, envelope):
    return client.post(
        "/api/webhooks/cloudwatch",
        content=orjson.dumps(envelope),
        headers={"content-type": "text/plain; charset=UTF-8", "x-api-key": company.api_key},
    )


async def test_cloudwatch_through_sns_alarm_then_ok(client, factory, services, sns):
    company = await factory.company()
    alarm = signed(load("cloudwatch_alarm"))
    ok = signed(load("cloudwatch_ok"))
    first = await sns_post(client, company, alarm)
    again = await sns_post(client, company, alarm)  # SNS retries carry the same MessageId
    assert first.status_code == 202
    assert again.status_code == 200
    await drain(services)
    assert (await sns_post(client, company, ok)).status_code == 202
    await drain(services)
    assert await incident_statuses(services, company) == ["RESOLVED"]


async def test_sns_subscription_is_confirmed_and_stores_nothing(client, factory, services, sns):
    company = await factory.company()
    envelope = signed(load("cloudwatch_subscription_confirmation"))
    resp = await sns_post(client, company, envelope)
    assert resp.status_code == 200
    assert resp.json()["status"] == "subscription_confirmed"
    assert sns == [envelope["SubscribeURL"]]
    assert await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id) == 0


async def test_a_forged_sns_message_is_403_and_stores_nothing(client, factory, services, sns):
    company = await factory.company()
    forged = signed(load("cloudwatch_alarm")) | {"Message": orjson.dumps({"AlarmName": "x"}).decode()}
    resp = await sns_post(client, company, forged)
    assert resp.status_code == 403
    assert resp.json()["error"].startswith("SNS signature verification failed")
    assert await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id) == 0


def test_every_tool_has_a_test_here():
    covered = {t for t, _, _ in PAIRS} | {"splunk", "cloudwatch", "generic"}
    assert covered == {t.value for t in Tool}
