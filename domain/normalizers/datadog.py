"""Datadog webhook integration: the payload template documented in docs/integrations/datadog.md
(Datadog's `$VARIABLES` as values under snake_case keys, `"alert_id": "$ALERT_ID"`, ...), and the
default payload a new Datadog webhook sends before anyone edits it (`title`, `body`, `date`, `id`,
`org`, ...), whose asset, signature and transition are read from the event's title and text."""

from __future__ import annotations

import re
from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    MAX_TAGS,
    FieldErrors,
    Fields,
    NormalizeContext,
    event_time,
    hashed_fingerprint,
    make_alert,
    read_tags,
    severity_named,
    strip_bracket_prefix,
    tool_fingerprint,
    unresolved_to_missing,
)

# A variable Datadog left unexpanded (`$ALERT_PRIORITY` on a monitor without a priority).
_UNEXPANDED = re.compile(r"\$[A-Z][A-Z0-9_.]*")
# The keys only our template has: a payload with none of them but a `title` or `body` is Datadog's
# default payload.
_TEMPLATE_KEYS = ("hostname", "alert_scope", "alert_title", "event_title", "alert_id")
# `[P2] [Triggered on {host:web-03,device:sda}] Disk full`: the priority, the transition, its scope.
_TITLE_PRIORITY = re.compile(r"\[(P[1-5])\]")
_TITLE_STATE = re.compile(
    r"\[(?:Re-)?(Triggered|Recovered|Warn|No Data|Renotify)(?: on \{([^}]*)\})?\]", re.IGNORECASE
)
# `... over host:web-03,device:sda was > 0.95 ...` in the event's text.
_BODY_HOST = re.compile(r"\bhost:([A-Za-z0-9_.-]*[A-Za-z0-9_])")
UNKNOWN = "unknown"  # the asset of a default-payload event that names no host or scope
# $ALERT_TYPE when there is no $ALERT_PRIORITY.
_ALERT_TYPES = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.LOW,
    "success": Severity.LOW,
}


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    Fields.of(payload, "", errors)
    errors.raise_if_any()
    fields = Fields(unresolved_to_missing(payload, _UNEXPANDED), "", errors)
    default = ("title" in payload or "body" in payload) and all(fields.get(k) is None for k in _TEMPLATE_KEYS)
    title = fields.text("title", required=default, max_len=MAX_SIGNATURE) if default else None
    body = _event_text(fields) if default else None
    title_state = _TITLE_STATE.search(title or "")
    before = errors.count
    asset_name = (
        fields.text("hostname", max_len=MAX_ASSET_NAME)
        or _scope_host(fields.text("alert_scope", max_len=MAX_ASSET_NAME))
        or _default_asset(title_state, body, default)
    )
    if asset_name is None and errors.count == before:
        errors.add("hostname", "is required (or alert_scope)")
    before = errors.count
    alert_id = fields.text("alert_id", max_len=100, numbers=True)
    # The titles carry the transition (`[Triggered on {host:a}] Disk full`), which is stripped so
    # that the trigger and its recovery share one signature.
    signature = (
        strip_bracket_prefix(fields.text("alert_title", max_len=MAX_SIGNATURE))
        or strip_bracket_prefix(fields.text("event_title", max_len=MAX_SIGNATURE))
        or strip_bracket_prefix(title)
        or (f"monitor {alert_id}" if alert_id else None)
    )
    if signature is None and errors.count == before and not default:
        errors.add("alert_title", "is required (or event_title, alert_id)")
    elif signature is None and errors.count == before and title is not None:
        errors.add("title", "must name the monitor after its [state] prefixes")
    title_priority = _TITLE_PRIORITY.search(title or "")
    priority = fields.text("alert_priority") or (title_priority.group(1) if title_priority else None)
    alert_type = fields.text("alert_type")
    transition = fields.text("alert_transition") or (title_state.group(1) if title_state else None)
    message = fields.first_text(("event_msg", "alert_status"), max_len=MAX_MESSAGE) or body
    when = fields.time("date") or fields.time("last_updated")
    cycle_key = fields.text("alert_cycle_key", max_len=MAX_ASSET_NAME, numbers=True)
    tags = _tags(fields)
    errors.raise_if_any()
    if asset_name is None or signature is None:
        return []  # unreachable: both were reported above
    # $ALERT_PRIORITY (P1-P5) when the monitor has one, else $ALERT_TYPE, else medium.
    severity, severity_raw = Severity.MEDIUM, None
    named = severity_named(priority)
    if named is not None:
        severity, severity_raw = named, priority
    elif alert_type is not None and alert_type.lower() in _ALERT_TYPES:
        severity, severity_raw = _ALERT_TYPES[alert_type.lower()], alert_type
    return [
        make_alert(
            tool=Tool.DATADOG,
            asset_name=asset_name,
            signature=signature,
            severity=severity,
            severity_raw=severity_raw,
            message=message or signature,
            event_time=event_time(ctx, when),
            # Recovered is the only transition that ends an alert (Triggered, Warn, No Data, Renotify
            # and their Re- forms all mean it is still on).
            resolved=transition is not None and transition.lower() == "recovered",
            fingerprint=(
                tool_fingerprint(Tool.DATADOG, cycle_key)
                if cycle_key
                else hashed_fingerprint(Tool.DATADOG, asset_name, signature)
            ),
            dedup_key=cycle_key,
            tags=tags,
            raw=dict(payload),
        )
    ]


