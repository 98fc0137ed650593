"""Splunk webhook alert action."""

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
        normalize(Tool.SPLUNK, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def with_result(**columns: Any) -> dict[str, Any]:
    payload = load("splunk_alert")
    payload["result"] = {
        key: value for key, value in (payload["result"] | columns).items() if value is not ...
    }
    return payload


def test_alert_is_normalised():
    payload = load("splunk_alert")

    [result] = normalize(Tool.SPLUNK, payload, CTX)

    assert result.asset_name == "dc01.acme.local"
    assert result.signature == "Excessive failed logins"
    assert (result.severity, result.severity_raw) == (Severity.MEDIUM, None)
    assert result.message == "Splunk search 'Excessive failed logins' matched on dc01.acme.local"
    assert result.tool is Tool.SPLUNK
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert (
        result.fingerprint
        == hashlib.sha256(b"splunk|dc01.acme.local|Excessive failed logins").hexdigest()[:32]
    )
    assert result.dedup_key is None
    assert result.category is Category.SECURITY
    assert result.tags == {
        "app": "search",
        "owner": "admin",
        "sid": "scheduler__admin__search__RMD5a1b2c3d4e5f60718_at_1714564500_132",
        "results_link": (
            "https://splunk.acme.local:8000/app/search/@go?"
            "sid=scheduler__admin__search__RMD5a1b2c3d4e5f60718_at_1714564500_132"
        ),
    }
    assert result.raw == payload


def test_every_run_of_the_search_on_a_host_is_the_same_alert():
    [first] = normalize(Tool.SPLUNK, load("splunk_alert"), CTX)

    [second] = normalize(
        Tool.SPLUNK, load("splunk_alert") | {"sid": "scheduler__admin__search__other_run"}, CTX
    )

    assert second.fingerprint == first.fingerprint
    assert second.resolved is False


@pytest.mark.parametrize(
    ("columns", "expected", "raw"),
    [
        ({"severity": "high"}, Severity.HIGH, "high"),
        ({"urgency": "critical"}, Severity.CRITICAL, "critical"),
        ({"urgency": "informational"}, Severity.LOW, "informational"),
        ({"severity": "sev-2"}, Severity.MEDIUM, "sev-2"),
    ],
)
def test_severity_comes_from_a_result_column_when_present(
    columns: dict[str, str], expected: Severity, raw: str
):
    [result] = normalize(Tool.SPLUNK, with_result(**columns), CTX)

    assert (result.severity, result.severity_raw) == (expected, raw)


def test_message_column_dest_and_multivalue_fields():
    [result] = normalize(
        Tool.SPLUNK, with_result(host=..., dest=["fw-01", "fw-02"], message="Port scan"), CTX
    )

    assert (result.asset_name, result.message) == ("fw-01", "Port scan")


def test_iso_time_is_accepted_and_missing_time_is_now():
    [iso] = normalize(Tool.SPLUNK, with_result(_time="2024-05-01T11:45:00.000+00:00"), CTX)
    [missing] = normalize(Tool.SPLUNK, with_result(_time=...), CTX)

    assert (iso.event_time, missing.event_time) == (datetime(2024, 5, 1, 11, 45, tzinfo=UTC), NOW)


def test_malformed_alert_reports_exact_fields():
    payload = with_result(host=..., _time="when?") | {"search_name": None}

    assert errors_of(payload) == [
        ("search_name", "is required"),
        ("result.host", "is required (or dest)"),
        ("result._time", "must be an ISO 8601 timestamp"),
    ]
    assert errors_of(load("splunk_alert") | {"result": None}) == [("result", "is required")]
    assert errors_of(load("splunk_alert") | {"result": ["row"]}) == [("result", "must be an object")]


def test_junk_gives_alerts_or_payload_errors_only():
    for payload in junk_payloads(seed=0, base=load("splunk_alert"), count=600):
        outcome = outcome_of(Tool.SPLUNK, payload, CTX)
        assert isinstance(outcome, list) or outcome.errors
