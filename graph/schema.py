"""The Strawberry schema: root types merged from each area, plus the production extensions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

import strawberry
from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from domain.errors import DomainError
from graph.core import Node, PublicError
from graph.demo_mode.schema import DemoMutation, DemoQuery, DemoSubscription
from graph.incidents.schema import IncidentMutation, IncidentQuery, IncidentSubscription
from graph.incidents.types import Alert, Incident, IncidentEvent, MaintenanceWindow
from graph.ingest_graphql import IngestMutation
from graph.kpis.schema import KpiQuery, KpiSubscription
from graph.notifications.schema import NotificationMutation, NotificationQuery, NotificationSubscription
from graph.notifications.types import Notification
from graph.oncall.schema import OnCallMutation, OnCallQuery
from graph.platform.schema import PlatformMutation, PlatformQuery
from graph.platform.types import Asset, AuditEntry, Company, User
from graph.query_cost import MAX_QUERY_COST, QueryCostLimiter
from graph.remediation.schema import RemediationMutation, RemediationQuery, RemediationSubscription
from graph.remediation.types import Runbook
from graph.signatures.schema import SignatureMutation, SignatureQuery
from graph.signatures.types import SignatureAlias
from graph.sla.schema import SlaMutation, SlaQuery, SlaSubscription

log = logging.getLogger("graph.errors")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000


class _MaskErrors(MaskErrors):
    """strawberry's MaskErrors, without its runtime Protocol check on every result: the check is paid
    once per subscription event sent, where it is a large share of the event's cost (bench/README.md)."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


@strawberry.type(description="Read the MSP's data. Every list is a Relay connection with keyset cursors.")
class Query(
    PlatformQuery,
    IncidentQuery,
    RemediationQuery,
    NotificationQuery,
    SlaQuery,
    OnCallQuery,
    DemoQuery,
    KpiQuery,
    SignatureQuery,
):
    @strawberry.field(description="Any object by its global ID (null if it does not exist or is not yours).")
    async def node(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of any object.")],
    ) -> Node | None:
        from graph.nodes import resolve_node

        found: Node | None = await resolve_node(info, id)
        return found


@strawberry.type(
    description="Change the MSP's data. Each mutation takes one `input` and returns `userErrors`."
)
class Mutation(
    PlatformMutation,
    IncidentMutation,
    IngestMutation,
    RemediationMutation,
    NotificationMutation,
    SlaMutation,
    OnCallMutation,
    DemoMutation,
    SignatureMutation,
):
    pass


@strawberry.type(description="Live updates (graphql-transport-ws or graphql-ws); token in `connection_init`.")
class Subscription(
    IncidentSubscription,
    NotificationSubscription,
    RemediationSubscription,
    SlaSubscription,
    DemoSubscription,
    KpiSubscription,
):
    pass


class RejectNulCharacters(SchemaExtension):
    """PostgreSQL text cannot hold NUL characters: refuse them up front with a clear error."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if _has_nul(ctx.variables) or (
            ctx.graphql_document is not None and _document_has_nul(ctx.graphql_document)
        ):
            ctx.pre_execution_errors = [
                PublicError("String values must not contain NUL (\\u0000) characters.", "INVALID_INPUT")
            ]
        yield


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _document_has_nul(document: DocumentNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            nonlocal found
            found = found or "\x00" in node.value

    visit(document, Finder())
    return found


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, PublicError | GraphQLError):
        # GraphQL validation, parse and variable coercion errors (an unknown enum value in a
        # variable arrives wrapped in one) and our public errors are meant for the client.
        return False
    if isinstance(original, DomainError):
        # A rule refused a query argument (bad cursor, page size...): say which, with its code.
        error.extensions = {**(error.extensions or {}), "code": original.code, "field": original.field}
        return False
    log.error("internal error in GraphQL operation", exc_info=original)
    return True


class EventScopedExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with a memo of collected sub-fields per subscription event.

    graphql-core 3.3 builds each event's executor as a shallow copy of the subscription's, so they all
    share one memo of collected sub-fields, keyed by the identity of lists built anew for each event
    (and kept alive by the memo so the identities stay unique). Shared, it grows with every event for
    as long as the subscription lives: memory without bound, and garbage collections that walk the
    whole memo (bench/README.md has the figures).
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


def build_schema(extra_extensions: list[Any] | None = None) -> strawberry.Schema:
    # The depth and alias limits' rules are made once per schema: each QueryDepthLimiter or
    # MaxAliasesLimiter makes a new rule class, and ValidationCache keys on the rules, so one made per
    # request missed the cache every time and validated every document afresh (bench/README.md).
    limits = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    return strawberry.Schema(
        execution_context_class=EventScopedExecutor,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Company,
            User,
            Asset,
            AuditEntry,
            Alert,
            Incident,
            IncidentEvent,
            MaintenanceWindow,
            Runbook,
            Notification,
            SignatureAlias,
        ],
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=512),
            lambda: AddValidationRules(limits),
            lambda: ValidationCache(maxsize=512),
            lambda: QueryCostLimiter(max_cost=MAX_QUERY_COST),  # after validation: needs a valid document
            RejectNulCharacters,  # after ValidationCache, which would overwrite its error
            lambda: _MaskErrors(should_mask_error=_should_mask, error_message="Internal server error"),
            *(extra_extensions or []),
        ],
    )
