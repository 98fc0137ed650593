"""`POST /api/webhooks/alerts` (our JSON) and `POST /api/webhooks/{tool}` (each tool's native payload).

Order of checks, each answering precisely and storing nothing when it refuses:
415 content type → 413 size → 401 API key → 403 HMAC → 400 JSON → 422 payload → 429 rate limit →
commit (group commit) → 202 with the alert ids. A repeated `X-Delivery-ID` gets the first answer
(200, `Idempotent-Replay: true`); a replayed signature under another delivery id gets 409.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.ingest import IngestRequest, ReplayedSignature
from domain.alerts import PayloadError, Tool
from domain.normalizers import NormalizeContext, normalize
from domain.signing import SignatureError, signature_fingerprint, verify

log = logging.getLogger(__name__)

MAX_DELIVERY_ID = 200
JSON_TYPES = ("application/json", "text/plain")  # SNS posts JSON as text/plain


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, **extra: Any) -> Response:
    return _json({"error": message, **extra}, status)


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class WebhookEndpoint:
    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        tool_name = request.path_params.get("tool", "alerts")
        tool = Tool.GENERIC if tool_name == "alerts" else _tool(tool_name)
        if tool is None:
            return _error(404, f"unknown integration '{tool_name[:40]}'",
                          known=sorted(t.value for t in Tool if t is not Tool.GENERIC))
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype not in JSON_TYPES or (ctype == "text/plain" and tool is not Tool.CLOUDWATCH):
            return _error(415, "Content-Type must be application/json")
        body = await _read_body(request, self.settings.webhook_max_body_bytes)
        if body is None:
            return _error(413, f"request body is larger than {self.settings.webhook_max_body_bytes} bytes")

        ingest = request.app.state.services.extras["ingest"]
        api_key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if not api_key or len(api_key) > 200:
            return _error(401, "missing API key: send the X-API-Key header or the api_key query parameter")
        company = await ingest.companies.by_api_key(api_key)
        if company is None:
            return _error(401, "invalid API key")

        signature_hash = None
        if company.hmac_enabled:
            signature = request.headers.get("x-signature")
            try:
                verify(company.hmac_secret, request.headers.get("x-timestamp"), signature, body, time.time())
            except SignatureError as exc:
                return _error(403, str(exc))
            signature_hash = signature_fingerprint(signature or "")

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")

        delivery_key = request.headers.get("x-delivery-id")
        if delivery_key is not None and not (0 < len(delivery_key) <= MAX_DELIVERY_ID):
            return _error(422, "invalid payload", errors=[{"field": "X-Delivery-ID",
                                                          "message": f"must be 1 to {MAX_DELIVERY_ID} characters"}])

        if tool is Tool.CLOUDWATCH:
            early = await ingest.sns.handle_envelope(payload)
            if early is not None:
                return early
            if delivery_key is None and isinstance(payload, dict) and isinstance(payload.get("MessageId"), str):
                delivery_key = "sns:" + payload["MessageId"][:100]

        try:
            alerts = normalize(tool, payload, NormalizeContext(now=datetime.now(UTC)))
        except PayloadError as exc:
            return _error(422, "invalid payload", errors=[{"field": e.field, "message": e.message} for e in exc.errors])
        if not alerts:
            return _json({"status": "ignored", "alert_ids": [], "reason": "no alert in this notification"}, 200)

        decision = await ingest.limiter.acquire(company.id, len(alerts), company.rate_per_second, company.rate_burst)
        if not decision.allowed:
            return _json({"error": "rate limit exceeded", "retry_after": decision.retry_after}, 429,
                         headers={"Retry-After": str(decision.retry_after)})

        try:
            result = await ingest.writer.submit(
                IngestRequest(company_id=company.id, alerts=alerts, delivery_key=delivery_key,
                              signature_hash=signature_hash)
            )
        except ReplayedSignature:
            return _error(409, "this signed request was already accepted (replay)")
        except Exception:
            # Nothing was committed: the sender should retry (every tool does on 5xx).
            log.exception("ingest commit failed")
            return _json({"error": "temporarily unable to store alerts; retry"}, 503, headers={"Retry-After": "1"})
        if result.replayed:
            return _json(result.response, 200, headers={"Idempotent-Replay": "true"})
        return _json(result.response, 202)


def _tool(name: str) -> Tool | None:
    try:
        tool = Tool(name)
    except ValueError:
        return None
    return None if tool is Tool.GENERIC else tool


def webhook_routes(settings: Any) -> list[Route]:
    endpoint = WebhookEndpoint(settings)
    return [
        Route("/api/webhooks/alerts", endpoint.handle, methods=["POST"]),
        Route("/api/webhooks/{tool}", endpoint.handle, methods=["POST"]),
    ]
