"""The depth and alias limits hold on every request, also once the document's validation is cached
(their rules are made once per schema, so ValidationCache can reuse a validation)."""

from __future__ import annotations

from domain.rbac import Role
from graph.schema import MAX_ALIASES, MAX_DEPTH


async def test_too_many_aliases_are_refused_every_time(gql, factory):
    admin = await factory.user(Role.MSP_ADMIN)
    query = "query { " + " ".join(f"a{n}: me {{ id }}" for n in range(MAX_ALIASES + 1)) + " }"
    for _ in range(2):  # the second answer comes from the validation cache
        body = await gql(query, token=admin.token)
        assert body["errors"][0]["message"] == f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"


async def test_too_deep_a_query_is_refused_every_time_and_a_shallow_one_runs(gql, factory):
    admin = await factory.user(Role.MSP_ADMIN)
    inner = "id"
    for _ in range(MAX_DEPTH + 1):
        inner = 'node(id: "x") { ... on Incident { ' + inner + " } }"
    deep = "query { " + inner + " }"
    for _ in range(2):
        body = await gql(deep, token=admin.token)
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert "errors" not in await gql("query { me { id } }", token=admin.token)
