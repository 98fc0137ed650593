"""Nagios notifications posted by our recommended notification command."""

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
        normalize(Tool.NAGIOS, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def test_service_problem_is_normalised():
    payload = load("nagios_service_problem")

    [result] = normalize(Tool.NAGIOS, payload, CTX)

    assert result.asset_name == "mail01"
    assert result.signature == "Disk Usage /var"
    assert (result.severity, result.severity_raw) == (Severity.CRITICAL, "CRITICAL")
    assert result.message == "DISK CRITICAL - free space: /var 512 MB (3% inode=91%)"
    assert result.tool is Tool.NAGIOS
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)  # the state change, not TIMET
    assert result.resolved is False
    assert result.fingerprint == sha("nagios|mail01|Disk Usage /var")
    assert result.dedup_key == "4711"
    assert result.category is Category.STORAGE
    assert result.tags == {"host_address": "192.168.10.25"}
    assert result.raw == payload


def test_service_recovery_resolves_the_same_alert():
    [fired] = normalize(Tool.NAGIOS, load("nagios_service_problem"), CTX)

    [recovered] = normalize(Tool.NAGIOS, load("nagios_service_recovery"), CTX)

    assert recovered.resolved is True
    assert recovered.fingerprint == fired.fingerprint
    assert recovered.dedup_key == "4711"  # LASTSERVICEPROBLEMID on a recovery
    assert (recovered.severity, recovered.severity_raw) == (Severity.LOW, "OK")
    assert recovered.event_time == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


def test_host_problem_and_recovery_use_the_host_down_signature():
    [down] = normalize(Tool.NAGIOS, load("nagios_host_problem"), CTX)
    [up] = normalize(Tool.NAGIOS, load("nagios_host_recovery"), CTX)

    assert (down.signature, up.signature) == ("host_down", "host_down")
    assert (down.severity, down.severity_raw) == (Severity.CRITICAL, "DOWN")
    assert (down.resolved, up.resolved) == (False, True)
    assert down.fingerprint == up.fingerprint == sha("nagios|core-switch-2|host_down")
    assert (down.dedup_key, up.dedup_key) == ("4712", "4712")
    assert down.message == "CRITICAL - Host Unreachable (192.168.1.2)"
    assert down.category is Category.SERVER


@pytest.mark.parametrize(
    ("state", "expected"),
    [("WARNING", Severity.MEDIUM), ("UNKNOWN", Severity.MEDIUM), ("critical", Severity.CRITICAL)],
)
def test_service_states_map_onto_our_scale(state: str, expected: Severity):
    [result] = normalize(Tool.NAGIOS, load("nagios_service_problem") | {"SERVICESTATE": state}, CTX)

    assert (result.severity, result.severity_raw) == (expected, state)


def test_unreachable_host_is_high():
    [result] = normalize(Tool.NAGIOS, load("nagios_host_problem") | {"HOSTSTATE": "UNREACHABLE"}, CTX)

    assert (result.severity, result.signature) == (Severity.HIGH, "host_down")


@pytest.mark.parametrize(
    "kind",
    [
        "ACKNOWLEDGEMENT",
        "FLAPPINGSTART",
        "FLAPPINGSTOP",
        "FLAPPINGDISABLED",
        "DOWNTIMESTART",
        "DOWNTIMEEND",
        "DOWNTIMECANCELLED",
        "CUSTOM",
    ],
)
def test_notifications_that_change_no_alert_give_none(kind: str):
    assert normalize(Tool.NAGIOS, load("nagios_acknowledgement") | {"NOTIFICATIONTYPE": kind}, CTX) == []


def test_time_falls_back_to_timet_then_now_and_output_to_the_state():
    payload = load("nagios_service_problem") | {"LASTSERVICESTATECHANGE": "", "SERVICEOUTPUT": ""}

    [result] = normalize(Tool.NAGIOS, payload, CTX)

    assert result.event_time == datetime(2024, 5, 1, 11, 55, tzinfo=UTC)
    assert result.message == "Disk Usage /var is CRITICAL"
    [no_time] = normalize(Tool.NAGIOS, payload | {"TIMET": ""}, CTX)
    assert no_time.event_time == NOW


def test_malformed_notification_reports_exact_fields():
    payload = load("nagios_service_problem") | {
        "HOSTNAME": "",
        "SERVICESTATE": "BROKEN",
        "LASTSERVICESTATECHANGE": "last tuesday",
    }

    assert errors_of(payload) == [
        ("HOSTNAME", "is required"),
        ("SERVICESTATE", "must be one of OK, WARNING, UNKNOWN, CRITICAL"),
        ("LASTSERVICESTATECHANGE", "must be an ISO 8601 timestamp"),
    ]


def test_unknown_notification_type_is_rejected():
    assert errors_of({"NOTIFICATIONTYPE": "PAGE"}) == [
        (
            "NOTIFICATIONTYPE",
            "must be one of PROBLEM, RECOVERY, ACKNOWLEDGEMENT, FLAPPINGSTART, FLAPPINGSTOP, "
            "FLAPPINGDISABLED, DOWNTIMESTART, DOWNTIMEEND, DOWNTIMECANCELLED, CUSTOM",
        )
    ]
    assert errors_of({"HOSTNAME": "mail01"}) == [("NOTIFICATIONTYPE", "is required")]


def test_host_problem_needs_a_host_state():
    assert errors_of(load("nagios_host_problem") | {"HOSTSTATE": ""}) == [("HOSTSTATE", "is required")]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, name in enumerate(("nagios_service_problem", "nagios_host_recovery")):
        for payload in junk_payloads(seed=seed, base=load(name)):
            outcome = outcome_of(Tool.NAGIOS, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
