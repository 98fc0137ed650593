"""List queries load related rows in batches: the statement count does not grow with the page size."""

from __future__ import annotations

import contextvars

from sqlalchemy import event

from domain.rbac import Role

_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


async def statements_for(gql, services, query: str, variables: dict, token: str) -> tuple[dict, list[str]]:
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
    assert "errors" not in body, body
    return body, statements


USERS = "query($n: Int) { users(first: $n) { nodes { email companies { name } } } }"
ASSETS = (
    "query($id: ID!, $n: Int) { company(id: $id) { assets(first: $n) { nodes { name company { name }"
    " dependsOn { name } } } } }"
)


async def test_user_list_with_companies_takes_the_same_statements_for_5_and_20_users(gql, factory, services):
    # given a company admin and 20 technicians of their company
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    for _ in range(20):
        await factory.user(Role.TECHNICIAN, [company])

    # when 5 and then 20 users are listed with their companies
    _, small = await statements_for(gql, services, USERS, {"n": 5}, admin.token)
    body, large = await statements_for(gql, services, USERS, {"n": 20}, admin.token)

    # then the count is the same
    assert len(body["data"]["users"]["nodes"]) == 20
    assert len(large) == len(small)


async def test_asset_list_with_company_and_dependencies_takes_the_same_statements(gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    db_id = await factory.asset(company, "db")
    for i in range(20):
        asset = await factory.asset(company, f"app-{i:02}")
        async with factory.uow() as uow:
            await uow.assets.update(asset, {}, [db_id])

    _, small = await statements_for(gql, services, ASSETS, {"id": company.gid, "n": 5}, admin.token)
    body, large = await statements_for(gql, services, ASSETS, {"id": company.gid, "n": 20}, admin.token)

    nodes = body["data"]["company"]["assets"]["nodes"]
    assert len(nodes) == 20
    assert all(n["company"]["name"] == company.name for n in nodes)
    assert all(n["dependsOn"] == [{"name": "db"}] for n in nodes)  # "app-*" sort before "db"
    assert len(large) == len(small)
