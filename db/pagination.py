"""Keyset pagination: opaque cursors over (sort key, id), stable under inserts."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from domain.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool


def encode_cursor(values: list[Any]) -> str:
    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return {"t": v.isoformat()}
        if isinstance(v, uuid.UUID):
            return {"u": str(v)}
        return v

    return base64.urlsafe_b64encode(orjson.dumps([conv(v) for v in values])).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != arity:
            raise ValueError

        def conv(v: Any) -> Any:
            if isinstance(v, dict) and "t" in v:
                return datetime.fromisoformat(v["t"])
            if isinstance(v, dict) and "u" in v:
                return uuid.UUID(v["u"])
            if isinstance(v, (int, float, str)) or v is None:
                return v
            raise ValueError

        return [conv(v) for v in raw]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("is not a valid cursor", field="after", code="INVALID_CURSOR") from exc


def check_first(first: int | None) -> int:
    if first is None:
        return 20
    if first < 0 or first > MAX_PAGE:
        raise InvalidInput(f"must be between 0 and {MAX_PAGE}", field="first", code="INVALID_INPUT")
    return first


async def paginate(
    session: Any,
    stmt: Select[Any],
    keys: list[InstrumentedAttribute[Any]],
    *,
    first: int | None,
    after: str | None,
    descending: bool = True,
) -> Page[Any]:
    """Run `stmt` (selecting one entity) ordered by `keys` (last one unique, usually id)."""
    limit = check_first(first)
    if after:
        values = decode_cursor(after, len(keys))
        stmt = stmt.where(_after(keys, values, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = list((await session.execute(stmt.order_by(*order).limit(limit + 1))).scalars())
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [encode_cursor([getattr(r, k.key) for k in keys]) for r in rows]
    return Page(items=rows, cursors=cursors, has_next=has_next, has_previous=after is not None)


def _after(keys: list[InstrumentedAttribute[Any]], values: list[Any], descending: bool) -> Any:
    # (k1, k2, ...) < (v1, v2, ...) expanded so it works with mixed types and NULL-free keys.
    clauses = []
    for i, key in enumerate(keys):
        prefix = [keys[j] == values[j] for j in range(i)]
        cmp = key < values[i] if descending else key > values[i]
        clauses.append(and_(*prefix, cmp))
    return or_(*clauses)
