"""Webhook HMAC signatures: `X-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`."""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_SECONDS = 300


class SignatureError(Exception):
    """The request is not signed as the company requires; the message says exactly why."""


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The `X-Signature` value for a body sent at `timestamp` (what senders compute)."""
    return "sha256=" + hmac.digest(secret, f"{timestamp}.".encode() + body, "sha256").hex()


def verify(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float) -> None:
    """Raise SignatureError unless the signature matches and the timestamp is within ±300 s of `now`."""
    if not timestamp:
        raise SignatureError("X-Timestamp header is required when HMAC signing is enabled")
    if not signature:
        raise SignatureError("X-Signature header is required when HMAC signing is enabled")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("X-Timestamp must be unix seconds")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureError("X-Timestamp is more than 300 seconds away from server time")
    if not signature.startswith("sha256=") or len(signature) != 71:
        raise SignatureError("X-Signature must be 'sha256=<64 hex digits>'")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.lower()):
        raise SignatureError("X-Signature does not match the request body")


def signature_fingerprint(signature: str) -> str:
    """What is stored to refuse a replay of the same signed request."""
    return hashlib.sha256(signature.lower().encode()).hexdigest()
