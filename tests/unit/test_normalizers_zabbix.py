"""Zabbix webhook media type with our recommended parameters."""

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
        normalize(Tool.ZABBIX, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def problem(**changes: Any) -> dict[str, Any]:
    payload = load("zabbix_problem") | changes
    return {key: value for key, value in payload.items() if value is not ...}


def test_problem_is_normalised():
    payload = load("zabbix_problem")

    [result] = normalize(Tool.ZABBIX, payload, CTX)

    assert result.asset_name == "SQL Server 01"
    assert result.signature == "High CPU utilization (over 90% for 5m)"
    assert (result.severity, result.severity_raw) == (Severity.HIGH, "4")
    assert result.message == (
        "Problem started at 11:50:00 on 2024.05.01\r\nProblem name: High CPU utilization (over 90% for 5m)"
        "\r\nHost: SQL Server 01\r\nSeverity: High"
    )
    assert result.tool is Tool.ZABBIX
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == "zabbix:128734"
    assert result.dedup_key == "128734"
    assert result.category is Category.SERVER
    assert result.tags == {
        "scope": "performance",
        "component": "cpu",
        "host_ip": "10.0.4.21",
        "trigger_id": "23456",
    }
    assert result.raw == payload


def test_recovery_resolves_the_same_problem_at_the_recovery_time():
    [fired] = normalize(Tool.ZABBIX, load("zabbix_problem"), CTX)

    [recovered] = normalize(Tool.ZABBIX, load("zabbix_recovery"), CTX)

    assert recovered.resolved is True
    assert recovered.fingerprint == fired.fingerprint == "zabbix:128734"
    assert recovered.event_time == datetime(2024, 5, 1, 11, 57, 30, tzinfo=UTC)


def test_event_status_resolved_alone_is_a_recovery():
    [result] = normalize(Tool.ZABBIX, load("zabbix_recovery") | {"EVENT.VALUE": "{EVENT.VALUE}"}, CTX)

    assert result.resolved is True


@pytest.mark.parametrize(
    ("nseverity", "expected"),
    [
        ("0", Severity.LOW),
        ("1", Severity.LOW),
        ("2", Severity.MEDIUM),
        ("3", Severity.MEDIUM),
        ("4", Severity.HIGH),
        ("5", Severity.CRITICAL),
        (5, Severity.CRITICAL),
    ],
)
def test_nseverity_maps_onto_our_scale(nseverity: Any, expected: Severity):
    [result] = normalize(Tool.ZABBIX, problem(**{"EVENT.NSEVERITY": nseverity}), CTX)

    assert (result.severity, result.severity_raw) == (expected, str(nseverity))


def test_update_operations_give_no_alert():
    assert (
        normalize(
            Tool.ZABBIX, problem(**{"EVENT.UPDATE.STATUS": "1", "EVENT.UPDATE.ACTION": "acknowledged"}), CTX
        )
        == []
    )


def test_asset_falls_back_to_technical_name_then_ip_and_unresolved_macros_are_missing():
    [by_host] = normalize(Tool.ZABBIX, problem(**{"HOST.NAME": "{HOST.NAME}"}), CTX)
    [by_ip] = normalize(Tool.ZABBIX, problem(**{"HOST.NAME": ..., "HOST.HOST": "*UNKNOWN*"}), CTX)

    assert (by_host.asset_name, by_ip.asset_name) == ("sql01.acme.local", "10.0.4.21")


def test_numbers_rendered_unquoted_are_accepted():
    [result] = normalize(Tool.ZABBIX, problem(**{"EVENT.ID": 128734, "EVENT.VALUE": 1}), CTX)

    assert (result.fingerprint, result.resolved) == ("zabbix:128734", False)


def test_tags_json_already_parsed_is_accepted():
    [result] = normalize(Tool.ZABBIX, problem(**{"EVENT.TAGSJSON": [{"tag": "db", "value": "mssql"}]}), CTX)

    assert result.tags == {"db": "mssql", "host_ip": "10.0.4.21", "trigger_id": "23456"}


def test_malformed_payload_reports_exact_fields():
    payload = problem(
        **{
            "EVENT.ID": ...,
            "HOST.NAME": ...,
            "HOST.HOST": ...,
            "HOST.IP": ...,
            "EVENT.NAME": ...,
            "TRIGGER.NAME": ...,
            "EVENT.NSEVERITY": "7",
            "EVENT.VALUE": "2",
            "EVENT.DATE": "01/05/2024",
            "EVENT.TAGSJSON": "{not json",
        }
    )

    assert errors_of(payload) == [
        ("EVENT.ID", "is required"),
        ("HOST.NAME", "is required (or HOST.HOST, HOST.IP)"),
        ("EVENT.NAME", "is required (or TRIGGER.NAME)"),
        ("EVENT.NSEVERITY", "must be a number from 0 (not classified) to 5 (disaster)"),
        ("EVENT.VALUE", "must be 0 (recovery) or 1 (problem)"),
        ("EVENT.DATE", "must be a date like 2024.01.15"),
        ("EVENT.TAGSJSON", "must be a JSON list of {tag, value} objects"),
    ]


def test_bad_time_and_tag_shapes_are_reported():
    payload = problem(**{"EVENT.TIME": "11h50", "EVENT.TAGSJSON": [{"value": "x"}]})

    assert errors_of(payload) == [
        ("EVENT.TIME", "must be a time like 10:20:30"),
        ("EVENT.TAGSJSON", "must be a JSON list of {tag, value} objects"),
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate((load("zabbix_problem"), load("zabbix_recovery"))):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.ZABBIX, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
