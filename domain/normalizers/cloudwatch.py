"""Amazon CloudWatch alarms delivered by an SNS HTTPS subscription: an SNS envelope whose `Message`
is the alarm state change as a JSON string. Only `Notification` envelopes carry alarms; the
subscription (un)confirmations are handled by the webhook (see `adapters/sns.py`)."""

from __future__ import annotations

import json
import re
from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    FieldErrors,
    Fields,
    NormalizeContext,
    at,
    event_time,
    hashed_fingerprint,
    make_alert,
    tool_fingerprint,
)

ENVELOPE_KINDS = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
MAX_SNS_MESSAGE = 262_144  # SNS's own limit (256 KiB)
_STATES = {"ALARM": False, "OK": True, "INSUFFICIENT_DATA": False}
_CRITICAL = re.compile(r"crit(?!eri)", re.IGNORECASE)  # critical, crit; not criteria
_MESSAGE_FORMAT = "must be a JSON string of a CloudWatch alarm state change"


def sns_envelope_kind(payload: Any) -> str:
    """The SNS envelope `Type`: "Notification", "SubscriptionConfirmation" or
    "UnsubscribeConfirmation"; PayloadError for anything else."""
    errors = FieldErrors()
    kind = Fields.of(payload, "", errors).text("Type", required=True)
    if kind is not None and kind not in ENVELOPE_KINDS:
        errors.add("Type", f"must be one of {', '.join(ENVELOPE_KINDS)}")
    errors.raise_if_any()
    return kind or ""


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    if sns_envelope_kind(payload) != "Notification":
        return []  # a subscription (un)confirmation is not an alert
    errors = FieldErrors()
    envelope = Fields(payload, "", errors)
    alarm = Fields(_alarm_json(envelope), "Message", errors)
    errors.raise_if_any()
    signature = alarm.text("AlarmName", required=True, max_len=MAX_SIGNATURE)
    description = alarm.text("AlarmDescription", max_len=MAX_MESSAGE)
    reason = alarm.text("NewStateReason", max_len=MAX_MESSAGE)
    state = alarm.text("NewStateValue", required=True)
    if state is not None and state not in _STATES:
        errors.add(alarm.at("NewStateValue"), f"must be one of {', '.join(_STATES)}")
    when = alarm.time("StateChangeTime") or envelope.time("Timestamp")
    arn = alarm.text("AlarmArn", max_len=2048)
    trigger = alarm.sub("Trigger")
    before = errors.count
    dimension = _first_dimension(trigger)
    if dimension is None and errors.count == before:
        errors.add(trigger.at("Dimensions"), "must name at least one dimension (the asset)")
    tags = {
        name: value
        for name, value in (
            ("aws_account_id", alarm.text("AWSAccountId")),
            ("region", alarm.text("Region")),
            ("namespace", trigger.text("Namespace")),
            ("metric_name", trigger.text("MetricName")),
        )
        if value is not None
    }
    errors.raise_if_any()
    if dimension is None or signature is None or state is None:
        return []  # unreachable: each was reported above
    dimension_name, asset_name = dimension
    if dimension_name:
        tags[dimension_name] = asset_name
    # CloudWatch has no severity: an alarm is high unless its name or description says critical;
    # INSUFFICIENT_DATA means the metric went quiet, which is worth a look but no more.
    says_critical = bool(_CRITICAL.search(signature) or _CRITICAL.search(description or ""))
    if state == "INSUFFICIENT_DATA":
        severity = Severity.LOW
    else:
        severity = Severity.CRITICAL if says_critical else Severity.HIGH
    return [
        make_alert(
            tool=Tool.CLOUDWATCH,
            asset_name=asset_name,
            signature=signature,
            severity=severity,
            severity_raw=state,
            message=reason or description or signature,
            event_time=event_time(ctx, when),
            resolved=_STATES[state],
            fingerprint=(
                tool_fingerprint(Tool.CLOUDWATCH, arn)
                if arn
                else hashed_fingerprint(Tool.CLOUDWATCH, asset_name, signature)
            ),
            dedup_key=arn,
            tags=tags,
            raw=dict(payload),
        )
    ]


def _alarm_json(envelope: Fields) -> Any:
    """The parsed `Message`; None (after reporting why) when it is not a JSON object string."""
    message = envelope.get("Message")
    if message is None:
        envelope.errors.add("Message", "is required")
        return None
    if not isinstance(message, str) or len(message) > MAX_SNS_MESSAGE:
        envelope.errors.add("Message", _MESSAGE_FORMAT)
        return None
    try:
        parsed = json.loads(message)
    except (ValueError, RecursionError):
        envelope.errors.add("Message", _MESSAGE_FORMAT)
        return None
    if not isinstance(parsed, dict):
        envelope.errors.add("Message", _MESSAGE_FORMAT)
        return None
    return parsed


def _first_dimension(trigger: Fields) -> tuple[str | None, str] | None:
    """(name, value) of the alarm's first metric dimension, which names the asset (`InstanceId`,
    `DBInstanceIdentifier`, ...). Metric-math alarms keep theirs under `Trigger.Metrics`."""
    candidates = [(trigger, "Dimensions")]
    for index, metric in enumerate(trigger.items("Metrics", max_items=100)):
        stat = Fields(metric, at(trigger.at("Metrics"), index), trigger.errors).sub("MetricStat")
        candidates.append((stat.sub("Metric"), "Dimensions"))
    for holder, key in candidates:
        dimensions = holder.items(key, max_items=100)
        if dimensions:
            first = Fields.element(dimensions[0], at(holder.at(key), 0), holder.errors)
            value = first.text("value", required=True, max_len=MAX_ASSET_NAME)
            if value is None:
                return None
            return first.text("name", max_len=100), value
    return None
