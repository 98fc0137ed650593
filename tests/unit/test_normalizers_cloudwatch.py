"""CloudWatch alarms in SNS envelopes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.alerts import Category, PayloadError, Severity, Tool
from domain.normalizers import NormalizeContext, normalize, sns_envelope_kind
from tests.unit.payloads import junk_payloads, load, outcome_of

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CTX = NormalizeContext(now=NOW)


def errors_of(payload: Any) -> list[tuple[str, str]]:
    with pytest.raises(PayloadError) as caught:
        normalize(Tool.CLOUDWATCH, payload, CTX)
    return [(error.field, error.message) for error in caught.value.errors]


def with_alarm(name: str = "cloudwatch_alarm", **changes: Any) -> dict[str, Any]:
    """The sample envelope with fields of its alarm changed (`...` removes one)."""
    envelope = load(name)
    alarm = json.loads(envelope["Message"]) | changes
    envelope["Message"] = json.dumps({key: value for key, value in alarm.items() if value is not ...})
    return envelope


def test_alarm_is_normalised():
    envelope = load("cloudwatch_alarm")

    [result] = normalize(Tool.CLOUDWATCH, envelope, CTX)

    assert result.asset_name == "prod-api-db"
    assert result.signature == "prod-api-db-cpu-high"
    assert (result.severity, result.severity_raw) == (Severity.HIGH, "ALARM")
    assert result.message.startswith("Threshold Crossed: 1 out of the last 1 datapoints [93.2")
    assert result.tool is Tool.CLOUDWATCH
    assert result.event_time == datetime(2024, 5, 1, 11, 50, tzinfo=UTC)
    assert result.resolved is False
    assert (
        result.fingerprint
        == "cloudwatch:arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-api-db-cpu-high"
    )
    assert result.dedup_key == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-api-db-cpu-high"
    assert result.category is Category.DATABASE
    assert result.tags == {
        "aws_account_id": "123456789012",
        "region": "EU (Ireland)",
        "namespace": "AWS/RDS",
        "metric_name": "CPUUtilization",
        "DBInstanceIdentifier": "prod-api-db",
    }
    assert result.raw == envelope


def test_ok_resolves_the_same_alarm():
    [alarm] = normalize(Tool.CLOUDWATCH, load("cloudwatch_alarm"), CTX)

    [ok] = normalize(Tool.CLOUDWATCH, load("cloudwatch_ok"), CTX)

    assert ok.resolved is True
    assert ok.fingerprint == alarm.fingerprint
    assert (ok.severity, ok.severity_raw) == (Severity.HIGH, "OK")
    assert ok.event_time == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)


def test_insufficient_data_is_a_low_firing_alert():
    [result] = normalize(Tool.CLOUDWATCH, with_alarm(NewStateValue="INSUFFICIENT_DATA"), CTX)

    assert (result.severity, result.severity_raw, result.resolved) == (
        Severity.LOW,
        "INSUFFICIENT_DATA",
        False,
    )


@pytest.mark.parametrize(
    ("name", "description", "expected"),
    [
        ("prod-db-CRITICAL-cpu", None, Severity.CRITICAL),
        ("prod-db-cpu", "Crit: page the DBA", Severity.CRITICAL),
        ("prod-db-cpu", "Alarm criteria: 80% for 5 minutes", Severity.HIGH),
    ],
)
def test_alarm_is_critical_when_its_name_or_description_says_so(
    name: str, description: str | None, expected: Severity
):
    envelope = with_alarm(AlarmName=name, AlarmDescription=description)

    [result] = normalize(Tool.CLOUDWATCH, envelope, CTX)

    assert result.severity is expected


def test_metric_math_alarm_takes_the_first_metric_dimension():
    trigger = {
        "Metrics": [
            {"Id": "e1", "Expression": "m1 / 1024", "ReturnData": True},
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "NetworkIn",
                        "Dimensions": [{"value": "i-0abc123", "name": "InstanceId"}],
                    },
                    "Period": 300,
                    "Stat": "Average",
                },
            },
        ]
    }

    [result] = normalize(Tool.CLOUDWATCH, with_alarm(Trigger=trigger), CTX)

    assert result.asset_name == "i-0abc123"
    assert result.tags["InstanceId"] == "i-0abc123"


def test_without_an_arn_the_fingerprint_is_a_hash():
    [result] = normalize(Tool.CLOUDWATCH, with_alarm(AlarmArn=...), CTX)

    assert (
        result.fingerprint == hashlib.sha256(b"cloudwatch|prod-api-db|prod-api-db-cpu-high").hexdigest()[:32]
    )


def test_state_change_time_falls_back_to_the_sns_timestamp():
    [result] = normalize(Tool.CLOUDWATCH, with_alarm(StateChangeTime=...), CTX)

    assert result.event_time == datetime(2024, 5, 1, 11, 50, 1, 123000, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_subscription_envelopes_are_not_alerts(kind: str):
    envelope = load("cloudwatch_subscription_confirmation") | {"Type": kind}

    assert sns_envelope_kind(envelope) == kind
    assert normalize(Tool.CLOUDWATCH, envelope, CTX) == []


def test_envelope_kind_of_a_notification():
    assert sns_envelope_kind(load("cloudwatch_alarm")) == "Notification"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"Type": "Publish"},
            [("Type", "must be one of Notification, SubscriptionConfirmation, UnsubscribeConfirmation")],
        ),
        ({}, [("Type", "is required")]),
        ({"Type": 1}, [("Type", "must be a string")]),
        ([], [("body", "must be a JSON object")]),
    ],
)
def test_envelope_kind_rejects_other_shapes(payload: Any, expected: list[tuple[str, str]]):
    with pytest.raises(PayloadError) as caught:
        sns_envelope_kind(payload)

    assert [(e.field, e.message) for e in caught.value.errors] == expected


@pytest.mark.parametrize("message", ["not json", "[1, 2]", '"ALARM"', 42, "x" * 262_145, "[" * 100_000])
def test_message_must_be_a_json_alarm(message: Any):
    envelope = load("cloudwatch_alarm") | {"Message": message}

    assert errors_of(envelope) == [("Message", "must be a JSON string of a CloudWatch alarm state change")]


def test_malformed_alarm_reports_paths_inside_the_message():
    envelope = with_alarm(
        AlarmName=...,
        NewStateValue="BROKEN",
        NewStateReason="r" * 4001,
        StateChangeTime="yesterday",
        Trigger={"Dimensions": [{"name": "InstanceId"}]},
    )

    assert errors_of(envelope) == [
        ("Message.AlarmName", "is required"),
        ("Message.NewStateReason", "must be at most 4000 characters"),
        ("Message.NewStateValue", "must be one of ALARM, OK, INSUFFICIENT_DATA"),
        ("Message.StateChangeTime", "must be an ISO 8601 timestamp"),
        ("Message.Trigger.Dimensions.0.value", "is required"),
    ]


def test_alarm_without_any_dimension_is_rejected():
    assert errors_of(with_alarm(Trigger={"MetricName": "x", "Dimensions": []})) == [
        ("Message.Trigger.Dimensions", "must name at least one dimension (the asset)")
    ]
    assert errors_of(with_alarm(Trigger=...)) == [
        ("Message.Trigger.Dimensions", "must name at least one dimension (the asset)")
    ]


def test_junk_gives_alerts_or_payload_errors_only():
    for seed, base in enumerate(
        (load("cloudwatch_alarm"), load("cloudwatch_ok"), json.loads(load("cloudwatch_alarm")["Message"]))
    ):
        for payload in junk_payloads(seed=seed, base=base):
            if seed == 2 and isinstance(payload, dict):
                payload = load("cloudwatch_alarm") | {"Message": json.dumps(payload)}  # junk inside Message
            outcome = outcome_of(Tool.CLOUDWATCH, payload, CTX)
            assert isinstance(outcome, list) or outcome.errors
