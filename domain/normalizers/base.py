"""What every payload normaliser shares: the context, the limits, field readers that collect every
failing field under its dotted path, severity synonyms, event-time clamping and fingerprints.

Readers never raise: a bad field is recorded in `FieldErrors` and reads as missing, so one pass over a
payload reports all its problems at once; the normaliser raises a single `PayloadError` at the end.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from domain.alerts import FieldError, NormalizedAlert, PayloadError, Severity, Tool
from domain.categories import categorize

MAX_ASSET_NAME = 255
MAX_SIGNATURE = 255
MAX_MESSAGE = 4000
MAX_TAGS = 50
MAX_TAG_KEY = 100
MAX_TAG_VALUE = 500
MAX_SHORT_TEXT = 500  # any other text we keep: ids, states, raw severities
MAX_BATCH = 1000
MAX_NATIVE_ID = 200  # longer tool ids are hashed so a fingerprint stays under 255 characters

ROOT = "body"  # the field name of the payload itself
SEVERITY_CHOICES = "must be one of critical, high, medium, low (or a synonym)"
TIMESTAMP_FORMAT = "must be an ISO 8601 timestamp"

SEVERITY_SYNONYMS: Mapping[str, Severity] = {
    **dict.fromkeys(("critical", "crit", "fatal", "emergency", "alert", "disaster", "p1"), Severity.CRITICAL),
    **dict.fromkeys(("high", "error", "err", "major", "p2"), Severity.HIGH),
    **dict.fromkeys(("medium", "warning", "warn", "minor", "average", "p3"), Severity.MEDIUM),
    **dict.fromkeys(("low", "info", "informational", "notice", "ok", "debug", "p4", "p5"), Severity.LOW),
}

FAR_PAST = datetime.min.replace(tzinfo=UTC)
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NormalizeContext:
    """When the payload is being normalised, and how far a tool's clock may be trusted."""

    now: datetime
    max_future_skew: timedelta = timedelta(minutes=5)
    max_past_age: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("NormalizeContext.now must be timezone-aware")


def at(path: str, key: str | int) -> str:
    """The dotted path of `key` inside `path` (`alerts.3` + `severity` -> `alerts.3.severity`)."""
    return f"{path}.{key}" if path else str(key)


class FieldErrors:
    """Every failing field of one payload, in the order found, without duplicates."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self._seen: set[FieldError] = set()

    @property
    def count(self) -> int:
        return len(self.items)

    def add(self, path: str, message: str) -> None:
        error = FieldError(path or ROOT, message)
        if error not in self._seen:
            self._seen.add(error)
            self.items.append(error)

    def raise_if_any(self) -> None:
        if self.items:
            raise PayloadError(list(self.items))


class Fields:
    """Typed reads from one JSON object at `path`. Reads of a non-object read as missing, silently:
    the object itself was already reported, and its children would only repeat that."""

    def __init__(self, value: Any, path: str, errors: FieldErrors) -> None:
        self.valid = isinstance(value, dict)
        self.data: Mapping[str, Any] = value if isinstance(value, dict) else {}
        self.path = path
        self.errors = errors

    @classmethod
    def of(cls, value: Any, path: str, errors: FieldErrors, *, required: bool = True) -> Fields:
        """An object field: reports `is required` when missing, `must be an object` when not one."""
        if not path and not isinstance(value, dict):
            errors.add(ROOT, "must be a JSON object")
        elif value is None:
            if required:
                errors.add(path, "is required")
        elif not isinstance(value, dict):
            errors.add(path, "must be an object")
        return cls(value, path, errors)

    @classmethod
    def element(cls, value: Any, path: str, errors: FieldErrors) -> Fields:
        """A list element that must be an object."""
        if not isinstance(value, dict):
            errors.add(path, "must be an object")
        return cls(value, path, errors)

    def at(self, key: str | int) -> str:
        return at(self.path, key)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def sub(self, key: str, *, required: bool = False) -> Fields:
        """A nested object; a non-object parent gives a silent empty one."""
        if not self.valid:
            return Fields(None, self.at(key), self.errors)
        return Fields.of(self.data.get(key), self.at(key), self.errors, required=required)

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_len: int = MAX_SHORT_TEXT,
        numbers: bool = False,
    ) -> str | None:
        """A stripped, non-empty string (blank reads as missing). `numbers` also accepts JSON numbers,
        for ids that templates render unquoted."""
        if not self.valid:
            return None
        value = self.data.get(key)
        if isinstance(value, str):
            text: str | None = value.strip()
        elif numbers and isinstance(value, int | float) and not isinstance(value, bool):
            text = number_text(value)
            if text is None:
                self.errors.add(self.at(key), f"must be at most {max_len} characters")
                return None
        elif value is None:
            text = None
        else:
            self.errors.add(self.at(key), "must be a string or a number" if numbers else "must be a string")
            return None
        if not text:
            if required:
                self.errors.add(self.at(key), "is required")
            return None
        problem = text_problem(text, max_len)
        if problem:
            self.errors.add(self.at(key), problem)
            return None
        return text

    def first_text(
        self,
        keys: Iterable[str],
        *,
        required: bool = False,
        max_len: int = MAX_SHORT_TEXT,
        numbers: bool = False,
    ) -> str | None:
        """The first of `keys` that is present; `is required (or ...)` is reported on the first key."""
        names = list(keys)
        before = self.errors.count
        for name in names:
            value = self.text(name, max_len=max_len, numbers=numbers)
            if value is not None:
                return value
        # Report once, on the preferred key, unless a present value was already rejected.
        if required and self.valid and self.errors.count == before:
            self.errors.add(self.at(names[0]), f"is required (or {', '.join(names[1:])})")
        return None

    def choice(self, key: str, choices: Mapping[str, T], *, required: bool = False) -> T | None:
        """One of `choices` (keys compared case-insensitively)."""
        word = self.text(key, required=required, numbers=True)
        if word is None:
            return None
        for name, value in choices.items():
            if name.lower() == word.lower():
                return value
        self.errors.add(self.at(key), f"must be one of {', '.join(choices)}")
        return None

    def time(self, key: str) -> datetime | None:
        """An ISO 8601 timestamp or epoch seconds/milliseconds, as aware UTC; missing reads as None."""
        if not self.valid:
            return None
        try:
            return parse_timestamp(self.data.get(key))
        except ValueError:
            self.errors.add(self.at(key), TIMESTAMP_FORMAT)
            return None

    def items(self, key: str, *, max_items: int = MAX_BATCH) -> list[Any]:
        """An optional list field (empty when missing or invalid)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.errors.add(self.at(key), "must be a list")
            return []
        if len(value) > max_items:
            self.errors.add(self.at(key), f"must contain at most {max_items} items")
            return []
        return value

    def tags(self, key: str) -> dict[str, str]:
        """An object of string -> scalar, as tags (see `read_tags`)."""
        if not self.valid or self.data.get(key) is None:
            return {}
        value = self.data[key]
        if not isinstance(value, dict):
            self.errors.add(self.at(key), "must be an object of strings")
            return {}
        return read_tags(value, self.at(key), self.errors)


