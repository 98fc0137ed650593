"""Companies: creation with one-time credentials, renaming, webhook security, rate limits, listing."""

from __future__ import annotations

import uuid

from adapters.crypto import api_key_hash
from domain.rbac import Role
from tests.helpers import gid, unique

CREATE = """
mutation($i: CompanyCreateInput!) {
  companyCreate(input: $i) {
    company { id name webhookSecurity { hmacEnabled apiKeyHint } rateLimit { perSecond burst } }
    apiKey hmacSecret userErrors { field message code }
  }
}"""
UPDATE = """
mutation($i: CompanyUpdateInput!) { companyUpdate(input: $i) { company { name } userErrors { field message code } } }"""
RATE = """
mutation($i: CompanyRateLimitUpdateInput!) {
  companyRateLimitUpdate(input: $i) { company { rateLimit { perSecond burst } } userErrors { field message code } }
}"""
SECURITY = """
mutation($i: CompanyWebhookSecurityUpdateInput!) {
  companyWebhookSecurityUpdate(input: $i) {
    company { webhookSecurity { hmacEnabled } } hmacSecret userErrors { field message code }
  }
}"""
ROTATE = """
mutation($i: CompanyApiKeyRotateInput!) {
  companyApiKeyRotate(input: $i) { company { webhookSecurity { apiKeyHint } } apiKey userErrors { field message code } }
}"""


async def _row(services, company_id):
    return await services.pool.fetchrow("SELECT * FROM companies WHERE id = $1", company_id)


async def test_company_create_returns_credentials_once(gql, factory, services, app):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)
    name = unique("Acme")

    # when they create a company
    body = await gql(CREATE, {"i": {"name": f"  {name}  "}}, token=msp.token)

    # then it exists with defaults, and its API key and HMAC secret are returned (stored only hashed/encrypted)
    result = body["data"]["companyCreate"]
    assert result["userErrors"] == []
    assert result["company"]["name"] == name
    assert result["company"]["rateLimit"] == {"perSecond": 100.0, "burst": 500}
    assert result["company"]["webhookSecurity"] == {
        "hmacEnabled": False,
        "apiKeyHint": result["apiKey"][:7] + "…",
    }
    assert result["apiKey"].startswith("aw_")
    assert len(result["hmacSecret"]) == 64
    row = await services.pool.fetchrow("SELECT * FROM companies WHERE name = $1", name)
    assert row["api_key_hash"] == api_key_hash(result["apiKey"])
    assert result["apiKey"].encode() not in bytes(row["hmac_secret_enc"])
    assert services.cipher.decrypt(row["hmac_secret_enc"]) == result["hmacSecret"]
    # and reading the company later never shows them again
    again = await gql(
        "query($id: ID!) { company(id: $id) { webhookSecurity { apiKeyHint } } }",
        {"id": result["company"]["id"]},
        token=msp.token,
    )
    assert result["apiKey"] not in str(again)


async def test_company_names_are_unique_ignoring_case(gql, factory, services):
    # given a company
    existing = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    count = await services.pool.fetchval("SELECT count(*) FROM companies")

    # when another is created with the same name in other case
    body = await gql(CREATE, {"i": {"name": existing.name.upper()}}, token=msp.token)

    # then it is refused as a duplicate and nothing is stored
    assert body["data"]["companyCreate"] == {
        "company": None,
        "apiKey": None,
        "hmacSecret": None,
        "userErrors": [
            {"field": "name", "message": "a company with this name already exists", "code": "DUPLICATE"}
        ],
    }
    assert await services.pool.fetchval("SELECT count(*) FROM companies") == count


async def test_company_create_refuses_blank_and_oversized_names(gql, factory, services):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)
    count = await services.pool.fetchval("SELECT count(*) FROM companies")

    # when they send a blank name and a 10,000-character one
    blank = await gql(CREATE, {"i": {"name": "   "}}, token=msp.token)
    huge = await gql(CREATE, {"i": {"name": "x" * 10_000}}, token=msp.token)

    # then each is refused with INVALID_INPUT and nothing is stored
    assert blank["data"]["companyCreate"]["userErrors"] == [
        {"field": "name", "message": "must not be blank", "code": "INVALID_INPUT"}
    ]
    assert huge["data"]["companyCreate"]["userErrors"] == [
        {"field": "name", "message": "must be at most 120 characters", "code": "INVALID_INPUT"}
    ]
    assert await services.pool.fetchval("SELECT count(*) FROM companies") == count


async def test_company_rename_and_duplicate_rename(gql, factory, services):
    # given two companies
    company, other = await factory.company(), await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    new_name = unique("Renamed")

    # when one is renamed, then renamed onto the other's name
    renamed = await gql(UPDATE, {"i": {"id": company.gid, "name": new_name}}, token=msp.token)
    before = await _row(services, company.id)
    clash = await gql(UPDATE, {"i": {"id": company.gid, "name": other.name}}, token=msp.token)

    # then the first works and the second is refused with the row unchanged
    assert renamed["data"]["companyUpdate"] == {"company": {"name": new_name}, "userErrors": []}
    assert clash["data"]["companyUpdate"] == {
        "company": None,
        "userErrors": [
            {"field": "name", "message": "a company with this name already exists", "code": "DUPLICATE"}
        ],
    }
    assert await _row(services, company.id) == before