def _event_text(fields: Fields) -> str | None:
    """$EVENT_MSG of the default payload (`body`): Datadog's `%%%` markdown fences and its footer of
    monitor links dropped, cut to MAX_MESSAGE (the text is Datadog's, not the user's, to keep short)."""
    text = fields.text("body", max_len=1_000_000)
    if text is None:
        return None
    text = text.replace("%%%", "").split("\n- - -", 1)[0].strip()
    return text[:MAX_MESSAGE].strip() or None


def _default_asset(title_state: re.Match[str] | None, body: str | None, default: bool) -> str | None:
    """The default payload's asset: the `host:` of the title's scope (`[Triggered on {host:a}]`), else
    of the text (`... over host:a was > 0.9`), else the title's whole scope, else `unknown`."""
    if not default:
        return None
    scope = title_state.group(2) if title_state else None
    from_scope = _scope_host(scope)
    if scope and from_scope != scope:
        return from_scope
    found = _BODY_HOST.search(body or "")
    if found:
        return found.group(1)[:MAX_ASSET_NAME]
    return (scope or "").strip()[:MAX_ASSET_NAME] or UNKNOWN


def _scope_host(scope: str | None) -> str | None:
    """`host:web-01,env:prod` -> `web-01`; a scope without a host is the asset as it is."""
    if scope is None:
        return None
    for part in scope.split(","):
        name, _, value = part.strip().partition(":")
        if name == "host" and value.strip():
            return value.strip()
    return scope


def _tags(fields: Fields) -> dict[str, str]:
    """$TAGS is `key:value,key2,...`; a list of such strings or an object is accepted too."""
    value = fields.get("tags")
    if value is None or isinstance(value, dict):
        return fields.tags("tags")
    if isinstance(value, str):
        parts: list[Any] = value.split(",")
    elif isinstance(value, list):
        parts = value
    else:
        fields.errors.add("tags", "must be a string of key:value pairs")
        return {}
    if len(parts) > MAX_TAGS:
        fields.errors.add("tags", f"must have at most {MAX_TAGS} entries")
        return {}
    pairs: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, str):
            fields.errors.add("tags", "must be a string of key:value pairs")
            return {}
        name, _, tag_value = part.strip().partition(":")
        if name:
            pairs[name] = tag_value
    return read_tags(pairs, "tags", fields.errors)
