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
