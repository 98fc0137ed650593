"""What becomes of each webhook answer: a log line for a refusal, a delivery record for its company.

The reason code and detail come from the answer itself (its status, `code` and `error`), so every
refusal the endpoint can give is covered without each one being wired up. A request is attributed to
a company once its API key named one (`delivery_company`, set by the endpoint); a request refused
before that (no or an unknown key, a wrong content type, an oversized body, no such integration)
can only be logged. Nothing here may fail the request: an error is logged and the answer goes out.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters import metrics
from db.delivery_log import DeliveryRecord
from domain.alerts import Tool

log = logging.getLogger("graph.webhooks")

delivery_company: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "delivery_company", default=None
)

_REASONS = {
    400: "invalid_json",
    403: "signature_rejected",
    404: "unknown_integration",
    405: "method_not_allowed",
    409: "replayed_signature",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_payload",
    429: "rate_limited",
    500: "internal_error",
    503: "store_unavailable",
}
MAX_DETAIL = 500


def integration_of(path_tool: str) -> str:
    """The integration a path names (`alerts` is our own JSON, as `generic`)."""
    return Tool.GENERIC.value if path_tool == "alerts" else path_tool[:20]


def classify(status: int, body: dict[str, Any]) -> tuple[str, str, str | None, int]:
    """(outcome, reason, detail, alert_count) of one answer."""
    if status == 202:
        return "accepted", "accepted", None, len(body.get("alert_ids") or [])
    if 200 <= status < 300:
        if body.get("status") == "received":
            return "replayed", "replayed", None, len(body.get("alert_ids") or [])
        return "ignored", str(body.get("status") or "ignored")[:40], _text(body.get("reason")), 0
    if status == 401:
        reason = "missing_api_key" if "missing" in str(body.get("error", "")) else "invalid_api_key"
    else:
        code = body.get("code")
        reason = code if isinstance(code, str) else _REASONS.get(status, f"http_{status}")
    detail = str(body.get("error") or "")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        detail += ": " + "; ".join(
            f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
        )
    return "refused", reason[:40], _text(detail), 0


def _text(value: Any) -> str | None:
    return None if not value else str(value)[:MAX_DETAIL]


def note_delivery(scope: Any, path_tool: str, status: int, body: bytes, request_id: str) -> None:
    """Log a refusal and record the answer for the company its key named (if any)."""
    try:
        company_id = delivery_company.get()
        if status < 400 and company_id is None:
            metrics.webhook_answered("answered", "ok", status, "", 0)
            return
        parsed = orjson.loads(body) if body[:1] == b"{" else {}
        outcome, reason, detail, alerts = classify(status, parsed)
        integration = integration_of(path_tool)
        metrics.webhook_answered(outcome, reason, status, integration, alerts if outcome == "accepted" else 0)
        if outcome == "refused":
            # The reason and the failing field names only: a validation message may quote the payload.
            fields = [e.get("field") for e in parsed.get("errors") or [] if isinstance(e, dict)][:20]
            log.log(
                logging.ERROR if status >= 500 else logging.WARNING,
                "webhook refused",
                extra={
                    "status": status,
                    "reason": reason,
                    "integration": integration,
                    "company_id": str(company_id) if company_id else None,
                    **({"fields": fields} if fields else {}),
                },
            )
        if company_id is None:
            return
        scope["app"].state.services.ingest_service().deliveries.record(
            DeliveryRecord(
                company_id=company_id,
                integration=integration,
                outcome=outcome,
                status=status,
                reason=reason,
                detail=detail,
                alert_count=alerts,
                request_id=request_id,
                at=datetime.now(UTC),
            )
        )
    except Exception:
        log.exception("webhook delivery not noted")
