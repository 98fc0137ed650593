"""`POST /api/webhooks/alerts` or `/generic` (our JSON) and `POST /api/webhooks/{tool}` (each tool's native payload).

Order of checks, each answering precisely and storing nothing when it refuses:
415 content type → 413 size → 401 API key → 403 HMAC → 400 JSON → 422 payload → 429 rate limit →
commit (group commit) → 202 with the alert ids. A repeated `X-Delivery-ID` gets the first answer
(200, `Idempotent-Replay: true`), or 409 `delivery_id_reused` when it carries other alerts; a
replayed signature under another delivery id gets 409. A batch larger than the company's burst
gets 413 `batch_too_large` (no retry could ever fit it). From the delivery id on, the rules are the
ingest use case's (`domain.ingest.AlertIngest`), which `alertIngest` shares; a database outage at any
step (the key lookup included) is 503 with `Retry-After`, nothing stored.
Other methods get 405, paths that name no integration 404.

Every refusal is a log line (status, reason, integration, company when the key named one, and the
request id; never the key, secret, signature or body), and every answer to a request whose key named
a company is recorded in `webhook_delivery_log` (`graph.webhooks.deliveries`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from db.outage import database_unavailable
from domain.alerts import PayloadError, Tool
from domain.ingest import (
    BatchTooLarge,
    DeliveryIdInvalid,
    DeliveryReused,
    IngestTenant,
    RateLimited,
    ReplayedSignature,
    ServiceUnavailable,
    check_delivery_key,
)
from domain.normalizers import NormalizeContext, normalize
from domain.signing import SignatureError, signature_fingerprint, verify
from graph.logs import request_id_for, request_id_var
from graph.security import SECURITY_HEADERS
from graph.webhooks.answers import ignored, received, too_large
from graph.webhooks.deliveries import delivery_company, note_delivery

if TYPE_CHECKING:
    from graph.webhooks.service import IngestService

log = logging.getLogger(__name__)

PREFIX = "/api/webhooks/"
DELIVERY_REUSED = (
    "X-Delivery-ID was already used for a request with other alerts: "
    "a retry must carry the same alerts, new alerts need a new delivery id"
)
JSON_TYPES = ("application/json", "text/plain")  # SNS posts JSON as text/plain
# Our JSON answers at `alerts` and, since integrators try it after the tool names, at `generic`.
GENERIC_PATHS = ("alerts", Tool.GENERIC.value)
KNOWN = sorted({*GENERIC_PATHS, *(t.value for t in Tool)})
_JSON = (b"content-type", b"application/json")


class Reply:
    """A JSON answer; `headers` are extra (name, value) pairs."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: dict[str, Any], status: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.body = orjson.dumps(body)
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _error(status: int, message: str, **extra: Any) -> Reply:
    return Reply({"error": message, **extra}, status)


def _unavailable(exc: ServiceUnavailable) -> Reply:
    # Nothing was committed: the sender should retry (every tool does on 5xx).
    return Reply({"error": exc.message}, 503, (("Retry-After", "1"),))


