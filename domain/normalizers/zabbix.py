"""Zabbix webhook media type with the parameters documented in docs/integrations/zabbix.md: each
parameter is named after its macro (`"EVENT.ID": "{EVENT.ID}"`) and the script posts them as JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
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
    make_alert,
    read_tags,
    tool_fingerprint,
    unresolved_to_missing,
)

# {EVENT.NSEVERITY}: 0 not classified, 1 information, 2 warning, 3 average, 4 high, 5 disaster.
NSEVERITY = {
    0: Severity.LOW,
    1: Severity.LOW,
    2: Severity.MEDIUM,
    3: Severity.MEDIUM,
    4: Severity.HIGH,
    5: Severity.CRITICAL,
}
# A macro Zabbix could not expand stays as written (`{EVENT.RECOVERY.DATE}` on a problem) or reads
# `*UNKNOWN*`.
_UNRESOLVED = re.compile(r"\{[A-Z0-9_.#$]+\}|\*UNKNOWN\*")
_DATE = re.compile(r"\d{4}\.\d{2}\.\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
_VALUES = {"0": True, "1": False}  # {EVENT.VALUE}: 1 problem, 0 recovery -> resolved?
_STATUSES = {"RESOLVED": True, "PROBLEM": False}
_TAGS_FORMAT = "must be a JSON list of {tag, value} objects"


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    Fields.of(payload, "", errors)
    errors.raise_if_any()
    fields = Fields(unresolved_to_missing(payload, _UNRESOLVED), "", errors)
    if fields.text("EVENT.UPDATE.STATUS", numbers=True) == "1":
        return []  # an update (acknowledgement, comment, ...) of a problem we already have
    native_id = fields.text("EVENT.ID", required=True, max_len=MAX_ASSET_NAME, numbers=True)
    asset_name = fields.first_text(
        ("HOST.NAME", "HOST.HOST", "HOST.IP"), required=True, max_len=MAX_ASSET_NAME
    )
    signature = fields.first_text(("EVENT.NAME", "TRIGGER.NAME"), required=True, max_len=MAX_SIGNATURE)
    nseverity = _nseverity(fields)
    resolved = _resolved(fields)
    message = fields.first_text(("ALERT.MESSAGE", "TRIGGER.DESCRIPTION"), max_len=MAX_MESSAGE)
    if resolved:
        when = _date_time(fields, "EVENT.RECOVERY.DATE", "EVENT.RECOVERY.TIME")
    else:
        when = _date_time(fields, "EVENT.DATE", "EVENT.TIME")
    tags = _tags(fields)
    for name, key in (("host_ip", "HOST.IP"), ("trigger_id", "TRIGGER.ID")):
        value = fields.text(key, numbers=True)
        if value is not None:
            tags[name] = value
    errors.raise_if_any()
    if native_id is None or asset_name is None or signature is None or nseverity is None:
        return []  # unreachable: each was reported above
    return [
        make_alert(
            tool=Tool.ZABBIX,
            asset_name=asset_name,
            signature=signature,
            severity=NSEVERITY[nseverity],
            severity_raw=str(nseverity),
            message=message or signature,
            event_time=event_time(ctx, when),
            resolved=resolved,
            # {EVENT.ID} is the problem's id, also in its recovery notification.
            fingerprint=tool_fingerprint(Tool.ZABBIX, native_id),
            dedup_key=native_id,
            tags=tags,
            raw=dict(payload),
        )
    ]


def _nseverity(fields: Fields) -> int | None:
    text = fields.text("EVENT.NSEVERITY", required=True, numbers=True)
    if text is None:
        return None
    if text not in ("0", "1", "2", "3", "4", "5"):
        fields.errors.add("EVENT.NSEVERITY", "must be a number from 0 (not classified) to 5 (disaster)")
        return None
    return int(text)


def _resolved(fields: Fields) -> bool:
    """{EVENT.VALUE} 0, or {EVENT.STATUS} RESOLVED, is a recovery."""
    value = fields.text("EVENT.VALUE", numbers=True)
    if value is not None:
        if value not in _VALUES:
            fields.errors.add("EVENT.VALUE", "must be 0 (recovery) or 1 (problem)")
            return False
        return _VALUES[value]
    return bool(fields.choice("EVENT.STATUS", _STATUSES))


def _date_time(fields: Fields, date_key: str, time_key: str) -> datetime | None:
    """`2024.01.15` + `10:20:30`, read as UTC (Zabbix writes its server's local time)."""
    date = fields.text(date_key)
    time = fields.text(time_key) or "00:00:00"
    if date is None:
        return None
    if not _DATE.fullmatch(date):
        fields.errors.add(date_key, "must be a date like 2024.01.15")
        return None
    if not _TIME.fullmatch(time):
        fields.errors.add(time_key, "must be a time like 10:20:30")
        return None
    try:
        return datetime.fromisoformat(f"{date.replace('.', '-')}T{time}").replace(tzinfo=UTC)
    except ValueError:
        fields.errors.add(date_key, "must be a date like 2024.01.15")
        return None


def _tags(fields: Fields) -> dict[str, str]:
    """{EVENT.TAGSJSON}: `[{"tag": "scope", "value": "performance"}, ...]`, as a JSON string (how the
    macro expands) or already parsed."""
    value = fields.get("EVENT.TAGSJSON")
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            fields.errors.add("EVENT.TAGSJSON", _TAGS_FORMAT)
            return {}
    if not isinstance(value, list):
        fields.errors.add("EVENT.TAGSJSON", _TAGS_FORMAT)
        return {}
    if len(value) > MAX_TAGS:
        fields.errors.add("EVENT.TAGSJSON", f"must have at most {MAX_TAGS} entries")
        return {}
    pairs: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("tag"), str):
            fields.errors.add("EVENT.TAGSJSON", _TAGS_FORMAT)
            return {}
        pairs[item["tag"]] = item.get("value", "")
    return read_tags(pairs, "EVENT.TAGSJSON", fields.errors)
