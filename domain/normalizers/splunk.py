"""Splunk's webhook alert action: the saved search's name, links and the first result row. Splunk has
no severity and never sends a resolve, so alerts from it are closed by a quiet-period auto-resolve."""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    FieldErrors,
    Fields,
    NormalizeContext,
    event_time,
    hashed_fingerprint,
    make_alert,
    severity_named,
)


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    root = Fields.of(payload, "", errors)
    errors.raise_if_any()
    signature = root.text("search_name", required=True, max_len=MAX_SIGNATURE)
    result = Fields.of(root.get("result"), "result", errors)
    if result.valid:
        # A multivalue field comes as a list; its first value stands for it.
        first_values = {
            key: value[0] if isinstance(value, list) and value else value
            for key, value in result.data.items()
        }
        result = Fields(first_values, "result", errors)
    asset_name = result.first_text(("host", "dest"), required=True, max_len=MAX_ASSET_NAME)
    severity_raw = result.first_text(("severity", "urgency"))
    message = result.text("message", max_len=MAX_MESSAGE)
    when = result.time("_time")
    tags = {
        name: value
        for name, value in (
            ("app", root.text("app")),
            ("owner", root.text("owner")),
            ("sid", root.text("sid")),
            ("results_link", root.text("results_link", max_len=500)),
        )
        if value is not None
    }
    errors.raise_if_any()
    if signature is None or asset_name is None:
        return []  # unreachable: both were reported above
    return [
        make_alert(
            tool=Tool.SPLUNK,
            asset_name=asset_name,
            signature=signature,
            # No severity unless the search returns a severity or urgency column; unknown words
            # there are medium too, with the word kept in severity_raw.
            severity=severity_named(severity_raw) or Severity.MEDIUM,
            severity_raw=severity_raw,
            message=message or f"Splunk search '{signature}' matched on {asset_name}",
            event_time=event_time(ctx, when),
            resolved=False,  # Splunk never sends one
            # `sid` changes with every run: the search and the host are what repeat.
            fingerprint=hashed_fingerprint(Tool.SPLUNK, asset_name, signature),
            tags=tags,
            raw=dict(payload),
        )
    ]
