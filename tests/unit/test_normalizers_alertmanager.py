"""Alertmanager webhook payload v4."""

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
        normalize(Tool.ALERTMANAGER, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def batch_with(alert: dict[str, Any]) -> dict[str, Any]:
    payload = load("alertmanager_firing")
    payload["alerts"] = [alert]
    return payload


def first_alert() -> dict[str, Any]:
    alert: dict[str, Any] = load("alertmanager_firing")["alerts"][0]
    return alert


def test_every_alert_of_a_batch_is_normalised():
    # given a batch of two firing alerts
    payload = load("alertmanager_firing")

    # when
    first, second = normalize(Tool.ALERTMANAGER, payload, CTX)

    # then
    assert first.asset_name == "web-01"
    assert first.signature == "NodeFilesystemAlmostOutOfSpace"
    assert (first.severity, first.severity_raw) == (Severity.MEDIUM, "warning")
    assert first.message == "Filesystem on /dev/sda1 at web-01:9100 has only 4.2% available space left."
    assert first.tool is Tool.ALERTMANAGER
    assert first.event_time == datetime(2024, 5, 1, 11, 50, 0, 123456, tzinfo=UTC)
    assert first.resolved is False
    assert first.fingerprint == "alertmanager:b3a2c1d0e9f87654"
    assert first.dedup_key == "b3a2c1d0e9f87654"
    assert first.category is Category.STORAGE
    assert first.tags == {
        "alertname": "NodeFilesystemAlmostOutOfSpace",
        "device": "/dev/sda1",
        "instance": "web-01:9100",
        "job": "node",
        "mountpoint": "/",
        "severity": "warning",
    }
    # the second has no summary, so its description is the message
    assert second.asset_name == "web-02"
    assert (second.severity, second.severity_raw) == (Severity.CRITICAL, "critical")
    assert second.message == "Filesystem on /dev/sdb1 at web-02:9100 has only 1.1% available space left."
    assert second.fingerprint == "alertmanager:0123456789abcdef"


def test_raw_is_the_batch_context_with_only_that_alert():
    payload = load("alertmanager_firing")

    first, second = normalize(Tool.ALERTMANAGER, payload, CTX)

    assert first.raw["receiver"] == "alertwhisperer"
    assert first.raw["groupKey"] == '{}:{alertname="NodeFilesystemAlmostOutOfSpace"}'
    assert first.raw["externalURL"] == "http://alertmanager.acme.local:9093"
    assert first.raw["alerts"] == [payload["alerts"][0]]
    assert second.raw["alerts"] == [payload["alerts"][1]]
    # and it replays to the same alert
    assert normalize(Tool.ALERTMANAGER, first.raw, CTX) == [first]


def test_resolved_alert_matches_its_firing_one_and_uses_ends_at():
    [firing, _] = normalize(Tool.ALERTMANAGER, load("alertmanager_firing"), CTX)

    [resolved] = normalize(Tool.ALERTMANAGER, load("alertmanager_resolved"), CTX)

    assert resolved.resolved is True
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.event_time == datetime(2024, 5, 1, 11, 58, 30, tzinfo=UTC)


def test_alert_status_wins_over_batch_status_and_falls_back_to_it():
    payload = load("alertmanager_firing")
    payload["alerts"][0]["status"] = "resolved"
    del payload["alerts"][1]["status"]

    first, second = normalize(Tool.ALERTMANAGER, payload, CTX)

    assert (first.resolved, second.resolved) == (True, False)


@pytest.mark.parametrize(
    ("label", "asset"),
    [("host", "db-7"), ("pod", "api-5d9f"), ("job", "node"), ("hostname", "db-7"), ("service", "api")],
)
def test_asset_falls_back_through_the_labels(label: str, asset: str):
    alert = first_alert()
    alert["labels"] = {"alertname": "Down", label: asset}

    [result] = normalize(Tool.ALERTMANAGER, batch_with(alert), CTX)

    assert result.asset_name == asset


@pytest.mark.parametrize(
    ("severity", "expected", "raw"),
    [
        ("critical", Severity.CRITICAL, "critical"),
        ("page", Severity.MEDIUM, "page"),
        (None, Severity.MEDIUM, None),
    ],
)
def test_severity_label_is_a_convention_so_unknown_or_missing_is_medium(
    severity: str | None, expected: Severity, raw: str | None
):
    alert = first_alert()
    alert["labels"] = {"alertname": "Down", "instance": "db-7"} | ({"severity": severity} if severity else {})

    [result] = normalize(Tool.ALERTMANAGER, batch_with(alert), CTX)

    assert (result.severity, result.severity_raw) == (expected, raw)


def test_without_annotations_or_fingerprint_the_alertname_and_a_hash_stand_in():
    alert = {"status": "firing", "labels": {"alertname": "Watchdog", "instance": "prom-1"}}

    [result] = normalize(Tool.ALERTMANAGER, batch_with(alert), CTX)

    assert result.message == "Watchdog"
    assert result.fingerprint == hashlib.sha256(b"alertmanager|prom-1|Watchdog").hexdigest()[:32]
    assert result.dedup_key is None
    assert result.event_time == NOW


def test_malformed_alerts_report_exact_paths():
    payload = load("alertmanager_firing")
    payload["alerts"] = [
        {"status": "pending", "labels": {"severity": "critical"}, "startsAt": "soon"},
        {"labels": "alertname=x"},
        7,
        {"labels": {"alertname": "x" * 256, "instance": "db-1"}, "annotations": {"summary": "s" * 4001}},
    ]

    assert errors_of(payload) == [
        ("alerts.0.labels.instance", "is required (or host, pod, job, hostname, service)"),
        ("alerts.0.labels.alertname", "is required"),
        ("alerts.0.status", "must be one of firing, resolved"),
        ("alerts.0.startsAt", "must be an ISO 8601 timestamp"),
        ("alerts.1.labels", "must be an object"),
        ("alerts.2", "must be an object"),
        ("alerts.3.labels.alertname", "must be at most 255 characters"),
        ("alerts.3.annotations.summary", "must be at most 4000 characters"),
    ]


def test_batch_shape_errors():
    assert errors_of({"status": "firing"}) == [("alerts", "is required")]
    assert errors_of({"alerts": [], "status": "firing"}) == [("alerts", "must contain at least one alert")]
    assert errors_of({"alerts": [first_alert()] * 1001}) == [("alerts", "must contain at most 1000 alerts")]
    assert errors_of({"alerts": [first_alert()], "status": "muted"}) == [
        ("status", "must be one of firing, resolved")
    ]
    assert errors_of("[]") == [("body", "must be a JSON object")]


def test_labels_over_the_tag_limit_are_rejected():
    alert = first_alert()
    alert["labels"] |= {f"l{i}": "v" for i in range(50)}

    assert errors_of(batch_with(alert)) == [("alerts.0.labels", "must have at most 50 entries")]


def test_old_starts_at_is_clamped():
    alert = first_alert()
    alert["startsAt"] = "2024-01-01T00:00:00Z"

    [result] = normalize(Tool.ALERTMANAGER, batch_with(alert), CTX)

    assert result.event_time == datetime(2024, 4, 24, 12, 0, tzinfo=UTC)


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate((load("alertmanager_firing"), load("alertmanager_resolved"))):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.ALERTMANAGER, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors


@pytest.mark.parametrize(
    ("instance", "asset"),
    [
        ("web-01:9100", "web-01"),
        ("10.0.0.5:9182", "10.0.0.5"),
        ("[::1]:9100", "::1"),
        ("db-7", "db-7"),
        ("http://probe:80", "http://probe:80"),
    ],
)
def test_a_scrape_target_port_is_not_part_of_the_asset(instance: str, asset: str):
    # given an alert whose instance label is a scrape target
    payload = load("alertmanager_firing")
    payload["alerts"][0]["labels"]["instance"] = instance

    # when
    first = normalize(Tool.ALERTMANAGER, payload, CTX)[0]

    # then the asset is the host and the label is kept in the tags
    assert first.asset_name == asset
    assert first.tags["instance"] == instance
