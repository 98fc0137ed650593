"""Structured (JSON) logs with the request id of the request being served."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from datetime import UTC, datetime
from itertools import count

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Ids for requests that bring none: unique per process start, cheap (no uuid per request).
_ID_PREFIX = os.urandom(6).hex()
_id_counter = count(1)


def request_id_for(header: bytes | None) -> str:
    """The caller's `X-Request-ID` when it is sane (1-64 of `A-Za-z0-9._-`), else a new one."""
    if header:
        candidate = header.decode("latin-1")
        if _SANE_REQUEST_ID.fullmatch(candidate):
            return candidate
    return f"{_ID_PREFIX}{next(_id_counter):x}"


_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# Defence in depth: no code logs a credential on purpose (tests/api/test_log_secrets.py drives every
# place one passes through), and these keep one out should a future line pass a request's headers, a
# mutation's input or a library's message. Field names: exact or as a suffix (`new_password`).
REDACTED = "[REDACTED]"
SECRET_FIELDS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "x-api-key",
        "x-signature",
        "signature",
        "credentials",
        "jwt",
    }
)
_SECRET_SUFFIXES = (
    "password",
    "secret",
    "_token",
    "-token",
    "api_key",
    "api-key",
    "secret_key",
    "session_key",
)
# In free text: a bearer token, a JWT, `api_key=...`/`password: ...` pairs.
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r"|((?:api[_-]?key|password|passwd|secret|token|authorization|x-api-key|x-signature)[\"']?\s*[=:]\s*[\"']?)(?:bearer\s+)?[^\s\"'&,;}]+"
)


def secret_field(name: str) -> bool:
    """Whether a log field of this name would hold a credential."""
    lowered = name.lower()
    return lowered in SECRET_FIELDS or lowered.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or m.group(2) or "") + REDACTED, text)


def redact(value: object, depth: int = 0) -> object:
    """`value` with the credentials it holds replaced by REDACTED (dicts by key, text by pattern)."""
    if isinstance(value, str):
        return redact_text(value)
    if depth > 5:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and secret_field(k) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("latin-1"))
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = REDACTED if secret_field(key) else redact(value)
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
