"""The Strawberry schema: root types merged from each area, plus the production extensions."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from domain.errors import DomainError
from graph.core import Node, PublicError
from graph.platform.schema import PlatformMutation, PlatformQuery
from graph.platform.types import Asset, AuditEntry, Company, User

log = logging.getLogger("graph.errors")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000


@strawberry.type(description="Read the MSP's data. Every list is a Relay connection with keyset cursors.")
class Query(PlatformQuery):
    @strawberry.field(description="Any object by its global ID (null if it does not exist or is not yours).")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        from graph.nodes import resolve_node

        return await resolve_node(info, id)


@strawberry.type(description="Change the MSP's data. Each mutation takes one `input` and returns `userErrors`.")
class Mutation(PlatformMutation):
    pass


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, PublicError):
        return False  # GraphQL validation / parse errors and our public errors are safe to show
    if isinstance(original, DomainError):
        # A rule refused a query argument (bad cursor, page size...): say which, with its code.
        error.extensions = {**(error.extensions or {}), "code": original.code, "field": original.field}
        return False
    log.error("internal error in GraphQL operation", exc_info=original)
    return True


def build_schema(extra_extensions: list[Any] | None = None) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[Company, User, Asset, AuditEntry],
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=512),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: ValidationCache(maxsize=512),
            lambda: MaskErrors(should_mask_error=_should_mask, error_message="Internal server error"),
            *(extra_extensions or []),
        ],
    )
