"""Webhook HMAC signatures: `X-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.

Signing is required per integration (each tool's ingest URL), because most tools cannot compute a
signature: `NATIVE_SIGNING` says which can, and how. A rotated secret stays valid for a grace period
the admin chose, so `verify` takes the previous secret too while it lasts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from domain.alerts import Tool
from domain.errors import InvalidInput

MAX_SKEW_SECONDS = 300

#: How long a rotated API key or HMAC secret keeps working, unless the admin says otherwise.
DEFAULT_GRACE_HOURS = 24
#: At most a week: a forgotten old credential must not stay valid for ever.
MAX_GRACE_HOURS = 7 * 24

#: Tools that can send `X-Timestamp` and `X-Signature` themselves, with how. Every other tool posts
#: a fixed request (headers set once, or none at all), so it authenticates with its API key alone;
#: CloudWatch's SNS envelope carries AWS's own signature, which is verified instead.
NATIVE_SIGNING: dict[Tool, str] = {
    Tool.GENERIC: "your own sender computes the signature (examples in docs/integrations/README.md)",
    Tool.ZABBIX: "the webhook media type's script computes it with Zabbix's hmac('sha256', key, data)",
    Tool.NAGIOS: "the notification command computes it with openssl before calling curl",
    Tool.ICINGA: "the NotificationCommand's script computes it with openssl before calling curl",
}


class SignatureError(Exception):
    """The request is not signed as the company requires; the message says exactly why."""


def can_sign(tool: Tool) -> bool:
    return tool in NATIVE_SIGNING


def grace_hours(hours: int, field: str) -> int:
    """A rotation's grace period, validated: 0 (the old credential stops at once) to a week."""
    if not 0 <= hours <= MAX_GRACE_HOURS:
        raise InvalidInput(f"must be between 0 and {MAX_GRACE_HOURS} hours", field=field)
    return hours


def signed_tools(current: Iterable[str], changes: Iterable[tuple[Tool, bool]]) -> list[str]:
    """The integrations that require a signature after `changes` (tool, require), in Tool order."""
    wanted = set(current)
    for tool, require in changes:
        (wanted.add if require else wanted.discard)(tool.value)
    return [t.value for t in Tool if t.value in wanted]


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The `X-Signature` value for a body sent at `timestamp` (what senders compute)."""
    return "sha256=" + hmac.digest(secret, f"{timestamp}.".encode() + body, "sha256").hex()


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    previous: bytes | None = None,
) -> None:
    """Raise SignatureError unless the signature matches and the timestamp is within ±300 s of `now`.

    `previous` is the secret before the last rotation while its grace period lasts (None after).
    """
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
    given = signature.lower()
    # Both comparisons always run, so the timing does not tell which secret matched.
    matches = hmac.compare_digest(sign(secret, timestamp, body), given)
    if previous is not None:
        matches = hmac.compare_digest(sign(previous, timestamp, body), given) or matches
    if not matches:
        raise SignatureError("X-Signature does not match the request body")


def signature_fingerprint(signature: str) -> str:
    """What is stored to refuse a replay of the same signed request."""
    return hashlib.sha256(signature.lower().encode()).hexdigest()
