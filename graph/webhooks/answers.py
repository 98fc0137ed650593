"""What the webhook answers when it accepts or refuses alerts, shared with `alertIngest`.

The stored first answer of a delivery (`webhook_deliveries.response`) keeps the alerts' internal
UUIDs; every answer turns them into the API's global IDs, the ones `node(id:)` takes, so a stored
answer from any release reads the same. The PagerDuty endpoint also answers the `message` and
`dedup_key` of PagerDuty's Events API v2, which its senders read to resolve the alert later.
"""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Tool
from graph.core import to_global_id

PAGERDUTY_MESSAGE = "Event processed"


def too_large(burst: int) -> dict[str, Any]:
    """The machine-readable part of the 413 for a batch larger than the burst."""
    return {"code": "batch_too_large", "max_batch_alerts": burst}


def alert_global_ids(response: dict[str, Any]) -> list[str]:
    """The global IDs of a stored answer's alerts."""
    return [str(to_global_id("Alert", i)) for i in response.get("alert_ids", [])]


def received(tool: Tool, response: dict[str, Any], alerts: list[NormalizedAlert]) -> dict[str, Any]:
    """The answer to an accepted (or repeated) request, from its stored first answer."""
    body = {**response, "alert_ids": alert_global_ids(response)}
    if tool is Tool.PAGERDUTY:
        body |= _pagerduty(alerts[0].dedup_key if alerts else None)
    return body


def ignored(tool: Tool, payload: Any) -> dict[str, Any]:
    """The answer to a notification that changes no alert (an acknowledgement, a downtime notice)."""
    body: dict[str, Any] = {"status": "ignored", "alert_ids": [], "reason": "no alert in this notification"}
    if tool is Tool.PAGERDUTY and isinstance(payload, dict):
        key = payload.get("dedup_key")
        body |= _pagerduty(key if isinstance(key, str) else None)
    return body


def _pagerduty(dedup_key: str | None) -> dict[str, Any]:
    return {"message": PAGERDUTY_MESSAGE, "dedup_key": dedup_key}
