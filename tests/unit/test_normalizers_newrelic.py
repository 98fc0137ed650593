"""New Relic workflow webhooks."""

from __future__ import annotations

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
        normalize(Tool.NEWRELIC, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def test_activated_issue_is_normalised():
    payload = load("newrelic_activated")

    [result] = normalize(Tool.NEWRELIC, payload, CTX)

    assert result.asset_name == "checkout-api"
    assert result.asset_ref == "MTIzNDU2N3xBUE18QVBQTElDQVRJT058OTg3NjU0MzI"
    assert result.signature == "Error rate above 5%"
    assert (result.severity, result.severity_raw) == (Severity.CRITICAL, "CRITICAL")
    assert result.message == "checkout-api: Error rate above 5% for at least 5 minutes"
    assert result.tool is Tool.NEWRELIC
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == "newrelic:9f3c1a44-51a9-4e0e-9a4b-7c1f00d0e2a1"
    assert result.dedup_key == "9f3c1a44-51a9-4e0e-9a4b-7c1f00d0e2a1"
    assert result.category is Category.APPLICATION
    assert result.tags == {"policy": "Checkout golden signals"}
    assert result.raw == payload


def test_closed_issue_resolves_it_at_the_close_time():
    [fired] = normalize(Tool.NEWRELIC, load("newrelic_activated"), CTX)

    [closed] = normalize(Tool.NEWRELIC, load("newrelic_closed"), CTX)

    assert closed.resolved is True
    assert closed.fingerprint == fired.fingerprint
    assert closed.event_time == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


def test_default_template_keys_are_accepted():
    [result] = normalize(Tool.NEWRELIC, load("newrelic_default_template"), CTX)

    assert result.asset_name == "db-primary"
    assert result.signature == "Host not reporting"
    assert (result.severity, result.severity_raw) == (Severity.HIGH, "HIGH")
    assert result.fingerprint == "newrelic:5b1a6c0e-2f0d-4b43-9c39-2cf1d0a6e9b7"
    assert result.tags == {"policy": "Infrastructure"}


@pytest.mark.parametrize(
    ("priority", "expected"), [("MEDIUM", Severity.MEDIUM), ("LOW", Severity.LOW), (None, Severity.MEDIUM)]
)
def test_priority_maps_onto_our_scale(priority: str | None, expected: Severity):
    [result] = normalize(Tool.NEWRELIC, load("newrelic_activated") | {"priority": priority}, CTX)

    assert (result.severity, result.severity_raw) == (expected, priority)


def test_created_is_open_and_acknowledged_changes_nothing():
    [created] = normalize(Tool.NEWRELIC, load("newrelic_activated") | {"state": "CREATED"}, CTX)

    assert created.resolved is False
    assert normalize(Tool.NEWRELIC, load("newrelic_activated") | {"state": "ACKNOWLEDGED"}, CTX) == []


def test_signature_falls_back_to_the_title():
    payload = load("newrelic_activated")
    del payload["accumulations"]

    [result] = normalize(Tool.NEWRELIC, payload, CTX)

    assert result.signature == "checkout-api: Error rate above 5% for at least 5 minutes"
    assert result.tags == {}


def test_malformed_issue_reports_exact_fields():
    payload = load("newrelic_activated") | {
        "issueId": None,
        "entitiesData": {"names": [7]},
        "priority": "SEV1",
        "createdAt": "today",
        "title": None,
        "accumulations": {"conditionName": []},
    }

    assert errors_of(payload) == [
        ("issueId", "is required (or id)"),
        ("entitiesData.names.0", "must be a string"),
        ("accumulations.conditionName", "is required (or alertConditionNames, title)"),
        ("priority", "must be one of critical, high, medium, low (or a synonym)"),
        ("createdAt", "must be an ISO 8601 timestamp"),
    ]


def test_state_is_required_and_checked():
    assert errors_of(load("newrelic_activated") | {"state": "OPEN"}) == [
        ("state", "must be one of CREATED, ACTIVATED, ACKNOWLEDGED, CLOSED")
    ]
    assert errors_of({"issueId": "x"}) == [("state", "is required")]
    assert errors_of(load("newrelic_activated") | {"entitiesData": {}}) == [
        ("entitiesData.names", "is required (or impactedEntities)")
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, name in enumerate(("newrelic_activated", "newrelic_closed", "newrelic_default_template")):
        for payload in junk_payloads(seed=seed, base=load(name)):
            outcome = outcome_of(Tool.NEWRELIC, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
