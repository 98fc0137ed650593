"""Closed sets are GraphQL enums: every value is described for integrators, an unknown value is refused
by GraphQL validation before anything runs, and each enum maps to the spelling stored in the database."""

from __future__ import annotations

import logging
import sys

import anyio

from domain.rbac import Role
from tests.helpers import gid, unique
from tests.live import server_env

ENUMS = """
{ __schema { types { kind name enumValues(includeDeprecated: true) {
    name description isDeprecated deprecationReason
} } } }"""
USER_CREATE = """
mutation($i: UserCreateInput!) {
  userCreate(input: $i) { user { category } userErrors { field message code } }
}"""
ASSET_CREATE = """
mutation($i: AssetCreateInput!) { assetCreate(input: $i) { asset { type } userErrors { code } } }"""
ASSET_UPDATE = """
mutation($i: AssetUpdateInput!) { assetUpdate(input: $i) { asset { type } userErrors { code } } }"""
CONFIG = """
mutation($i: CorrelationConfigUpdateInput!) {
  correlationConfigUpdate(input: $i) { company { correlation { autoResolveTools } } userErrors { code } }
}"""
TECHNICIANS = "query($c: Category) { technicians(category: $c) { nodes { email category } } }"


async def _enums(gql, token: str) -> dict[str, list[dict]]:
    body = await gql(ENUMS, token=token)
    return {
        t["name"]: t["enumValues"]
        for t in body["data"]["__schema"]["types"]
        if t["kind"] == "ENUM" and not t["name"].startswith("__")
    }


async def test_every_enum_value_of_the_served_schema_is_described(gql, factory):
    # given an authenticated integrator
    user = await factory.user(Role.MSP_ADMIN)

    # when they read every enum of the live schema by introspection
    enums = await _enums(gql, user.token)

    # then each value has a description, and the closed sets of the API are among them
    missing = [f"{e}.{v['name']}" for e, values in enums.items() for v in values if not v["description"]]
    assert missing == [], f"describe these enum values: {', '.join(missing)}"
    assert {"Category", "AssetType", "MonitoringTool", "Severity", "ErrorCode", "IncidentEventKind"} <= set(
        enums
    )


async def test_the_old_duplicate_timeline_kind_is_deprecated_but_the_error_code_is_not(gql, factory):
    # given an authenticated integrator
    user = await factory.user(Role.MSP_ADMIN)

    # when they read the two DUPLICATE values
    enums = await _enums(gql, user.token)
    kind = next(v for v in enums["IncidentEventKind"] if v["name"] == "DUPLICATE")
    code = next(v for v in enums["ErrorCode"] if v["name"] == "DUPLICATE")

    # then only the timeline kind, no longer written, is deprecated, with the reason
    assert (kind["isDeprecated"], kind["deprecationReason"]) == (
        True,
        "No longer written: a repeat is counted in `Incident.duplicateCount`.",
    )
    assert (code["isDeprecated"], code["deprecationReason"]) == (False, None)


async def test_unknown_category_asset_type_or_tool_is_a_validation_error(gql, factory, services, caplog):
    # given an MSP admin, a company and one of its assets
    msp = await factory.user(Role.MSP_ADMIN)
    company = await factory.company()
    asset = await factory.asset(company, name="web-1", type="server")
    email = f"{unique('tech')}@example.com"
    technician = {
        "email": email,
        "name": "Tech",
        "password": "first-login-42",
        "role": "TECHNICIAN",
        "companyIds": [company.gid],
    }
    before = await services.pool.fetchrow(
        "SELECT auto_resolve_tools FROM companies WHERE id = $1", company.id
    )

    # when they send a category, asset types and a tool that are not in the enums, or a stored spelling
    caplog.set_level(logging.ERROR, logger="graph.errors")
    answers = [
        await gql(USER_CREATE, {"i": technician | {"category": "PLUMBING"}}, token=msp.token),
        await gql(USER_CREATE, {"i": technician | {"category": "Network"}}, token=msp.token),
        await gql(
            ASSET_CREATE, {"i": {"companyId": company.gid, "name": "t", "type": "TOASTER"}}, token=msp.token
        ),
        await gql(ASSET_UPDATE, {"i": {"id": gid("Asset", asset), "type": "server"}}, token=msp.token),
        await gql(
            CONFIG,
            {"i": {"companyId": company.gid, "autoResolveTools": ["NAGIOS", "SYSLOG"]}},
            token=msp.token,
        ),
        await gql(TECHNICIANS, {"c": "Plumbing"}, token=msp.token),
        await gql("{ technicians(category: PLUMBING) { nodes { email } } }", token=msp.token),
    ]

    # then each is a GraphQL validation error naming the enum, nothing ran and nothing was stored
    assert [(a["data"], [e["message"] for e in a["errors"]]) for a in answers] == [
        (
            None,
            [
                "Variable '$i' has invalid value at .category: Value 'PLUMBING' does not exist in 'Category' enum."
            ],
        ),
        (
            None,
            [
                "Variable '$i' has invalid value at .category: Value 'Network' does not exist in 'Category' enum. Did you mean the enum value 'NETWORK'?"
            ],
        ),
        (
            None,
            ["Variable '$i' has invalid value at .type: Value 'TOASTER' does not exist in 'AssetType' enum."],
        ),
        (
            None,
            [
                "Variable '$i' has invalid value at .type: Value 'server' does not exist in 'AssetType' enum. Did you mean the enum value 'SERVER'?"
            ],
        ),
        (
            None,
            [
                "Variable '$i' has invalid value at .autoResolveTools[1]: Value 'SYSLOG' does not exist in 'MonitoringTool' enum."
            ],
        ),
        (None, ["Variable '$c' has invalid value: Value 'Plumbing' does not exist in 'Category' enum."]),
        (None, ["Value 'PLUMBING' does not exist in 'Category' enum."]),
    ]
    assert "internal error" not in caplog.text
    assert await services.pool.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
    assert [
        r["name"]
        for r in await services.pool.fetch("SELECT name FROM assets WHERE company_id = $1", company.id)
    ] == ["web-1"]
    assert await services.pool.fetchval("SELECT type FROM assets WHERE id = $1", asset) == "server"
    after = await services.pool.fetchrow("SELECT auto_resolve_tools FROM companies WHERE id = $1", company.id)
    assert after == before
    assert await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1", msp.id) == 0