class WebhookEndpoint:
    """A raw ASGI endpoint: the hot path skips Starlette's routing and middleware layers.

    It answers every request itself (request id header, errors masked and logged), so it is served
    in front of the Starlette application for paths under `/api/webhooks/` (see `graph.app`).
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = dict(scope["headers"])
        rid = request_id_for(headers.get(b"x-request-id"))
        token = request_id_var.set(rid)
        company_token = delivery_company.set(None)
        try:
            try:
                reply = await self.handle(scope, receive, headers)
            except Exception as exc:
                # Whichever step met the outage (the key lookup, the limiter, the commit), the answer
                # is the same 503 the ingest use case gives: nothing was stored, retry.
                if database_unavailable(exc):
                    log.warning("webhook request met a database outage: %s", exc)
                    reply = _unavailable(ServiceUnavailable())
                else:
                    log.exception("webhook request failed")
                    reply = _error(500, "internal server error", request_id=rid)
            if reply is None:
                return  # the client went away
            if isinstance(reply, Response):
                status, body, extra = (
                    reply.status_code,
                    bytes(reply.body),
                    [h for h in reply.raw_headers if h[0] != b"content-length"],
                )
            else:
                status, body, extra = reply.status, reply.body, [_JSON, *reply.headers]
            note_delivery(scope, scope["path"][len(PREFIX) :], status, body, rid)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        *extra,
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", rid.encode()),
                        *SECURITY_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            delivery_company.reset(company_token)
            request_id_var.reset(token)

    async def handle(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> Reply | Response | None:
        tool_name = scope["path"][len(PREFIX) :]
        tool = Tool.GENERIC if tool_name in GENERIC_PATHS else _tool(tool_name)
        if tool is None:
            return _error(404, f"unknown integration '{tool_name[:40]}'", known=KNOWN)
        if scope["method"] != "POST":
            return Reply({"error": "method not allowed: use POST"}, 405, (("Allow", "POST"),))
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
        if ctype not in JSON_TYPES or (ctype == "text/plain" and tool is not Tool.CLOUDWATCH):
            return _error(415, "Content-Type must be application/json")
        limit = self.settings.webhook_max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return _error(413, f"request body is larger than {limit} bytes")
        body = await _read_body(receive, limit)
        if body is None:
            return _error(413, f"request body is larger than {limit} bytes")
        if body is False:
            return None

        ingest: IngestService = scope["app"].state.services.ingest_service()
        api_key = headers.get(b"x-api-key", b"").decode("latin-1") or _query_param(scope, "api_key")
        if not api_key or len(api_key) > 200:
            return _error(401, "missing API key: send the X-API-Key header or the api_key query parameter")
        company = await ingest.companies.by_api_key(api_key)
        if company is None:
            return _error(401, "invalid API key")
        delivery_company.set(company.id)

        signature_hash = None
        if company.requires_signature(tool):
            signature = _header(headers, b"x-signature")
            now = time.time()
            try:
                verify(
                    company.hmac_secret,
                    _header(headers, b"x-timestamp"),
                    signature,
                    body,
                    now,
                    previous=company.previous_secret(now),
                )
            except SignatureError as exc:
                return _error(403, str(exc))
            signature_hash = signature_fingerprint(signature or "")

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")

        delivery_key = _header(headers, b"x-delivery-id")
        try:
            check_delivery_key(delivery_key)
        except DeliveryIdInvalid as exc:
            return _error(422, "invalid payload", errors=[{"field": "X-Delivery-ID", "message": exc.message}])

        if tool is Tool.CLOUDWATCH:
            early: Response | None = await ingest.sns.handle_envelope(payload)
            if early is not None:
                return early
            if (
                delivery_key is None
                and isinstance(payload, dict)
                and isinstance(payload.get("MessageId"), str)
            ):
                delivery_key = "sns:" + payload["MessageId"][:100]

        try:
            alerts = normalize(tool, payload, NormalizeContext(now=datetime.now(UTC)))
        except PayloadError as exc:
            return _error(
                422, "invalid payload", errors=[{"field": e.field, "message": e.message} for e in exc.errors]
            )
        if not alerts:
            return Reply(ignored(tool, payload), 200)

        try:
            result = await ingest.alerts(
                IngestTenant(company.id, company.rate_per_second, company.rate_burst),
                tool,
                alerts,
                delivery_key=delivery_key,
                signature_hash=signature_hash,
            )
        except BatchTooLarge as exc:
            return _error(413, exc.message, **too_large(exc.burst))
        except RateLimited as exc:
            return Reply(
                {"error": "rate limit exceeded", "retry_after": exc.retry_after},
                429,
                (("Retry-After", str(exc.retry_after)),),
            )
        except ReplayedSignature as exc:
            return _error(409, exc.message)
        except DeliveryReused:
            return _error(409, DELIVERY_REUSED, code="delivery_id_reused")
        except ServiceUnavailable as exc:
            return _unavailable(exc)
        if result.replayed:
            return Reply(received(tool, result.response, alerts), 200, (("Idempotent-Replay", "true"),))
        return Reply(received(tool, result.response, alerts), 202)


async def _read_body(receive: Receive, limit: int) -> bytes | Literal[False] | None:
    """The whole body; None when it exceeds `limit`, False when the client disconnected."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _query_param(scope: Scope, name: str) -> str:
    query = scope.get("query_string", b"")
    if not query:
        return ""
    values = parse_qs(query.decode("latin-1")).get(name)
    return values[0] if values else ""


def _tool(name: str) -> Tool | None:
    try:
        return Tool(name)
    except ValueError:
        return None
