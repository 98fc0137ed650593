"""The GraphQL contract: the committed `graph/schema.graphql` is the schema served, and every type and
field carries a description for integrators reading GraphiQL."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    is_introspection_type,
    is_specified_scalar_type,
)

from graph.schema import build_schema

COMMITTED = Path(__file__).resolve().parents[2] / "graph" / "schema.graphql"


def test_committed_schema_matches_the_code():
    # given the schema the server builds
    exported = str(build_schema()) + "\n"

    # when it is compared with the committed SDL
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""

    # then they are identical: a contract change is a reviewed diff of graph/schema.graphql
    assert exported == committed, (
        "graph/schema.graphql is out of date with the code; regenerate it with `make schema` "
        "(alertwhisperer export-schema -o graph/schema.graphql) and review the diff"
    )


def test_every_type_field_and_argument_is_described():
    # given every type of the schema except GraphQL's built-in scalars and introspection types
    schema = build_schema()._schema
    ours = {
        n: t
        for n, t in schema.type_map.items()
        if not is_introspection_type(t) and not is_specified_scalar_type(t)
    }

    # when types, fields, input fields and arguments without a description are collected
    missing = [name for name, t in ours.items() if not (t.description or "").strip()]
    for name, t in ours.items():
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing += [
                f"{name}.{f}" for f, field in t.fields.items() if not (field.description or "").strip()
            ]
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            missing += [
                f"{name}.{f}({a})"
                for f, field in t.fields.items()
                for a, arg in field.args.items()
                if not (arg.description or "").strip()
            ]

    # then there are none
    assert missing == [], f"add a description to: {', '.join(missing)}"
    assert {"Query", "Mutation", "Company", "Asset", "User", "AuditEntry"} <= set(ours)
    assert any(isinstance(t, GraphQLEnumType) for t in ours.values())
