"""Grafana alerting webhook contact point."""

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
        normalize(Tool.GRAFANA, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def test_firing_alert_is_normalised():
    payload = load("grafana_firing")

    [result] = normalize(Tool.GRAFANA, payload, CTX)

    assert result.asset_name == "app-07"
    assert result.signature == "High memory usage"
    assert (result.severity, result.severity_raw) == (Severity.MEDIUM, None)
    assert result.message == "This alert was triggered for zone us-1"
    assert result.tool is Tool.GRAFANA
    assert result.event_time == datetime(2024, 5, 1, 11, 51, 3, 157076, tzinfo=UTC)  # +02:00 converted
    assert result.resolved is False
    assert result.fingerprint == "grafana:c6eadffa33fcdf37"
    assert result.category is Category.SERVER
    assert result.tags == {"alertname": "High memory usage", "team": "blue", "zone": "us-1", "host": "app-07"}
    assert result.raw["orgId"] == 1
    assert result.raw["title"] == "[FIRING:1] High memory usage (blue us-1)"
    assert result.raw["alerts"][0]["values"] == {"B": 44.23943737541908, "C": 1}


def test_resolved_alert_has_the_same_fingerprint():
    [firing] = normalize(Tool.GRAFANA, load("grafana_firing"), CTX)

    [resolved] = normalize(Tool.GRAFANA, load("grafana_resolved"), CTX)

    assert resolved.resolved is True
    assert resolved.fingerprint == firing.fingerprint == "grafana:c6eadffa33fcdf37"
    assert resolved.event_time == datetime(2024, 5, 1, 11, 56, 3, tzinfo=UTC)


def test_severity_label_is_mapped_when_present():
    payload = load("grafana_firing")
    payload["alerts"][0]["labels"]["severity"] = "P2"

    [result] = normalize(Tool.GRAFANA, payload, CTX)

    assert (result.severity, result.severity_raw) == (Severity.HIGH, "P2")


def test_title_names_the_rule_when_alertname_is_missing():
    payload = load("grafana_firing")
    del payload["alerts"][0]["labels"]["alertname"]

    [result] = normalize(Tool.GRAFANA, payload, CTX)

    assert result.signature == "High memory usage (blue us-1)"


def test_a_long_title_is_cut_to_the_signature_limit():
    payload = load("grafana_firing")
    del payload["alerts"][0]["labels"]["alertname"]
    payload["title"] = "[FIRING:1] " + "t" * 300

    [result] = normalize(Tool.GRAFANA, payload, CTX)

    assert result.signature == "t" * 255


def test_legacy_state_stands_in_for_a_missing_status():
    payload = load("grafana_resolved")
    del payload["status"]
    del payload["alerts"][0]["status"]

    [result] = normalize(Tool.GRAFANA, payload, CTX)

    assert result.resolved is True


def test_alert_without_an_asset_label_is_rejected():
    payload = load("grafana_firing")
    payload["alerts"][0]["labels"] = {"alertname": "Query returned rows"}

    assert errors_of(payload) == [
        ("alerts.0.labels.instance", "is required (or host, pod, job, hostname, service)")
    ]


def test_non_text_title_is_rejected():
    payload = load("grafana_firing")
    payload["title"] = ["FIRING"]

    assert errors_of(payload) == [("title", "must be a string")]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate((load("grafana_firing"), load("grafana_resolved"))):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.GRAFANA, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
