"""Security headers on every answer, and CORS for the browser origins the operator lists.

Every HTTP answer (pages, GraphQL, webhooks, `/metrics`, error answers) carries the same precomputed
headers: a Content-Security-Policy that lets a page run only the scripts this server serves (no inline
script, no other host, no plugin, never framed), `nosniff`, `no-referrer` and `X-Frame-Options: DENY`
for browsers without `frame-ancestors`. An answer that sets its own policy keeps it: GraphiQL's page
adds the hash of its one inline script (`graph.graphiql.graphiql_csp`).

CORS: without `ALERTWHISPERER_CORS_ORIGINS` a browser script may call the API only from the API's own
origin (no CORS headers, so browsers refuse cross-origin reads and preflights fail). Listed origins get
Starlette's CORS answers (preflights included). The webhook endpoints answer servers, not browsers:
no CORS there. Websocket origins are `ALERTWHISPERER_ALLOWED_ORIGINS` (checked by Strawberry).
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_CSP = b"content-security-policy"
_OTHERS = SECURITY_HEADERS[1:]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` plus the security headers (an answer's own CSP is kept)."""
    if any(k == _CSP for k, _ in headers):
        return [*headers, *_OTHERS]
    return [*headers, *SECURITY_HEADERS]


def secure_send(send: Send) -> Send:
    """`send`, adding the security headers to the answer's start."""

    async def send_secured(message: Any) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = with_security_headers(list(message.get("headers", ())))
        await send(message)

    return send_secured


def cors_middleware_options(origins: tuple[str, ...]) -> dict[str, Any]:
    """Starlette `CORSMiddleware` options for `origins`: GraphQL over GET/POST with a bearer token."""
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["authorization", "content-type", "x-request-id"],
        "expose_headers": ["x-request-id", "retry-after"],
        "allow_credentials": False,  # bearer tokens, never cookies
        "max_age": 600,
    }


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "CORSMiddleware",
    "cors_middleware_options",
    "secure_send",
    "with_security_headers",
]
