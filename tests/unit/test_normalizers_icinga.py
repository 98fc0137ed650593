"""Icinga 2 notifications posted by our recommended NotificationCommand."""

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
        normalize(Tool.ICINGA, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def test_service_problem_is_normalised():
    payload = load("icinga_service_problem")

    [result] = normalize(Tool.ICINGA, payload, CTX)

    assert result.asset_name == "fileserver-3"
    assert result.signature == "smb-share"
    assert (result.severity, result.severity_raw) == (Severity.MEDIUM, "WARNING")
    assert result.message == "SMB WARNING - response time 4.2 s"
    assert result.tool is Tool.ICINGA
    assert result.event_time == datetime(2024, 5, 1, 11, 50, 0, 480135, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == hashlib.sha256(b"icinga|fileserver-3|smb-share").hexdigest()[:32]
    assert result.dedup_key is None  # Icinga has no problem ids
    assert result.category is Category.OTHER
    assert result.tags == {"host_address": "10.20.0.13"}
    assert result.raw == payload


def test_recovery_resolves_the_same_alert():
    [fired] = normalize(Tool.ICINGA, load("icinga_service_problem"), CTX)

    [recovered] = normalize(Tool.ICINGA, load("icinga_service_recovery"), CTX)

    assert recovered.resolved is True
    assert recovered.fingerprint == fired.fingerprint
    assert (recovered.severity, recovered.severity_raw) == (Severity.LOW, "OK")
    assert recovered.event_time == datetime(2024, 5, 1, 11, 58, 0, 250000, tzinfo=UTC)


def test_host_problem_uses_the_host_down_signature():
    [result] = normalize(Tool.ICINGA, load("icinga_host_problem"), CTX)

    assert (result.asset_name, result.signature) == ("branch-router-7", "host_down")
    assert (result.severity, result.severity_raw) == (Severity.CRITICAL, "DOWN")
    assert result.category is Category.SERVER
    recovery = load("icinga_host_problem") | {"notification.type": "RECOVERY", "host.state": "UP"}
    [recovered] = normalize(Tool.ICINGA, recovery, CTX)
    assert (recovered.resolved, recovered.fingerprint) == (True, result.fingerprint)


@pytest.mark.parametrize(
    "kind",
    [
        "ACKNOWLEDGEMENT",
        "CUSTOM",
        "FLAPPINGSTART",
        "FLAPPINGEND",
        "DOWNTIMESTART",
        "DOWNTIMEEND",
        "DOWNTIMEREMOVED",
    ],
)
def test_notifications_that_change_no_alert_give_none(kind: str):
    assert normalize(Tool.ICINGA, load("icinga_downtime_start") | {"notification.type": kind}, CTX) == []


def test_malformed_notification_reports_exact_fields():
    payload = load("icinga_service_problem") | {
        "host.name": None,
        "service.state": "SOFT",
        "service.output": 3,
    }

    assert errors_of(payload) == [
        ("host.name", "is required"),
        ("service.state", "must be one of OK, WARNING, UNKNOWN, CRITICAL"),
        ("service.output", "must be a string"),
    ]


def test_nagios_type_names_are_not_icinga_ones():
    assert errors_of(load("icinga_downtime_start") | {"notification.type": "FLAPPINGSTOP"}) == [
        (
            "notification.type",
            "must be one of PROBLEM, RECOVERY, ACKNOWLEDGEMENT, CUSTOM, FLAPPINGSTART, FLAPPINGEND, "
            "DOWNTIMESTART, DOWNTIMEEND, DOWNTIMEREMOVED",
        )
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, name in enumerate(("icinga_service_problem", "icinga_host_problem")):
        for payload in junk_payloads(seed=seed, base=load(name)):
            outcome = outcome_of(Tool.ICINGA, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
