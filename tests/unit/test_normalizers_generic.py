"""Our generic JSON, and the rules every normaliser shares (limits, time clamping, fingerprints)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.alerts import Category, FieldError, PayloadError, Severity, Tool
from domain.normalizers import NormalizeContext, normalize
from tests.unit.payloads import junk_payloads, load, outcome_of

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CTX = NormalizeContext(now=NOW)


def alert(**fields: Any) -> dict[str, Any]:
    return {
        "asset_name": "web-01",
        "signature": "disk_full",
        "severity": "high",
        "message": "Disk full",
    } | fields


def errors_of(payload: Any, tool: Tool = Tool.GENERIC) -> list[tuple[str, str]]:
    with pytest.raises(PayloadError) as caught:
        normalize(tool, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def test_single_alert_maps_every_field():
    # given a generic alert naming a known tool and its own dedup key
    payload = load("generic_single")

    # when
    [result] = normalize(Tool.GENERIC, payload, CTX)

    # then
    assert result.asset_name == "web-01.acme.local"
    assert result.asset_ref == "cmdb-4711"
    assert result.signature == "HighCPUUsage"
    assert result.severity is Severity.MEDIUM
    assert result.severity_raw == "Warning"
    assert result.message == "CPU above 90% for 10 minutes"
    assert result.tool is Tool.ZABBIX
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert result.fingerprint == "zabbix:web-01-cpu"
    assert result.dedup_key == "web-01-cpu"
    assert result.category is Category.SERVER
    assert result.tags == {"env": "prod", "cores": "8", "virtual": "true", "tool_source": "Zabbix"}
    assert result.raw == payload


def test_batch_firing_and_resolved_share_a_fingerprint():
    # given a batch with a firing alert and its resolve, from a tool we do not know
    payload = load("generic_batch")

    # when
    firing, resolved = normalize(Tool.GENERIC, payload, CTX)

    # then both are the same alert; epoch seconds and milliseconds both read as times
    assert firing.fingerprint == resolved.fingerprint == sha("generic|db-02|replication_lag")
    assert (firing.resolved, resolved.resolved) == (False, True)
    assert (firing.severity, firing.severity_raw) == (Severity.CRITICAL, "P1")
    assert (resolved.severity, resolved.severity_raw) == (Severity.LOW, "ok")
    assert firing.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert resolved.event_time == datetime(2024, 5, 1, 11, 55, tzinfo=UTC)
    assert firing.tool is Tool.GENERIC
    assert firing.tags == {"tool_source": "in-house cron check"}
    assert firing.category is Category.DATABASE  # from the asset name
    assert firing.raw == payload["alerts"][0]
    assert firing.dedup_key is None


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        *[
            (w, Severity.CRITICAL)
            for w in ("critical", "crit", "fatal", "emergency", "alert", "disaster", "p1")
        ],
        *[(w, Severity.HIGH) for w in ("high", "error", "err", "major", "p2")],
        *[(w, Severity.MEDIUM) for w in ("medium", "warning", "warn", "minor", "average", "p3")],
        *[(w, Severity.LOW) for w in ("low", "info", "informational", "notice", "debug", "p4", "p5")],
        ("  CRITICAL ", Severity.CRITICAL),
        ("Warn", Severity.MEDIUM),
    ],
)
def test_severity_synonyms_map_case_insensitively_and_keep_the_original(word: str, expected: Severity):
    [result] = normalize(Tool.GENERIC, alert(severity=word), CTX)

    assert result.severity is expected
    assert result.severity_raw == word.strip()


@pytest.mark.parametrize("word", ["ok", "OK", "normal", "cleared", "Resolved", "RECOVERY", " ok "])
def test_a_severity_that_means_cleared_resolves_the_alert(word: str):
    # given an alert whose severity is a word for "cleared" (Alerta, Nagios), without a status
    payload = alert(severity=word)

    # when it is normalised
    [result] = normalize(Tool.GENERIC, payload, CTX)
    [fired] = normalize(Tool.GENERIC, alert(), CTX)

    # then it resolves the alert it names (same fingerprint), keeping the word as its raw severity
    assert result.resolved is True
    assert result.fingerprint == fired.fingerprint
    assert (result.severity, result.severity_raw) == (Severity.LOW, word.strip())


def test_a_cleared_severity_with_status_firing_is_rejected():
    # given an alert saying both firing and cleared
    payload = alert(severity="normal", status="firing")

    # then it is refused on the status, and "resolved" with a cleared word is accepted
    assert errors_of(payload) == [
        (
            "status",
            "is firing but the severity means cleared (ok, normal, cleared, resolved, recovery): "
            "send resolved or leave it out",
        )
    ]
    [result] = normalize(Tool.GENERIC, alert(severity="ok", status="resolved"), CTX)
    assert result.resolved is True


def test_unknown_severity_is_rejected():
    assert errors_of(alert(severity="urgent")) == [
        ("severity", "must be one of critical, high, medium, low (or a synonym)")
    ]


def test_missing_required_fields_are_all_reported():
    assert errors_of({"tags": {}}) == [
        ("asset_name", "is required"),
        ("signature", "is required"),
        ("severity", "is required"),
        ("message", "is required"),
    ]


def test_blank_and_null_strings_count_as_missing():
    assert errors_of(alert(asset_name="   ", message=None)) == [
        ("asset_name", "is required"),
        ("message", "is required"),
    ]


def test_wrong_types_are_reported_per_field():
    payload = alert(
        asset_name=42,
        signature=["disk"],
        severity={"level": 1},
        message=True,
        timestamp=True,
        status=1,
        tags=["a"],
        asset_id={"id": 1},
    )

    assert errors_of(payload) == [
        ("asset_name", "must be a string"),
        ("asset_id", "must be a string or a number"),
        ("signature", "must be a string"),
        ("severity", "must be a string"),
        ("message", "must be a string"),
        ("timestamp", "must be an ISO 8601 timestamp"),
        ("status", "must be one of firing, resolved"),
        ("tags", "must be an object of strings"),
    ]


def test_numeric_asset_id_and_dedup_key_are_read_as_text():
    [result] = normalize(Tool.GENERIC, alert(asset_id=4711, dedup_key=99.0), CTX)

    assert (result.asset_ref, result.dedup_key, result.fingerprint) == ("4711", "99", "generic:99")


@pytest.mark.parametrize(
    ("field", "limit"),
    [("asset_name", 255), ("signature", 255), ("message", 4000)],
)
def test_text_limits_are_inclusive(field: str, limit: int):
    [result] = normalize(Tool.GENERIC, alert(**{field: "x" * limit}), CTX)
    assert len(getattr(result, field)) == limit

    assert errors_of(alert(**{field: "x" * (limit + 1)})) == [(field, f"must be at most {limit} characters")]


def test_tag_limits():
    fifty = {f"k{i}": "v" for i in range(50)}
    [result] = normalize(Tool.GENERIC, alert(tags=fifty), CTX)
    assert len(result.tags) == 50

    assert errors_of(alert(tags={**fifty, "k50": "v"})) == [("tags", "must have at most 50 entries")]
    assert errors_of(alert(tags={"k" * 101: "v", "ok": "v" * 501, "nested": {"a": 1}, "": "x"})) == [
        ("tags", "keys must be at most 100 characters"),
        ("tags.ok", "must be at most 500 characters"),
        ("tags.nested", "must be a string, number or boolean"),
        ("tags", "keys must be non-empty strings"),
    ]


def test_tag_scalars_become_text_and_nulls_are_dropped():
    [result] = normalize(Tool.GENERIC, alert(tags={"n": 3, "f": 1.5, "t": True, "z": None, "s": "x"}), CTX)

    assert result.tags == {"n": "3", "f": "1.5", "t": "true", "s": "x"}


def test_text_postgres_cannot_store_is_rejected():
    assert errors_of(alert(asset_name="web\x0001", message="bad \ud800 surrogate")) == [
        ("asset_name", "must not contain NUL characters"),
        ("message", "must be valid Unicode text"),
    ]


def test_resolved_status_is_case_insensitive():
    [result] = normalize(Tool.GENERIC, alert(status="RESOLVED"), CTX)

    assert result.resolved is True


def test_tool_source_names_the_tool_only_when_we_know_it():
    [known] = normalize(Tool.GENERIC, alert(tool_source="datadog"), CTX)
    [unknown] = normalize(Tool.GENERIC, alert(tool_source="LogicMonitor"), CTX)

    assert (known.tool, known.tags) == (Tool.DATADOG, {"tool_source": "datadog"})
    assert (unknown.tool, unknown.tags) == (Tool.GENERIC, {"tool_source": "LogicMonitor"})
    assert known.fingerprint == sha("datadog|web-01|disk_full")


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (None, NOW),
        ("", NOW),
        ("2024-05-01T11:00:00Z", datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),
        ("2024-05-01T13:00:00+02:00", datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),
        ("2024-05-01T11:00:00", datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),  # naive means UTC
        ("2024-05-01T12:04:59Z", datetime(2024, 5, 1, 12, 4, 59, tzinfo=UTC)),  # within the skew
        ("2024-05-01T12:05:01Z", NOW),  # too far in the future
        ("2024-04-24T12:00:00Z", NOW - timedelta(days=7)),  # exactly the oldest allowed
        ("2023-01-01T00:00:00Z", NOW - timedelta(days=7)),  # older
        ("0001-01-01T00:00:00+01:00", NOW - timedelta(days=7)),  # before year 1 in UTC
        ("9999-12-31T23:59:59-01:00", NOW),  # after year 9999 in UTC
        (1714561200, datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),  # epoch seconds
        (1714561200500, datetime(2024, 5, 1, 11, 0, 0, 500000, tzinfo=UTC)),  # epoch milliseconds
        ("1714561200.25", datetime(2024, 5, 1, 11, 0, 0, 250000, tzinfo=UTC)),
        (10**30, NOW),
        (-(10**30), NOW - timedelta(days=7)),
    ],
)
def test_event_time_is_clamped_to_the_trusted_window(timestamp: Any, expected: datetime):
    [result] = normalize(Tool.GENERIC, alert(timestamp=timestamp), CTX)

    assert result.event_time == expected
    assert result.event_time.utcoffset() == timedelta(0)


@pytest.mark.parametrize("timestamp", ["yesterday", "2024-13-01T00:00:00Z", float("nan"), float("inf"), [1]])
def test_unreadable_timestamps_are_rejected(timestamp: Any):
    assert errors_of(alert(timestamp=timestamp)) == [("timestamp", "must be an ISO 8601 timestamp")]


def test_context_windows_are_configurable():
    ctx = NormalizeContext(now=NOW, max_future_skew=timedelta(0), max_past_age=timedelta(hours=1))

    [future] = normalize(Tool.GENERIC, alert(timestamp="2024-05-01T12:00:01Z"), ctx)
    [old] = normalize(Tool.GENERIC, alert(timestamp="2024-05-01T10:00:00Z"), ctx)

    assert (future.event_time, old.event_time) == (NOW, NOW - timedelta(hours=1))


def test_context_requires_an_aware_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        NormalizeContext(now=datetime(2024, 5, 1, 12, 0))  # noqa: DTZ001 - the point of the test


def test_batch_errors_carry_the_element_index():
    payload = {"alerts": [alert(), alert(severity="bogus", asset_name=None), "nope", None]}

    assert errors_of(payload) == [
        ("alerts.1.asset_name", "is required"),
        ("alerts.1.severity", "must be one of critical, high, medium, low (or a synonym)"),
        ("alerts.2", "must be an object"),
        ("alerts.3", "must be an object"),
    ]


def test_batch_size_limits():
    assert len(normalize(Tool.GENERIC, {"alerts": [alert()] * 1000}, CTX)) == 1000
    assert errors_of({"alerts": [alert()] * 1001}) == [("alerts", "must contain at most 1000 alerts")]
    assert errors_of({"alerts": []}) == [("alerts", "must contain at least one alert")]
    assert errors_of({"alerts": {"0": alert()}}) == [("alerts", "must be a list")]


@pytest.mark.parametrize("payload", [None, [], "alert", 3, True])
def test_a_payload_that_is_not_an_object_is_rejected(payload: Any):
    assert errors_of(payload) == [("body", "must be a JSON object")]


def test_unknown_tool_is_rejected():
    with pytest.raises(PayloadError) as caught:
        normalize("nagios-xi", alert(), CTX)  # type: ignore[arg-type]

    assert caught.value.errors == [
        FieldError(
            "tool",
            "must be one of generic, alertmanager, grafana, datadog, cloudwatch, zabbix, pagerduty, "
            "nagios, icinga, newrelic, splunk",
        )
    ]


def test_payload_error_message_lists_every_field():
    with pytest.raises(PayloadError, match=r"^asset_name: is required; message: is required$"):
        normalize(Tool.GENERIC, alert(asset_name=None, message=""), CTX)


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate((load("generic_single"), load("generic_batch"))):
        for payload in junk_payloads(seed=seed, base=base):
            outcome = outcome_of(Tool.GENERIC, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
