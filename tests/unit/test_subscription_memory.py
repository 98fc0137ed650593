"""A long-lived subscription must not keep memory per event it delivers.

graphql-core 3.3 shares one memo of collected sub-fields between all events of a subscription, keyed
by lists built anew for each event: without `EventScopedExecutor` it kept a dozen objects per event
for the subscription's whole life.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator

import strawberry
from graphql.execution.collect_fields import CollectedFields

from graph.schema import EventScopedExecutor, build_schema

EVENTS = 300


@strawberry.type
class Inner:
    id: strawberry.ID


@strawberry.type
class Change:
    kind: str
    inner: Inner


@strawberry.type
class Query:
    ok: bool = True


def _subscription_schema(executor: type | None) -> strawberry.Schema:
    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def changes(self) -> AsyncGenerator[Change, None]:
            for i in range(EVENTS):
                yield Change(kind="CREATED", inner=Inner(id=strawberry.ID(str(i))))

    return strawberry.Schema(query=Query, subscription=Subscription, execution_context_class=executor)


def _memo_objects() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, CollectedFields))


async def _memo_growth(schema: strawberry.Schema) -> int:
    """CollectedFields objects still alive while the subscription is open, after all its events."""
    before = _memo_objects()
    stream = await schema.subscribe("subscription { changes { kind inner { id } } }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    received = []
    async for result in stream:
        assert result.errors is None
        assert result.data is not None
        received.append(result.data["changes"]["inner"]["id"])
        if len(received) == EVENTS:
            grown = _memo_objects() - before  # the subscription (and its executor) is still alive here
    assert received == [str(i) for i in range(EVENTS)]
    return grown


async def test_each_event_gets_its_own_memo_so_nothing_accumulates() -> None:
    assert await _memo_growth(_subscription_schema(EventScopedExecutor)) < 10


async def test_the_default_executor_accumulates_which_is_why_ours_exists() -> None:
    # If graphql-core stops sharing the memo, this fails and EventScopedExecutor can go.
    assert await _memo_growth(_subscription_schema(None)) >= EVENTS


def test_the_application_schema_uses_it() -> None:
    assert build_schema().execution_context_class is EventScopedExecutor
