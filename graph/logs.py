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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
