"""Our own JSON (`POST /api/webhooks/generic`): one alert object, or `{"alerts": [...]}` with up to
MAX_BATCH alerts. See docs/integrations/README.md for the fields."""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    MAX_TAG_VALUE,
    SEVERITY_CHOICES,
    FieldErrors,
    Fields,
    NormalizeContext,
    at,
    event_time,
    hashed_fingerprint,
    make_alert,
    read_batch,
    severity_named,
    tool_fingerprint,
)

_STATUSES = {"firing": False, "resolved": True}
# Severity words that mean the problem is over (Alerta's normal / ok / cleared, Nagios' OK and
# RECOVERY): they resolve the alert rather than fire a low one. The alert keeps the word as its raw
# severity and reads as low.
CLEARED = ("ok", "normal", "cleared", "resolved", "recovery")
CLEARED_CONFLICT = (
    f"is firing but the severity means cleared ({', '.join(CLEARED)}): send resolved or leave it out"
)
_TOOLS_BY_NAME = {tool.value: tool for tool in Tool}


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    root = Fields.of(payload, "", errors)
    errors.raise_if_any()
    if "alerts" in root.data:
        items = read_batch(root, "alerts") or []
        found = [
            _alert(Fields.element(item, at(root.at("alerts"), i), errors), ctx)
            for i, item in enumerate(items)
        ]
    else:
        found = [_alert(root, ctx)]
    errors.raise_if_any()
    return [alert for alert in found if alert is not None]


def _alert(fields: Fields, ctx: NormalizeContext) -> NormalizedAlert | None:
    errors = fields.errors
    before = errors.count
    asset_name = fields.text("asset_name", required=True, max_len=MAX_ASSET_NAME)
    asset_ref = fields.text("asset_id", max_len=MAX_ASSET_NAME, numbers=True)
    signature = fields.text("signature", required=True, max_len=MAX_SIGNATURE)
    severity_raw = fields.text("severity", required=True)
    cleared = severity_raw is not None and severity_raw.lower() in CLEARED
    severity = Severity.LOW if cleared else severity_named(severity_raw)
    if severity_raw is not None and severity is None:
        errors.add(fields.at("severity"), SEVERITY_CHOICES)
    message = fields.text("message", required=True, max_len=MAX_MESSAGE)
    tool_source = fields.text("tool_source", max_len=MAX_TAG_VALUE)
    when = fields.time("timestamp")
    resolved = fields.choice("status", _STATUSES)
    if cleared and resolved is False:
        errors.add(fields.at("status"), CLEARED_CONFLICT)
    dedup_key = fields.text("dedup_key", max_len=MAX_ASSET_NAME, numbers=True)
    tags = fields.tags("tags")
    if (
        errors.count > before
        or not fields.valid
        or asset_name is None
        or signature is None
        or severity is None
        or message is None
    ):
        return None
    # The sender's own tool name is kept as a tag; it becomes `tool` only when we know that tool.
    tool = _TOOLS_BY_NAME.get((tool_source or "").lower(), Tool.GENERIC)
    if tool_source is not None:
        tags["tool_source"] = tool_source
    fingerprint = (
        tool_fingerprint(tool, dedup_key) if dedup_key else hashed_fingerprint(tool, asset_name, signature)
    )
    return make_alert(
        tool=tool,
        asset_name=asset_name,
        signature=signature,
        severity=severity,
        severity_raw=severity_raw,
        message=message,
        event_time=event_time(ctx, when),
        resolved=bool(resolved) or cleared,
        fingerprint=fingerprint,
        dedup_key=dedup_key,
        asset_ref=asset_ref,
        tags=tags,
        raw=dict(fields.data),
    )