async def test_company_update_with_malformed_or_unknown_ids(gql, factory, services):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)
    asset_gid = gid("Asset", await factory.asset(await factory.company()))

    # when they rename with an unknown ID, a garbage ID, an oversized ID and an asset's ID
    results = [
        (await gql(UPDATE, {"i": {"id": i, "name": "x"}}, token=msp.token))["data"]["companyUpdate"]
        for i in (gid("Company", uuid.uuid4()), "garbage!", "A" * 5000, asset_gid)
    ]

    # then each is "company not found"
    assert (
        results
        == [
            {
                "company": None,
                "userErrors": [{"field": "id", "message": "company not found", "code": "NOT_FOUND"}],
            }
        ]
        * 4
    )


async def test_rate_limit_update_and_its_bounds(gql, factory, services):
    # given a company and its admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the admin sets a valid limit, then out-of-range ones
    ok = await gql(RATE, {"i": {"id": company.gid, "perSecond": 2.5, "burst": 10}}, token=admin.token)
    before = await _row(services, company.id)
    bad = [
        (await gql(RATE, {"i": {"id": company.gid, "perSecond": p, "burst": b}}, token=admin.token))["data"][
            "companyRateLimitUpdate"
        ]["userErrors"]
        for p, b in ((0, 10), (1e9, 10), (1, 0), (1, 2_000_000))
    ]

    # then the valid one applies and the others are refused precisely, changing nothing
    assert ok["data"]["companyRateLimitUpdate"] == {
        "company": {"rateLimit": {"perSecond": 2.5, "burst": 10}},
        "userErrors": [],
    }
    per_second = {"field": "perSecond", "message": "must be between 0.01 and 100000", "code": "INVALID_INPUT"}
    burst = {"field": "burst", "message": "must be between 1 and 1000000", "code": "INVALID_INPUT"}
    assert bad == [[per_second], [per_second], [burst], [burst]]
    assert await _row(services, company.id) == before


async def test_webhook_security_toggle_and_secret_rotation(gql, factory, services):
    # given a company and its admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the admin turns HMAC on without rotating, then rotates the secret
    on = await gql(SECURITY, {"i": {"id": company.gid, "hmacEnabled": True}}, token=admin.token)
    rotated = await gql(SECURITY, {"i": {"id": company.gid, "rotateSecret": True}}, token=admin.token)

    # then the first shows no secret, the second shows the new one (which is what is now stored)
    assert on["data"]["companyWebhookSecurityUpdate"] == {
        "company": {"webhookSecurity": {"hmacEnabled": True}},
        "hmacSecret": None,
        "userErrors": [],
    }
    secret = rotated["data"]["companyWebhookSecurityUpdate"]["hmacSecret"]
    assert secret
    assert secret != company.hmac_secret
    assert services.cipher.decrypt((await _row(services, company.id))["hmac_secret_enc"]) == secret


async def test_api_key_rotation_replaces_the_key(gql, factory, services):
    # given a company and its admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the admin rotates the API key
    body = await gql(ROTATE, {"i": {"id": company.gid}}, token=admin.token)

    # then only the new key's hash is stored
    result = body["data"]["companyApiKeyRotate"]
    assert result["userErrors"] == []
    row = await _row(services, company.id)
    assert row["api_key_hash"] == api_key_hash(result["apiKey"]) != api_key_hash(company.api_key)
    assert result["company"]["webhookSecurity"]["apiKeyHint"] == result["apiKey"][:7] + "…"


async def test_companies_list_pages_by_name_and_searches(gql, factory):
    # given three companies sharing a unique word
    word = unique("zeta")
    names = [f"{word} {suffix}" for suffix in ("charlie", "alpha", "bravo")]
    for name in names:
        await factory.company(name)
    msp = await factory.user(Role.MSP_ADMIN)
    query = "query($s: String, $a: String) { companies(first: 2, after: $a, search: $s) { nodes { name } pageInfo { hasNextPage endCursor } } }"

    # when an MSP admin searches for the word (in capitals), two at a time
    first = (await gql(query, {"s": word.upper()}, token=msp.token))["data"]["companies"]
    second = (await gql(query, {"s": word, "a": first["pageInfo"]["endCursor"]}, token=msp.token))["data"][
        "companies"
    ]

    # then the matches come back by name, split across pages
    assert [c["name"] for c in first["nodes"] + second["nodes"]] == sorted(names)
    assert (first["pageInfo"]["hasNextPage"], second["pageInfo"]["hasNextPage"]) == (True, False)


async def test_company_by_malformed_id_is_null(gql, factory):
    # given a user
    msp = await factory.user(Role.MSP_ADMIN)

    # when they look up malformed IDs
    results = [
        await gql("query($id: ID!) { company(id: $id) { id } }", {"id": i}, token=msp.token)
        for i in ("", "%%%", gid("Company", "not-a-uuid"), gid("User", uuid.uuid4()))
    ]

    # then each is simply null
    assert results == [{"data": {"company": None}}] * 4
