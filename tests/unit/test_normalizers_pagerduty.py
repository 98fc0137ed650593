"""PagerDuty Events API v2 events."""

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
        normalize(Tool.PAGERDUTY, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def trigger(**changes: Any) -> dict[str, Any]:
    event = load("pagerduty_trigger")
    event["payload"] = {key: value for key, value in (event["payload"] | changes).items() if value is not ...}
    return event


def test_trigger_is_normalised():
    event = load("pagerduty_trigger")

    [result] = normalize(Tool.PAGERDUTY, event, CTX)

    assert result.asset_name == "prod-datapipe03.example.com"
    assert result.signature == "disk"
    assert (result.severity, result.severity_raw) == (Severity.CRITICAL, "critical")
    assert result.message == "DISK at 99% on machine prod-datapipe03.example.com"
    assert result.tool is Tool.PAGERDUTY
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == "pagerduty:samplekeyhere"
    assert result.dedup_key == "samplekeyhere"
    assert result.category is Category.STORAGE
    assert result.tags == {
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "client": "Sample Monitoring Service",
    }
    assert result.raw == event


def test_resolve_without_payload_closes_the_alert_by_dedup_key():
    [fired] = normalize(Tool.PAGERDUTY, load("pagerduty_trigger"), CTX)

    [resolved] = normalize(Tool.PAGERDUTY, load("pagerduty_resolve"), CTX)

    assert resolved.resolved is True
    assert resolved.fingerprint == fired.fingerprint == "pagerduty:samplekeyhere"
    assert (resolved.asset_name, resolved.signature) == ("unknown", "unknown")
    assert (resolved.severity, resolved.severity_raw) == (Severity.LOW, None)
    assert resolved.message == "Resolved by a PagerDuty resolve event"
    assert resolved.event_time == NOW


def test_resolve_with_a_payload_uses_it():
    event = load("pagerduty_trigger") | {"event_action": "resolve"}

    [result] = normalize(Tool.PAGERDUTY, event, CTX)

    assert (result.asset_name, result.signature, result.resolved) == (
        "prod-datapipe03.example.com",
        "disk",
        True,
    )


def test_acknowledge_gives_no_alert():
    assert normalize(Tool.PAGERDUTY, load("pagerduty_acknowledge"), CTX) == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("warning", Severity.MEDIUM),
        ("info", Severity.LOW),
    ],
)
def test_pagerduty_severities_map_onto_ours(severity: str, expected: Severity):
    [result] = normalize(Tool.PAGERDUTY, trigger(severity=severity), CTX)

    assert (result.severity, result.severity_raw) == (expected, severity)


def test_signature_falls_back_to_component_then_summary():
    [by_component] = normalize(Tool.PAGERDUTY, trigger(**{"class": ...}), CTX)
    [by_summary] = normalize(
        Tool.PAGERDUTY, trigger(**{"class": ..., "component": ..., "summary": "s" * 300}), CTX
    )

    assert by_component.signature == "mysql"
    assert by_summary.signature == "s" * 255
    assert by_summary.message == "s" * 300


def test_trigger_without_dedup_key_gets_one_from_source_and_signature_that_a_resolve_can_use():
    # given a trigger without a dedup_key
    event = trigger()
    del event["dedup_key"]

    # when it is normalised, and a resolve naming the key it got
    [result] = normalize(Tool.PAGERDUTY, event, CTX)
    [resolved] = normalize(Tool.PAGERDUTY, {"event_action": "resolve", "dedup_key": result.dedup_key}, CTX)

    # then the key is a hash of source and signature (as PagerDuty answers a key it made up), and the
    # resolve sent with it closes the same alert
    assert result.dedup_key == hashlib.sha256(b"pagerduty|prod-datapipe03.example.com|disk").hexdigest()[:32]
    assert result.fingerprint == f"pagerduty:{result.dedup_key}"
    assert resolved.fingerprint == result.fingerprint


def test_malformed_trigger_reports_exact_fields():
    event = trigger(summary=..., source=None, severity="sev1", timestamp="noon")

    assert errors_of(event) == [
        ("payload.summary", "is required"),
        ("payload.source", "is required"),
        ("payload.severity", "must be one of critical, high, medium, low (or a synonym)"),
        ("payload.timestamp", "must be an ISO 8601 timestamp"),
    ]


def test_trigger_needs_a_payload_and_resolve_a_dedup_key():
    assert errors_of({"event_action": "trigger", "routing_key": "x"}) == [("payload", "is required")]
    assert errors_of({"event_action": "resolve", "routing_key": "x"}) == [("dedup_key", "is required")]
    assert errors_of({"event_action": "escalate"}) == [
        ("event_action", "must be one of trigger, acknowledge, resolve")
    ]
    assert errors_of({"payload": {}}) == [("event_action", "is required")]
    assert errors_of(trigger() | {"dedup_key": "k" * 256}) == [
        ("dedup_key", "must be at most 255 characters")
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate((load("pagerduty_trigger"), load("pagerduty_resolve"))):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.PAGERDUTY, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors


def test_class_and_component_are_signatures_so_they_share_its_limit():
    assert errors_of(trigger(component="c" * 256, **{"class": "k" * 256})) == [
        ("payload.component", "must be at most 255 characters"),
        ("payload.class", "must be at most 255 characters"),
    ]
