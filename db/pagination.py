"""Keyset pagination: opaque cursors over (sort key, id), stable under inserts."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, and_, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.types import Uuid

from domain.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20  # `first` when omitted


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
        return DEFAULT_PAGE
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


async def first_pages(
    session: Any,
    stmt: Select[Any],
    owner: InstrumentedAttribute[Any],
    owners: list[uuid.UUID],
    keys: list[InstrumentedAttribute[Any]],
    *,
    first: int | None,
) -> dict[uuid.UUID, Page[Any]]:
    """The first page of `stmt`'s rows for each of `owners` (by the `owner` column), in one statement.

    A LATERAL subquery per owner with its own ORDER BY ... LIMIT reads only the rows it returns from
    the owner's index, where a `row_number() OVER (PARTITION BY owner)` filter would read every row of
    every owner first (an incident can hold thousands of alerts). Ascending by `keys`, as `paginate`
    with `descending=False`; an owner without rows gets an empty page.
    """
    limit = check_first(first)
    pages: dict[uuid.UUID, Page[Any]] = {
        o: Page(items=[], cursors=[], has_next=False, has_previous=False) for o in owners
    }
    if not owners:
        return pages
    wanted = func.unnest(literal(list(owners), ARRAY(Uuid()))).table_valued("owner").render_derived("wanted")
    page = stmt.where(owner == wanted.c.owner).order_by(*(k.asc() for k in keys)).limit(limit + 1).lateral()
    entity = aliased(stmt.column_descriptions[0]["entity"], page)
    found: dict[uuid.UUID, list[Any]] = {}
    for row in (await session.execute(select(entity).select_from(wanted).join(page, true()))).scalars():
        found.setdefault(getattr(row, owner.key), []).append(row)
    for key, rows in found.items():
        rows.sort(key=lambda r: [getattr(r, k.key) for k in keys])
        items = rows[:limit]
        pages[key] = Page(
            items=items,
            cursors=[encode_cursor([getattr(r, k.key) for k in keys]) for r in items],
            has_next=len(rows) > limit,
            has_previous=False,
        )
    return pages


def _after(keys: list[InstrumentedAttribute[Any]], values: list[Any], descending: bool) -> Any:
    # (k1, k2, ...) < (v1, v2, ...) expanded so it works with mixed types and NULL-free keys.
    clauses = []
    for i, key in enumerate(keys):
        prefix = [keys[j] == values[j] for j in range(i)]
        cmp = key < values[i] if descending else key > values[i]
        clauses.append(and_(*prefix, cmp))
    return or_(*clauses)