def read_batch(fields: Fields, key: str) -> list[Any] | None:
    """The alert list of a batched payload: 1 to MAX_BATCH elements."""
    value = fields.get(key)
    path = fields.at(key)
    if value is None:
        fields.errors.add(path, "is required")
    elif not isinstance(value, list):
        fields.errors.add(path, "must be a list")
    elif not value:
        fields.errors.add(path, "must contain at least one alert")
    elif len(value) > MAX_BATCH:
        fields.errors.add(path, f"must contain at most {MAX_BATCH} alerts")
    else:
        return value
    return None


def read_tags(value: Mapping[Any, Any], path: str, errors: FieldErrors) -> dict[str, str]:
    """Tags from an object: non-string scalars become strings (`true`, `42`, `1.5`), nulls are
    dropped; at most MAX_TAGS entries, keys up to MAX_TAG_KEY and values up to MAX_TAG_VALUE chars."""
    if len(value) > MAX_TAGS:
        errors.add(path, f"must have at most {MAX_TAGS} entries")
        return {}
    tags: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            errors.add(path, "keys must be non-empty strings")
            continue
        key_problem = text_problem(key, MAX_TAG_KEY)
        if key_problem:
            errors.add(path, f"keys {key_problem}")
            continue
        if item is None:
            continue
        if isinstance(item, str):
            text: str | None = item
        elif isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, int | float):
            text = number_text(item)
        else:
            errors.add(at(path, key), "must be a string, number or boolean")
            continue
        problem = (
            f"must be at most {MAX_TAG_VALUE} characters"
            if text is None
            else text_problem(text, MAX_TAG_VALUE)
        )
        if problem or text is None:
            errors.add(at(path, key), problem or "is required")
            continue
        tags[key] = text
    return tags


def number_text(value: int | float) -> str | None:
    """A JSON number as text (`42`, `1.5`, `1e+300`); None when it is too large to write out."""
    try:
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return str(value)
    except ValueError:  # an int beyond Python's digit limit
        return None


