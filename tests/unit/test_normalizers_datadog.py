"""Datadog webhooks with our recommended payload template."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.alerts import Category, PayloadError, Severity, Tool
from domain.normalizers import NormalizeContext, normalize
from tests.unit.payloads import junk_payloads, load, outcome_of

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CTX = NormalizeContext(now=NOW)


def errors_of(payload: Any) -> list[tuple[str, str]]:
    with pytest.raises(PayloadError) as caught:
        normalize(Tool.DATADOG, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def triggered(**changes: Any) -> dict[str, Any]:
    payload = load("datadog_triggered") | changes
    return {key: value for key, value in payload.items() if value is not ...}


def test_triggered_monitor_is_normalised():
    payload = load("datadog_triggered")

    [result] = normalize(Tool.DATADOG, payload, CTX)

    assert result.asset_name == "web-03"
    assert result.signature == "Disk space is low"
    assert (result.severity, result.severity_raw) == (Severity.HIGH, "P2")
    assert result.message == "Disk usage on / is above 95%. @webhook-alertwhisperer"
    assert result.tool is Tool.DATADOG
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)  # $DATE is epoch ms
    assert result.resolved is False
    assert result.fingerprint == "datadog:7413299840235069470"
    assert result.dedup_key == "7413299840235069470"
    assert result.category is Category.STORAGE
    assert result.tags == {"env": "prod", "role": "web", "monitor": ""}
    assert result.raw == payload


def test_recovery_closes_the_same_alert():
    [fired] = normalize(Tool.DATADOG, load("datadog_triggered"), CTX)

    [recovered] = normalize(Tool.DATADOG, load("datadog_recovered"), CTX)

    assert recovered.resolved is True
    assert recovered.fingerprint == fired.fingerprint
    assert recovered.signature == fired.signature == "Disk space is low"
    assert recovered.event_time == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


def test_without_a_cycle_key_the_fingerprint_is_a_hash_of_host_and_title():
    [fired] = normalize(Tool.DATADOG, triggered(alert_cycle_key=...), CTX)
    [recovered] = normalize(Tool.DATADOG, load("datadog_recovered") | {"alert_cycle_key": ""}, CTX)

    assert fired.fingerprint == recovered.fingerprint
    assert fired.fingerprint == hashlib.sha256(b"datadog|web-03|Disk space is low").hexdigest()[:32]


@pytest.mark.parametrize(
    ("priority", "alert_type", "expected", "raw"),
    [
        ("P1", "error", Severity.CRITICAL, "P1"),
        ("P3", "error", Severity.MEDIUM, "P3"),
        ("P4", "error", Severity.LOW, "P4"),
        ("P5", "error", Severity.LOW, "P5"),
        ("", "error", Severity.HIGH, "error"),
        ("$ALERT_PRIORITY", "warning", Severity.MEDIUM, "warning"),  # left unexpanded by Datadog
        (..., "info", Severity.LOW, "info"),
        (..., ..., Severity.MEDIUM, None),
    ],
)
def test_priority_then_alert_type_give_the_severity(
    priority: Any, alert_type: Any, expected: Severity, raw: Any
):
    [result] = normalize(Tool.DATADOG, triggered(alert_priority=priority, alert_type=alert_type), CTX)

    assert (result.severity, result.severity_raw) == (expected, raw)


@pytest.mark.parametrize("transition", ["Triggered", "Re-Triggered", "Warn", "No Data", "Renotify"])
def test_only_recovered_resolves(transition: str):
    [result] = normalize(Tool.DATADOG, triggered(alert_transition=transition), CTX)

    assert result.resolved is False


def test_asset_comes_from_the_scope_when_there_is_no_hostname():
    [from_host_tag] = normalize(Tool.DATADOG, triggered(hostname="", alert_scope="env:prod,host:db-1"), CTX)
    [from_scope] = normalize(Tool.DATADOG, triggered(hostname=..., alert_scope="service:checkout"), CTX)

    assert (from_host_tag.asset_name, from_scope.asset_name) == ("db-1", "service:checkout")


def test_signature_falls_back_to_event_title_then_monitor_id():
    [from_event] = normalize(
        Tool.DATADOG, triggered(alert_title=..., event_title="[P1] [Re-Warn] [Prod] CPU"), CTX
    )
    [from_id] = normalize(Tool.DATADOG, triggered(alert_title="[Triggered]", event_title=...), CTX)

    # only the state prefixes go: the monitor's own brackets stay
    assert (from_event.signature, from_id.signature) == ("[Prod] CPU", "monitor 1234567")


def test_tags_as_a_list_or_object_are_accepted():
    [from_list] = normalize(Tool.DATADOG, triggered(tags=["env:prod", "team:ops:blue"]), CTX)
    [from_object] = normalize(Tool.DATADOG, triggered(tags={"env": "prod"}), CTX)

    assert from_list.tags == {"env": "prod", "team": "ops:blue"}
    assert from_object.tags == {"env": "prod"}


def test_malformed_payload_reports_exact_fields():
    payload = triggered(
        hostname=...,
        alert_scope=...,
        alert_title=...,
        event_title=...,
        alert_id=...,
        event_msg="m" * 4001,
        date="tomorrow",
        tags=",".join(f"k{i}:v" for i in range(51)),
    )

    assert errors_of(payload) == [
        ("hostname", "is required (or alert_scope)"),
        ("alert_title", "is required (or event_title, alert_id)"),
        ("event_msg", "must be at most 4000 characters"),
        ("date", "must be an ISO 8601 timestamp"),
        ("tags", "must have at most 50 entries"),
    ]


def test_wrong_types_are_rejected():
    assert errors_of(triggered(hostname=["web-03"], tags=5, alert_transition={"x": 1})) == [
        ("hostname", "must be a string"),
        ("alert_transition", "must be a string"),
        ("tags", "must be a string of key:value pairs"),
    ]


def default_payload(**changes: Any) -> dict[str, Any]:
    payload = load("datadog_default_triggered") | changes
    return {key: value for key, value in payload.items() if value is not ...}


def test_the_default_payload_of_a_new_webhook_is_read_from_its_title_and_text():
    # given the payload a Datadog webhook sends before anyone edits it
    payload = load("datadog_default_triggered")

    # when it is normalised
    [result] = normalize(Tool.DATADOG, payload, CTX)

    # then the asset is the title scope's host, the signature the title without its state prefixes,
    # the severity its [P2], the message the event text without Datadog's markdown fences and links
    assert result.asset_name == "web-03"
    assert result.signature == "Disk space is low"
    assert (result.severity, result.severity_raw) == (Severity.HIGH, "P2")
    assert result.message == (
        "@webhook-alertwhisperer Disk usage on / is above 95%.\n\n"
        "system.disk.in_use over device:/dev/sda1,host:web-03 was > 0.95 on average during the last 5m.\n\n"
        "The monitor was last triggered at Wed May 01 2024 11:50:00 UTC."
    )
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == hashlib.sha256(b"datadog|web-03|Disk space is low").hexdigest()[:32]
    assert result.category is Category.STORAGE
    assert result.raw == payload


def test_the_default_payloads_recovery_closes_the_same_alert_as_our_templates_trigger():
    # given a trigger through our template and the default payload's recovery of the same monitor
    [fired] = normalize(Tool.DATADOG, triggered(alert_cycle_key=...), CTX)

    # when the recovery is normalised
    [recovered] = normalize(Tool.DATADOG, load("datadog_default_recovered"), CTX)

    # then it resolves, with the same fingerprint
    assert recovered.resolved is True
    assert recovered.fingerprint == fired.fingerprint
    assert recovered.event_time == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("title", "body", "asset"),
    [
        (
            "[Triggered on {service:checkout,env:prod}] Latency high",
            "p99 above 2s",
            "service:checkout,env:prod",
        ),
        ("[Triggered] Heartbeat missing", "no heartbeat from host:batch-7 for 10m", "batch-7"),
        ("[Re-Warn on {host:db-1}] Replication lag", "lag on host:db-2", "db-1"),
        ("[Triggered] Synthetic check failed", "checkout flow failed", "unknown"),
    ],
)
def test_the_default_payloads_asset_is_the_title_scope_then_the_texts_host(title: str, body: str, asset: str):
    [result] = normalize(Tool.DATADOG, default_payload(title=title, body=body), CTX)

    assert result.asset_name == asset
    assert result.resolved is False


def test_the_default_payload_with_alert_type_aggregation_key_and_link_takes_its_severity_from_alert_type():
    # given an older default payload: $ALERT_TYPE, $AGGREG_KEY, $LINK and $ORG_ID beside the title
    payload = default_payload(
        title="[Triggered on {host:web-03}] Disk space is low",
        alert_type="warning",
        aggreg_key="9bd4ac313a4d1e8fae2482df7b77628",
        link="https://app.datadoghq.com/event/event?id=7413299840235069470",
        org_id="123456",
        org=...,
    )

    # when it is normalised
    [result] = normalize(Tool.DATADOG, payload, CTX)

    # then the title has no [P] priority, so $ALERT_TYPE gives the severity
    assert (result.asset_name, result.signature) == ("web-03", "Disk space is low")
    assert (result.severity, result.severity_raw) == (Severity.MEDIUM, "warning")
    assert result.raw == payload


def test_a_default_payload_without_a_title_is_refused_on_the_title():
    assert errors_of(default_payload(title=...)) == [("title", "is required")]
    assert errors_of(default_payload(title="[Triggered on {host:a}]")) == [
        ("title", "must name the monitor after its [state] prefixes")
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate(
        (
            load("datadog_triggered"),
            load("datadog_recovered"),
            load("datadog_default_triggered"),
            load("datadog_default_recovered"),
        )
    ):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.DATADOG, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
