"""New Relic workflows: a webhook destination with the payload template documented in
docs/integrations/newrelic.md (issue variables under their own names). The keys of New Relic's
default webhook template (`id`, `impactedEntities`, `alertConditionNames`, ...) are accepted too."""

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
    make_alert,
    severity_named,
    tool_fingerprint,
)

# Issue states: CREATED and ACTIVATED are open, CLOSED resolves, ACKNOWLEDGED changes nothing.
_STATES = {"CREATED": False, "ACTIVATED": False, "ACKNOWLEDGED": None, "CLOSED": True}


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    errors = FieldErrors()
    root = Fields.of(payload, "", errors)
    errors.raise_if_any()
    state = root.text("state", required=True)
    if state is not None and state.upper() not in _STATES:
        errors.add("state", f"must be one of {', '.join(_STATES)}")
    errors.raise_if_any()
    resolved = _STATES[(state or "").upper()]
    if resolved is None:
        return []
    issue_id = root.first_text(("issueId", "id"), required=True, max_len=MAX_ASSET_NAME, numbers=True)
    entities = root.sub("entitiesData")
    accumulations = root.sub("accumulations")
    before = errors.count
    asset_name = _first(entities, "names", MAX_ASSET_NAME) or _first(root, "impactedEntities", MAX_ASSET_NAME)
    if asset_name is None and errors.count == before:
        errors.add("entitiesData.names", "is required (or impactedEntities)")
    asset_ref = _first(entities, "ids", MAX_ASSET_NAME)
    title = root.text("title", max_len=MAX_MESSAGE)
    before = errors.count
    signature = (
        _first(accumulations, "conditionName", MAX_SIGNATURE)
        or _first(root, "alertConditionNames", MAX_SIGNATURE)
        or (title[:MAX_SIGNATURE].strip() if title else None)
    )
    if signature is None and errors.count == before:
        errors.add("accumulations.conditionName", "is required (or alertConditionNames, title)")
    priority = root.text("priority")
    severity = severity_named(priority)
    if priority is not None and severity is None:
        errors.add("priority", SEVERITY_CHOICES)
    if resolved:
        when = root.time("closedAt") or root.time("updatedAt") or root.time("createdAt")
    else:
        when = root.time("createdAt")
    policy = _first(accumulations, "policyName", 500) or _first(root, "alertPolicyNames", 500)
    errors.raise_if_any()
    if issue_id is None or asset_name is None or signature is None:
        return []  # unreachable: each was reported above
    return [
        make_alert(
            tool=Tool.NEWRELIC,
            asset_name=asset_name,
            signature=signature,
            severity=severity or Severity.MEDIUM,
            severity_raw=priority,
            message=title or signature,
            event_time=event_time(ctx, when),
            resolved=resolved,
            fingerprint=tool_fingerprint(Tool.NEWRELIC, issue_id),
            dedup_key=issue_id,
            asset_ref=asset_ref,
            tags={"policy": policy} if policy else {},
            raw=dict(payload),
        )
    ]


def _first(fields: Fields, key: str, max_len: int) -> str | None:
    """The first entry of a list of names (a bare string is accepted as a list of one)."""
    value = fields.get(key)
    if isinstance(value, str) or value is None:
        return fields.text(key, max_len=max_len)
    names = fields.items(key, max_items=10_000)
    if not names:
        return None
    return Fields({"0": names[0]}, fields.at(key), fields.errors).text("0", max_len=max_len)