async def test_enums_are_stored_in_the_database_spelling(gql, factory, services):
    # given an MSP admin and a company
    msp = await factory.user(Role.MSP_ADMIN)
    company = await factory.company()
    email = f"{unique('tech')}@example.com"

    # when they create a database technician and a container asset, and set the auto-resolve tools
    user = await gql(
        USER_CREATE,
        {
            "i": {
                "email": email,
                "name": "Tech",
                "password": "first-login-42",
                "role": "TECHNICIAN",
                "companyIds": [company.gid],
                "category": "DATABASE",
            }
        },
        token=msp.token,
    )
    asset = await gql(
        ASSET_CREATE, {"i": {"companyId": company.gid, "name": "c-1", "type": "CONTAINER"}}, token=msp.token
    )
    config = await gql(
        CONFIG, {"i": {"companyId": company.gid, "autoResolveTools": ["NEWRELIC", "SPLUNK"]}}, token=msp.token
    )
    listed = await gql(TECHNICIANS, {"c": "DATABASE"}, token=msp.token)

    # then the API answers enum names and the database holds the spelling it always had
    assert user["data"]["userCreate"] == {"user": {"category": "DATABASE"}, "userErrors": []}
    assert asset["data"]["assetCreate"] == {"asset": {"type": "CONTAINER"}, "userErrors": []}
    assert config["data"]["correlationConfigUpdate"] == {
        "company": {"correlation": {"autoResolveTools": ["NEWRELIC", "SPLUNK"]}},
        "userErrors": [],
    }
    assert {"email": email, "category": "DATABASE"} in listed["data"]["technicians"]["nodes"]
    assert await services.pool.fetchval("SELECT category FROM users WHERE email = $1", email) == "Database"
    assert (
        await services.pool.fetchval(
            "SELECT type FROM assets WHERE company_id = $1 AND name = 'c-1'", company.id
        )
        == "container"
    )
    assert await services.pool.fetchval(
        "SELECT auto_resolve_tools FROM companies WHERE id = $1", company.id
    ) == ["newrelic", "splunk"]


async def _cli(database_url: str, home, *args: str):
    return await anyio.run_process(
        [sys.executable, "-m", "graph.cli", "user-create", *args],
        env=server_env(database_url, home),
        check=False,
    )


async def test_cli_user_create_checks_the_category(database_url, tmp_path, services):
    # given two new addresses
    refused, created = f"{unique('cli')}@example.com", f"{unique('cli')}@example.com"
    common = ["--password", "first-login-42", "--role", "msp_admin"]

    # when the command line creates a user with an unknown category, and one in lower case
    bad = await _cli(database_url, tmp_path, "--email", refused, *common, "--category", "plumbing")
    good = await _cli(database_url, tmp_path, "--email", created, *common, "--category", "network")

    # then the first is refused with the categories named and nothing stored; the second is stored
    # in the canonical spelling
    assert (bad.returncode, bad.stdout) == (2, b"")
    assert bad.stderr.decode() == (
        "error: category: must be one of Network, Database, Server, Storage, Security, Application,"
        " Cloud, Other\n"
    )
    assert await services.pool.fetchval("SELECT count(*) FROM users WHERE email = $1", refused) == 0
    assert good.returncode == 0, good.stderr.decode()
    assert await services.pool.fetchval("SELECT category FROM users WHERE email = $1", created) == "Network"
