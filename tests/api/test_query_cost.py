"""The query cost rule: the nodes nested connections may return are bounded before anything runs."""

from __future__ import annotations

import contextvars
import re

from graphql import get_introspection_query
from sqlalchemy import event

from domain.rbac import Role

_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting_cost", default=False)


async def run_counting(gql, services, query: str, variables: dict, token: str) -> tuple[dict, list[str]]:
    """The answer to `query` and the SQL statements the request ran."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if _counting.get():
            statements.append(statement)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    token_var = _counting.set(True)
    try:
        body = await gql(query, variables, token=token)
    finally:
        _counting.reset(token_var)
        event.remove(engine, "before_cursor_execute", count)
    return body, statements


def too_expensive(cost: int) -> list[tuple[str, dict]]:
    return [
        (
            f"Query cost {cost} exceeds the limit of 10000. The cost is the number of nodes the query's"
            " connections may return: the product of `first` (20 when omitted) along each path of"
            " nested connections, summed over all of them. Ask for smaller pages.",
            {"code": "QUERY_TOO_EXPENSIVE", "cost": cost, "limit": 10000},
        )
    ]


def errors_of(body: dict) -> list[tuple[str, dict]]:
    return [(e["message"], e["extensions"]) for e in body["errors"]]


def touched_incidents(statements: list[str]) -> bool:
    return any(re.search(r"\bFROM (incidents|alerts|incident_events)\b", s) for s in statements)


NESTED = (
    "query($n: Int, $m: Int) { incidents(first: $n) { nodes { id alerts(first: $m) { nodes { id } }"
    " timeline { nodes { kind } } } } }"
)


async def test_nested_pages_over_the_cost_limit_are_refused_before_any_resolver_runs(gql, factory, services):
    # given a technician
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when they ask for 100 incidents with 99 alerts and (by default) 20 timeline entries each
    body, statements = await run_counting(gql, services, NESTED, {"n": 100, "m": 99}, tech.token)

    # then the query is refused with its cost, 100 + 100 x 99 + 100 x 20, and the limit
    assert body["data"] is None
    assert errors_of(body) == too_expensive(12_000)
    # and no incident, alert or timeline was read
    assert not touched_incidents(statements)


async def test_a_query_at_the_cost_limit_runs(gql, factory, services):
    # given a technician
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when they ask for 100 incidents with 80 alerts and 20 timeline entries each: 100 + 8000 + 2000
    body, statements = await run_counting(gql, services, NESTED, {"n": 100, "m": 79}, tech.token)
    at_limit = await gql(
        "{ incidents(first: 100) { nodes { alerts(first: 80) { nodes { id } } timeline(first: 19) {"
        " nodes { kind } } } } }",
        token=tech.token,
    )

    # then it runs (the cheaper one as well)
    assert "errors" not in body, body
    assert touched_incidents(statements)
    assert "errors" not in at_limit, at_limit


async def test_aliases_and_fragments_each_count_towards_the_cost(gql, factory, services):
    # given a technician
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when one fragment of 100 incidents with 50 alerts each is asked for under two aliases
    body = await gql(
        "query { a: incidents(first: 100) { ...Page } b: incidents(first: 100) { ...Page } }"
        " fragment Page on IncidentConnection { nodes { ... on Incident { alerts(first: 50) { nodes { id } } } } }",
        token=tech.token,
    )

    # then both count: 2 x (100 + 100 x 50)
    assert body["data"] is None
    assert errors_of(body) == too_expensive(10_200)


async def test_the_cost_limit_applies_under_node_and_to_variable_defaults(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when a query reaches incidents through `node` with page sizes from variable defaults
    body = await gql(
        "query($id: ID!, $n: Int = 100, $m: Int = 100) { node(id: $id) { ... on Company {"
        " assets(first: $n) { nodes { name } } } } incidents(first: $n) { nodes { alerts(first: $m) {"
        " nodes { id } } } } }",
        {"id": company.gid},
        token=admin.token,
    )

    # then every connection counts: 100 assets + 100 incidents + 100 x 100 alerts
    assert body["data"] is None
    assert errors_of(body) == too_expensive(10_200)


async def test_introspection_is_not_limited_by_the_cost_rule(gql):
    # when a client introspects the schema, as GraphiQL and code generators do
    body = await gql(get_introspection_query(descriptions=True))

    # then it gets the schema
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