def text_problem(text: str, max_len: int) -> str | None:
    """Why `text` cannot be stored, if it cannot: too long, or NUL / unpaired surrogate characters
    (which PostgreSQL text and JSONB reject)."""
    if len(text) > max_len:
        return f"must be at most {max_len} characters"
    if "\x00" in text:
        return "must not contain NUL characters"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def unresolved_to_missing(payload: Mapping[str, Any], pattern: re.Pattern[str]) -> dict[str, Any]:
    """A copy of a template-rendered payload where values that are still unexpanded macros (the tool
    could not resolve them) read as missing."""
    return {
        key: None if isinstance(value, str) and pattern.fullmatch(value.strip()) else value
        for key, value in payload.items()
    }


# The state prefixes tools put in titles: Datadog `[P2] [Triggered on {host:a}]`, `[Recovered]`,
# `[Re-Warn]`, `[No Data]`...; Grafana `[FIRING:2]`, `[RESOLVED]`.
_STATE_PREFIX = re.compile(
    r"^(\s*\[(?:P[1-5]|(?:Re-)?Triggered|Recovered|(?:Re-)?Warn|(?:Re-)?No Data|Renotify|"
    r"FIRING(?::\d+)?|RESOLVED(?::\d+)?)(?: on [^\]]*)?\])+\s*",
    re.IGNORECASE,
)


def strip_bracket_prefix(title: str | None) -> str | None:
    """`[Triggered on {host:a}] Disk full` -> `Disk full`: the state prefixes change between firing
    and resolve messages, so they must not be part of a signature. Other brackets stay."""
    if title is None:
        return None
    return _STATE_PREFIX.sub("", title).strip() or None


def severity_named(word: str | None) -> Severity | None:
    """Our severity for a word of any tool's scale (case-insensitive), if it is a known synonym."""
    if word is None:
        return None
    return SEVERITY_SYNONYMS.get(word.strip().lower())


_EPOCH = re.compile(r"[+-]?\d{1,20}(\.\d{1,9})?")


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 (naive means UTC) or epoch seconds / milliseconds (numbers or numeric strings; values
    of 1e11 and above are milliseconds), as aware UTC. None for null or blank; ValueError otherwise.
    Out-of-range values give FAR_PAST / FAR_FUTURE, which clamping then handles."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    text = value.strip()
    if not text:
        return None
    if len(text) > 64:
        raise ValueError("not a timestamp")
    if _EPOCH.fullmatch(text):
        return _from_epoch(float(text))
    try:
        when = datetime.fromisoformat(text)
    except OverflowError:
        return FAR_FUTURE
    if when.utcoffset() is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return FAR_PAST if when.year < 1000 else FAR_FUTURE


def _from_epoch(number: int | float) -> datetime:
    try:
        seconds = float(number)
    except OverflowError:
        return FAR_FUTURE if number > 0 else FAR_PAST
    if not math.isfinite(seconds):
        raise ValueError("not a timestamp")
    if abs(seconds) >= 1e11:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return FAR_FUTURE if seconds > 0 else FAR_PAST


def event_time(ctx: NormalizeContext, when: datetime | None) -> datetime:
    """The tool's event time, trusted only within (now - max_past_age, now + max_future_skew]:
    further in the future reads as now, older as now - max_past_age, missing as now."""
    now = ctx.now.astimezone(UTC)
    if when is None:
        return now
    if when > now + ctx.max_future_skew:
        return now
    earliest = now - ctx.max_past_age
    if when < earliest:
        return earliest
    return when


def tool_fingerprint(tool: Tool, native_id: str) -> str:
    """`<tool>:<the tool's own dedup id>`; ids longer than MAX_NATIVE_ID are hashed."""
    if len(native_id) > MAX_NATIVE_ID:
        native_id = "sha256:" + _sha256(native_id)[:32]
    return f"{tool.value}:{native_id}"


def hashed_fingerprint(tool: Tool, asset_name: str, signature: str) -> str:
    """For tools without a dedup id: the first 32 hex chars of sha256(`tool|asset|signature`)."""
    return _sha256(f"{tool.value}|{asset_name}|{signature}")[:32]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def make_alert(
    *,
    tool: Tool,
    asset_name: str,
    signature: str,
    severity: Severity,
    severity_raw: str | None,
    message: str,
    event_time: datetime,
    resolved: bool,
    fingerprint: str,
    raw: dict[str, Any],
    dedup_key: str | None = None,
    asset_ref: str | None = None,
    tags: dict[str, str] | None = None,
) -> NormalizedAlert:
    """The canonical alert, categorised from its signature, asset and tags."""
    tags = tags or {}
    return NormalizedAlert(
        asset_name=asset_name,
        signature=signature,
        severity=severity,
        severity_raw=severity_raw,
        message=message,
        tool=tool,
        event_time=event_time,
        resolved=resolved,
        fingerprint=fingerprint,
        category=categorize(signature, asset_name, tags),
        dedup_key=dedup_key,
        asset_ref=asset_ref,
        tags=tags,
        raw=raw,
    )
