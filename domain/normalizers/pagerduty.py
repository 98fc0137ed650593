"""PagerDuty Events API v2 (`event_action` trigger / acknowledge / resolve), for tools that can send
to PagerDuty and can be pointed at our URL instead."""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    SEVERITY_CHOICES,
    FieldErrors,
    Fields,
    NormalizeContext,
    event_time,
    hashed_fingerprint,
    make_alert,
    severity_named,
    tool_fingerprint,
)

UNKNOWN = "unknown"  # asset and signature of a resolve event that carries no payload
_ACTIONS = {"trigger": "trigger", "acknowledge": "acknowledge", "resolve": "resolve"}


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    root = Fields.of(payload, "", errors)
    errors.raise_if_any()
    action = root.choice("event_action", _ACTIONS, required=True)
    dedup_key = root.text("dedup_key", required=action == "resolve", max_len=MAX_ASSET_NAME, numbers=True)
    if action is None or action == "acknowledge":
        errors.raise_if_any()  # without a valid action, nothing else can be judged
        return []  # acknowledging is a person's action on an alert, not a new alert state
    resolving = action == "resolve"
    # A trigger must describe the alert; a resolve only names it by dedup_key, and its payload (which
    # PagerDuty ignores) is read only when present.
    details = root.sub("payload", required=not resolving)
    summary = details.text("summary", required=not resolving, max_len=MAX_MESSAGE)
    source = details.text("source", required=not resolving, max_len=MAX_ASSET_NAME)
    severity_raw = details.text("severity", required=not resolving)
    severity = severity_named(severity_raw)
    if severity_raw is not None and severity is None:
        errors.add(details.at("severity"), SEVERITY_CHOICES)
    when = details.time("timestamp")
    component = details.text("component", max_len=MAX_SIGNATURE)
    group = details.text("group")
    event_class = details.text("class", max_len=MAX_SIGNATURE)
    client = root.text("client")
    errors.raise_if_any()
    signature = event_class or component or (summary[:MAX_SIGNATURE].strip() if summary else None)
    asset_name = source or UNKNOWN
    signature = signature or UNKNOWN
    tags = {
        name: value
        for name, value in (
            ("component", component),
            ("group", group),
            ("class", event_class),
            ("client", client),
        )
        if value is not None
    }
    if dedup_key is None:
        # PagerDuty makes up a key for a trigger without one and answers it, so that the sender can
        # resolve with it; ours is derived from source and signature, so repeats share it.
        dedup_key = hashed_fingerprint(Tool.PAGERDUTY, asset_name, signature)
    return [
        make_alert(
            tool=Tool.PAGERDUTY,
            asset_name=asset_name,
            signature=signature,
            severity=severity or Severity.LOW,
            severity_raw=severity_raw,
            message=summary or "Resolved by a PagerDuty resolve event",
            event_time=event_time(ctx, when),
            resolved=resolving,
            fingerprint=tool_fingerprint(Tool.PAGERDUTY, dedup_key),
            dedup_key=dedup_key,
            tags=tags,
            raw=dict(payload),
        )
    ]
