"""Prometheus Alertmanager webhook (payload version 4): a batch of alerts, each with its own status.
Grafana alerting sends the same shape with extras (see `grafana.py`), so both use `normalize_batch`."""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    read_batch,
    read_tags,
    severity_named,
    strip_bracket_prefix,
    tool_fingerprint,
)

ASSET_LABELS = ("instance", "host", "pod", "job", "hostname", "service")
_HOST_PORT = re.compile(r"^(?P<host>[^:\[\]/]+|\[[0-9a-fA-F:.]+\]):\d{1,5}$")


def host_of_instance(instance: str) -> str:
    """`web-01:9100` -> `web-01`, `[::1]:9100` -> `::1`; anything else unchanged."""
    match = _HOST_PORT.match(instance)
    if match is None:
        return instance
    return match.group("host").strip("[]")


_STATUSES = {"firing": False, "resolved": True}
_GRAFANA_STATES = {"alerting": False, "ok": True}


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    return normalize_batch(payload, ctx, Tool.ALERTMANAGER)


def normalize_batch(payload: Any, ctx: NormalizeContext, tool: Tool) -> list[NormalizedAlert]:
    """Every alert of an Alertmanager-shaped batch. `raw` of each is the batch with only that alert
    in `alerts`, which is itself a valid payload (so it can be replayed)."""
    errors = FieldErrors()
    root = Fields.of(payload, "", errors)
    errors.raise_if_any()
    items = read_batch(root, "alerts") or []
    batch = _Batch(
        resolved=root.choice("status", _STATUSES),
        title_signature=None,
        common={key: value for key, value in root.data.items() if key != "alerts"},
    )
    if tool is Tool.GRAFANA:
        # Grafana's group title (`[FIRING:2] High CPU ...`) names the rule when a label does not, and
        # its legacy `state` (alerting / ok) stands in for a missing status.
        title = strip_bracket_prefix(root.text("title", max_len=MAX_MESSAGE))
        batch.title_signature = title[:MAX_SIGNATURE].strip() if title else None
        state = root.get("state")
        if batch.resolved is None and isinstance(state, str):
            batch.resolved = _GRAFANA_STATES.get(state.lower())
    found = []
    for index, item in enumerate(items):
        fields = Fields.element(item, at("alerts", index), errors)
        found.append(_alert(fields, ctx, tool, batch))
    errors.raise_if_any()
    return [alert for alert in found if alert is not None]


@dataclass(slots=True)
class _Batch:
    """What the alerts of one batch share."""

    resolved: bool | None
    title_signature: str | None
    common: dict[str, Any]


def _alert(fields: Fields, ctx: NormalizeContext, tool: Tool, batch: _Batch) -> NormalizedAlert | None:
    errors = fields.errors
    before = errors.count
    labels = fields.sub("labels", required=True)
    annotations = fields.sub("annotations")
    tags = read_tags(labels.data, labels.path, errors) if labels.valid else {}
    asset_name = labels.first_text(ASSET_LABELS, required=True, max_len=MAX_ASSET_NAME)
    if asset_name is not None and labels.text("instance") == asset_name:
        # Prometheus instances are scrape targets ("web-01:9100"); the asset is the host, so the same
        # machine correlates with what other tools report about it. The label itself stays in tags.
        asset_name = host_of_instance(asset_name)
    before_signature = errors.count
    signature = labels.text("alertname", max_len=MAX_SIGNATURE) or batch.title_signature
    if signature is None and labels.valid and errors.count == before_signature:
        errors.add(labels.at("alertname"), "is required")
    severity_raw = labels.text("severity")
    message = annotations.first_text(("summary", "description", "message"), max_len=MAX_MESSAGE)
    resolved = fields.choice("status", _STATUSES)
    if resolved is None:
        resolved = batch.resolved
    starts_at = fields.time("startsAt")
    ends_at = fields.time("endsAt")
    native_id = fields.text("fingerprint", max_len=MAX_ASSET_NAME)
    if errors.count > before or not fields.valid or asset_name is None or signature is None:
        return None
    resolved = bool(resolved)
    # Alertmanager's own severity label is a convention, not a rule: an unknown or missing value is
    # medium, and the original stays in severity_raw.
    severity = severity_named(severity_raw) or Severity.MEDIUM
    # A firing alert's endsAt is a placeholder (zero time or the resolve timeout), so it only counts
    # for resolved alerts.
    when = (ends_at or starts_at) if resolved else starts_at
    return make_alert(
        tool=tool,
        asset_name=asset_name,
        signature=signature,
        severity=severity,
        severity_raw=severity_raw,
        message=message or signature,
        event_time=event_time(ctx, when),
        resolved=resolved,
        fingerprint=(
            tool_fingerprint(tool, native_id)
            if native_id
            else hashed_fingerprint(tool, asset_name, signature)
        ),
        dedup_key=native_id,
        tags=tags,
        raw={**batch.common, "alerts": [dict(fields.data)]},
    )
