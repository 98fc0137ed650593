"""The query cost of documents against the real schema: nested connections multiply, siblings add."""

from __future__ import annotations

from graphql import parse

from graph.query_cost import query_cost
from graph.schema import build_schema

SCHEMA = build_schema()._schema


def cost(query: str, variables: dict | None = None, operation: str | None = None) -> int:
    return query_cost(SCHEMA, parse(query), operation, variables)


def test_nested_connections_multiply_and_siblings_add():
    # given a page of incidents with alerts (whose incident has a timeline) and a timeline each
    query = (
        "{ incidents(first: 10) { edges { node { alerts(first: 5) { nodes { incident {"
        " timeline(first: 2) { nodes { kind } } } } } timeline { nodes { kind } } } } } }"
    )

    # then: 10 incidents + 10 x 5 alerts + 10 x 5 x 2 entries + 10 x 20 (default) entries
    assert cost(query) == 10 + 50 + 100 + 200


def test_the_named_operation_and_its_variables_are_costed():
    # given two operations, the second with a page size from a variable
    document = "query A { incidents(first: 1) { nodes { id } } } query B($n: Int) { alerts(first: $n) { nodes { id } } }"

    # then each is costed on its own, a null variable counting as the default page size
    assert cost(document, {"n": 70}, "B") == 70
    assert cost(document, {"n": None}, "B") == 20
    assert cost(document, {}, "A") == 1


def test_fragments_spread_inside_fragments_are_costed_once_each():
    # given fragments each spreading the next 300 times (about 10^10 paths if walked one by one)
    spreads = " ".join(["...F2"] * 300)
    query = (
        "{ incidents(first: 1) { ...F1 } }"
        f" fragment F1 on IncidentConnection {{ {spreads.replace('F2', 'N1')} }}"
        f" fragment N1 on IncidentConnection {{ nodes {{ ...N2 {spreads.replace('F2', 'N2')} }} }}"
        " fragment N2 on Incident { alerts(first: 3) { nodes { id } } }"
    )

    # then the cost is exact and comes at once: 1 + 300 x 301 x 3 alerts per incident
    assert cost(query) == 1 + 300 * 301 * 3


def test_introspection_costs_nothing():
    assert cost("{ __schema { types { name fields { name } } } __typename }") == 0
