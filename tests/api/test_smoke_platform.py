"""End-to-end smoke test of sign-in and scoped reads through the real app."""

from __future__ import annotations

from domain.rbac import Role
from tests.helpers import PASSWORD


async def test_login_then_me_and_companies_are_scoped(gql, factory):
    # given two companies and a technician of only the first
    mine = await factory.company()
    other = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [mine])

    # when the technician signs in and lists companies
    login = await gql(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
        "{ token user { email role } userErrors { code } } }",
        {"e": tech.email, "p": PASSWORD},
    )
    token = login["data"]["login"]["token"]
    body = await gql("{ me { email } companies(first: 100) { nodes { id name } } }", token=token)

    # then only its own company is visible
    assert login["data"]["login"]["userErrors"] == []
    assert login["data"]["login"]["user"] == {"email": tech.email, "role": "TECHNICIAN"}
    assert body["data"]["me"]["email"] == tech.email
    assert [c["name"] for c in body["data"]["companies"]["nodes"]] == [mine.name]
    assert other.name not in str(body)


async def test_nul_characters_are_refused_in_variables_and_literals(gql, factory):
    # given an MSP admin
    admin = await factory.user(Role.MSP_ADMIN)

    # when a NUL character arrives in a variable and in a query literal
    by_variable = await gql(
        "mutation($n: String!) { companyCreate(input: {name: $n}) { company { id } userErrors { code } } }",
        {"n": "Evil\u0000Corp"},
        token=admin.token,
    )
    by_literal = await gql('{ companies(search: "a\\u0000b") { nodes { id } } }', token=admin.token)

    # then both get a precise error and nothing runs
    for body in (by_variable, by_literal):
        assert body["data"] is None
        assert body["errors"][0]["message"] == "String values must not contain NUL (\\u0000) characters."
        assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}


async def test_a_malformed_cursor_is_a_typed_error_not_an_internal_one(gql, factory):
    admin = await factory.user(Role.MSP_ADMIN)
    body = await gql('{ companies(after: "not-a-cursor") { nodes { id } } }', token=admin.token)
    assert body["errors"][0]["message"] == "is not a valid cursor"
    assert body["errors"][0]["extensions"] == {"code": "INVALID_CURSOR", "field": "after"}
