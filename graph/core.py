"""GraphQL conventions shared by every area: global IDs, connections, user errors, auth guards."""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError

from db.pagination import Page
from domain.errors import DomainError, NotFound
from domain.ids import global_id
from domain.rbac import Principal
from graph.tokens import AuthFailure, TokenError

T = TypeVar("T")


@strawberry.enum(description="Machine-readable reason a mutation was refused.")
class ErrorCode(enum.Enum):
    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT", description="An input value is malformed or out of range; `field` names it."
    )
    INVALID_EMAIL = strawberry.enum_value("INVALID_EMAIL", description="Not a usable email address.")
    WEAK_PASSWORD = strawberry.enum_value(
        "WEAK_PASSWORD", description="The password is too short or lacks letters or digits."
    )
    INVALID_CURSOR = strawberry.enum_value(
        "INVALID_CURSOR",
        description="An `after` cursor that this list did not issue, or issued for another order.",
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="The object does not exist or is not visible to the caller."
    )
    DUPLICATE = strawberry.enum_value(
        "DUPLICATE",
        description="Another object already has this unique value (a name, email or external id).",
    )
    CONFLICT = strawberry.enum_value(
        "CONFLICT", description="The change conflicts with the object's current state or with another change."
    )
    PERMISSION_DENIED = strawberry.enum_value(
        "PERMISSION_DENIED", description="The caller's role does not allow this on this company."
    )
    UNAUTHENTICATED = strawberry.enum_value(
        "UNAUTHENTICATED",
        description="No valid token: sign in with `login` and send `Authorization: Bearer`.",
    )
    INVALID_CREDENTIALS = strawberry.enum_value("INVALID_CREDENTIALS", description="Wrong email or password.")
    TOO_MANY_ATTEMPTS = strawberry.enum_value(
        "TOO_MANY_ATTEMPTS",
        description="Too many failed sign-ins from this source for this account; retry later.",
    )
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION", description="The incident's status does not allow this action."
    )
    PAYLOAD_INVALID = strawberry.enum_value(
        "PAYLOAD_INVALID",
        description="An alert payload failed validation; the message lists each failing field.",
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="The company's alert rate limit is exhausted; retry later."
    )
    SERVICE_UNAVAILABLE = strawberry.enum_value(
        "SERVICE_UNAVAILABLE", description="The database is unavailable for a moment; retry."
    )


def area_error_codes(name: str, description: str, shared: Sequence[str], own: Mapping[str, str]) -> Any:
    """An area's error-code enum: the `shared` codes of ErrorCode it can answer, described as there,
    then its `own` codes with their descriptions (one place for what the common codes mean)."""
    definition = getattr(ErrorCode, "__strawberry_definition__")  # noqa: B009 - strawberry's enum data
    described = {v.name: v.description for v in definition.values}
    members = [(c, strawberry.enum_value(c, description=described[c])) for c in shared] + [
        (c, strawberry.enum_value(c, description=d)) for c, d in own.items()
    ]
    return strawberry.enum(enum.Enum(name, members), description=description)  # type: ignore[call-overload]


@strawberry.type(description="Why a mutation could not be applied; nothing was changed.")
class UserError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase path), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")


def user_error(
    exc: DomainError, codes: type[enum.Enum] = ErrorCode, error_type: Callable[..., Any] = UserError
) -> Any:
    """`exc` as a `userErrors` entry: `error_type` with its code from `codes` (an area with codes of its
    own passes both); a code the enum lacks reads as INVALID_INPUT."""
    try:
        code = codes(exc.code)
    except ValueError:
        code = codes("INVALID_INPUT")
    return error_type(field=exc.field, message=exc.message, code=code)


class PublicError(GraphQLError):
    """An error whose message is safe to show clients (MaskErrors lets it through)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def unauthenticated(error: TokenError | None = None) -> PublicError:
    """The error a field that needs a principal answers: `extensions.code` is `TOKEN_EXPIRED` or
    `UNAUTHENTICATED`, `extensions.reason` says which case (see the README, Authentication errors)."""
    error = error or TokenError(AuthFailure.MISSING)
    public = PublicError(error.message, error.code)
    if public.extensions is not None:
        public.extensions["reason"] = error.reason.value
    return public


def now(info: strawberry.Info) -> datetime:
    """The time a request acts at: the services' clock (injectable in tests), never the wall clock
    read in a resolver."""
    moment: datetime = info.context.services.clock.now()
    return moment


def require_principal(info: strawberry.Info) -> Principal:
    principal: Principal | None = info.context.principal
    if principal is None:
        raise unauthenticated(getattr(info.context, "auth_error", None))
    return principal


# ---- global IDs -------------------------------------------------------------------------------


def to_global_id(type_name: str, id_: uuid.UUID | int | str) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, id_))


def from_global_id(global_id: str, expected: str | Sequence[str], field: str = "id") -> uuid.UUID:
    """Decode a global ID of one of the expected types; anything else is NotFound (never a 500)."""
    kind, raw = parse_global_id(global_id)
    expected_types = (expected,) if isinstance(expected, str) else tuple(expected)
    if kind not in expected_types:
        raise NotFound(f"{expected_types[0].lower()} not found", field=field)
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound(f"{expected_types[0].lower()} not found", field=field) from exc


def parse_global_id(global_id: str) -> tuple[str, str]:
    try:
        if len(global_id) > 200:
            raise ValueError
        text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        kind, _, raw = text.partition(":")
        if not kind or not raw:
            raise ValueError
        return kind, raw
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return "", ""


@strawberry.interface(description="An object with a globally unique, opaque ID.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID; pass it to `node(id:)`.")


# ---- connections -------------------------------------------------------------------------------


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(description="Items precede `startCursor`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of this page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass as `after`.")


@strawberry.type(description="An item in a connection, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style, with keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(description="Paging information.")

    # strawberry types the decorator form of `field` as returning Any.
    @strawberry.field(description="The items of this page without cursors.")  # type: ignore[untyped-decorator]
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def connection(page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
    edges = [Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
    )


FIRST_DESCRIPTION = "Page size, 0 to 100 (default 20)."
AFTER_DESCRIPTION = "Cursor after which the page starts (`pageInfo.endCursor`)."


# ---- mutations ---------------------------------------------------------------------------------

P = TypeVar("P")


async def mutate(
    info: strawberry.Info,
    work: Callable[[Any], Any],
    payload: Callable[..., P],
    error: Callable[[DomainError], Any] = user_error,
) -> P:
    """Run `work(uow)` in one transaction; a DomainError becomes `userErrors` (through `error`) and
    nothing is written."""
    require_principal(info)
    try:
        async with info.context.uow() as uow:
            fields = await work(uow)
    except DomainError as exc:
        return payload(user_errors=[error(exc)])
    return payload(user_errors=[], **fields)


USER_ERRORS_DESCRIPTION = "Why the mutation was refused; empty on success."
INPUT_DESCRIPTION = "The mutation's arguments (see the input type)."
