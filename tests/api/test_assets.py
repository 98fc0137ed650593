"""Assets: create, update and delete through the API, validation, duplicates and dependency topology."""

from __future__ import annotations

import json
import uuid

import pytest

from domain.rbac import Role
from tests.helpers import gid, unique

FIELDS = "id name type ipAddress cloudInstanceId tags isCritical discovered dependsOn { name } company { id }"
CREATE = f"""
mutation($i: AssetCreateInput!) {{ assetCreate(input: $i) {{ asset {{ {FIELDS} }} userErrors {{ field message code }} }} }}"""
UPDATE = f"""
mutation($i: AssetUpdateInput!) {{ assetUpdate(input: $i) {{ asset {{ {FIELDS} }} userErrors {{ field message code }} }} }}"""
DELETE = """
mutation($i: AssetDeleteInput!) {
  assetDelete(input: $i) { deletedAssetId asset { name } userErrors { field message code } }
}"""


async def _admin_of_new_company(factory):
    company = await factory.company()
    return company, await factory.user(Role.COMPANY_ADMIN, [company])


async def _assets(services, company_id):
    return await services.pool.fetch("SELECT * FROM assets WHERE company_id = $1 ORDER BY name", company_id)


async def _edges(services, company_id):
    return await services.pool.fetch(
        "SELECT a.name AS asset, d.name AS depends_on FROM asset_dependencies e"
        " JOIN assets a ON a.id = e.asset_id JOIN assets d ON d.id = e.depends_on_id"
        " WHERE e.company_id = $1 ORDER BY 1, 2",
        company_id,
    )


async def test_asset_create_with_every_field(gql, factory, services):
    # given a company admin and an existing asset to depend on
    company, admin = await _admin_of_new_company(factory)
    db = await factory.asset(company, name="db-1")

    # when they create an asset with every field
    body = await gql(
        CREATE,
        {
            "i": {
                "companyId": company.gid,
                "name": " web-1 ",
                "type": "SERVER",
                "ipAddress": "2001:DB8::1",
                "cloudInstanceId": "i-0abc",
                "tags": {"env": "prod", "tier": 1, "pci": True},
                "isCritical": True,
                "dependsOn": [gid("Asset", db)],
            }
        },
        token=admin.token,
    )

    # then it is stored normalised, with its dependency, and audited
    result = body["data"]["assetCreate"]
    assert result["userErrors"] == []
    asset = result["asset"]
    assert {k: v for k, v in asset.items() if k != "id"} == {
        "name": "web-1",
        "type": "SERVER",
        "ipAddress": "2001:db8::1",
        "cloudInstanceId": "i-0abc",
        "tags": {"env": "prod", "tier": 1, "pci": True},
        "isCritical": True,
        "discovered": False,
        "dependsOn": [{"name": "db-1"}],
        "company": {"id": company.gid},
    }
    assert [tuple(e) for e in await _edges(services, company.id)] == [("web-1", "db-1")]
    audit = await services.pool.fetchrow(
        "SELECT actor_id, company_id, after::text FROM audit_log WHERE action = 'asset.create' AND actor_id = $1",
        admin.id,
    )
    assert (audit["actor_id"], audit["company_id"]) == (admin.id, company.id)
    assert '"is_critical": true' in audit["after"]


async def test_asset_create_defaults(gql, factory):
    # given a company admin
    company, admin = await _admin_of_new_company(factory)

    # when they create an asset with only a name
    body = await gql(CREATE, {"i": {"companyId": company.gid, "name": "plain"}}, token=admin.token)

    # then the defaults apply
    asset = body["data"]["assetCreate"]["asset"]
    assert (
        asset["type"],
        asset["ipAddress"],
        asset["cloudInstanceId"],
        asset["tags"],
        asset["isCritical"],
        asset["dependsOn"],
    ) == ("SERVER", None, None, {}, False, [])


def _many_ids(n: int) -> list[str]:
    return [gid("Asset", uuid.uuid4()) for _ in range(n)]


BAD_INPUTS = [
    ({"name": "   "}, "name", "must be 1 to 255 characters", "INVALID_INPUT"),
    ({"name": "n" * 256}, "name", "must be 1 to 255 characters", "INVALID_INPUT"),
    ({"name": "n" * 100_000}, "name", "must be 1 to 255 characters", "INVALID_INPUT"),
    ({"ipAddress": "999.1.1.1"}, "ipAddress", "is not a valid IP address", "INVALID_INPUT"),
    ({"ipAddress": "1" * 50_000}, "ipAddress", "is not a valid IP address", "INVALID_INPUT"),
    ({"cloudInstanceId": "i" * 65}, "cloudInstanceId", "must be at most 64 characters", "INVALID_INPUT"),
    ({"tags": ["a", "b"]}, "tags", "must be a JSON object of key/value pairs", "INVALID_INPUT"),
    ({"tags": "env=prod"}, "tags", "must be a JSON object of key/value pairs", "INVALID_INPUT"),
    (
        {"tags": {f"k{i}": "v" for i in range(51)}},
        "tags",
        "at most 50 tags, keys up to 100 and values (text, number or boolean) up to 500 characters",
        "INVALID_INPUT",
    ),
    (
        {"tags": {"nested": {"a": 1}}},
        "tags",
        "at most 50 tags, keys up to 100 and values (text, number or boolean) up to 500 characters",
        "INVALID_INPUT",
    ),
    (
        {"tags": {"big": "v" * 501}},
        "tags",
        "at most 50 tags, keys up to 100 and values (text, number or boolean) up to 500 characters",
        "INVALID_INPUT",
    ),
    (
        {"tags": {"k" * 101: "v"}},
        "tags",
        "at most 50 tags, keys up to 100 and values (text, number or boolean) up to 500 characters",
        "INVALID_INPUT",
    ),
    ({"dependsOn": _many_ids(101)}, "dependsOn", "at most 100 dependencies", "INVALID_INPUT"),
    ({"dependsOn": ["garbage"]}, "dependsOn", "asset not found", "NOT_FOUND"),
    ({"dependsOn": _many_ids(1)}, "dependsOn", "asset not found", "NOT_FOUND"),
    ({"dependsOn": [gid("Company", uuid.uuid4())]}, "dependsOn", "asset not found", "NOT_FOUND"),
]


@pytest.mark.parametrize(
    ("fields", "field", "message", "code"),
    BAD_INPUTS,
    ids=[f"{f}-{i}" for i, (_, f, _, _) in enumerate(BAD_INPUTS)],
)
async def test_asset_create_refuses_bad_input(gql, factory, services, fields, field, message, code):
    # given a company admin
    company, admin = await _admin_of_new_company(factory)

    # when they create an asset with one bad field
    body = await gql(CREATE, {"i": {"companyId": company.gid, "name": "ok"} | fields}, token=admin.token)

    # then exactly that field is refused and no asset or audit entry is stored
    assert body["data"]["assetCreate"] == {
        "asset": None,
        "userErrors": [{"field": field, "message": message, "code": code}],
    }
    assert await _assets(services, company.id) == []
    assert await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1", admin.id) == 0


async def test_asset_tags_refuse_non_finite_numbers(client, factory, services):
    # given a company admin
    company, admin = await _admin_of_new_company(factory)
    variables = {"i": {"companyId": company.gid, "name": "x", "tags": {"ratio": "NAN"}}}
    document = "mutation($i: AssetCreateInput!) { assetCreate(input: $i) { userErrors { field code } } }"
    body = json.dumps({"query": document, "variables": variables}).replace('"NAN"', "NaN")

    # when they send a tag value of NaN (which Python's JSON parser accepts but JSONB cannot store)
    resp = await client.post(
        "/graphql",
        content=body,
        headers={"authorization": f"Bearer {admin.token}", "content-type": "application/json"},
    )

    # then it is an ordinary INVALID_INPUT and nothing is stored
    assert resp.json() == {
        "data": {"assetCreate": {"userErrors": [{"field": "tags", "code": "INVALID_INPUT"}]}}
    }
    assert await _assets(services, company.id) == []


async def test_asset_create_in_unknown_company(gql, factory):
    # given an MSP admin (who sees every company)
    msp = await factory.user(Role.MSP_ADMIN)

    # when they create an asset in a company that does not exist, or with a malformed company ID
    unknown = await gql(
        CREATE, {"i": {"companyId": gid("Company", uuid.uuid4()), "name": "x"}}, token=msp.token
    )
    malformed = await gql(CREATE, {"i": {"companyId": "nope", "name": "x"}}, token=msp.token)

    # then both are "company not found"
    expected = {
        "asset": None,
        "userErrors": [{"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}],
    }
    assert unknown["data"]["assetCreate"] == malformed["data"]["assetCreate"] == expected


async def test_asset_names_are_unique_per_company_ignoring_case(gql, factory, services):
    # given a company with an asset "Web-1", and another company
    company, admin = await _admin_of_new_company(factory)
    await factory.asset(company, name="Web-1")
    other = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    before = await _assets(services, company.id)

    # when an asset "web-1" is added to the same company, and to the other company
    same = await gql(CREATE, {"i": {"companyId": company.gid, "name": "web-1"}}, token=admin.token)
    elsewhere = await gql(CREATE, {"i": {"companyId": other.gid, "name": "web-1"}}, token=msp.token)

    # then the first is a duplicate (nothing stored) and the second is fine
    assert same["data"]["assetCreate"] == {
        "asset": None,
        "userErrors": [
            {"field": "name", "message": "an asset with this name already exists", "code": "DUPLICATE"}
        ],
    }
    assert await _assets(services, company.id) == before
    assert elsewhere["data"]["assetCreate"]["userErrors"] == []


async def test_external_ids_are_unique_per_company_and_can_be_changed_and_cleared(gql, factory, services):
    # given an asset known to the CMDB as cmdb-1, and another company
    company, admin = await _admin_of_new_company(factory)
    first = await gql(
        CREATE, {"i": {"companyId": company.gid, "name": "db-1", "externalId": " cmdb-1 "}}, token=admin.token
    )
    other = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)

    # when a second asset of the company claims cmdb-1, and one of the other company does too
    same = await gql(
        CREATE, {"i": {"companyId": company.gid, "name": "db-2", "externalId": "cmdb-1"}}, token=admin.token
    )
    elsewhere = await gql(
        CREATE, {"i": {"companyId": other.gid, "name": "db-1", "externalId": "cmdb-1"}}, token=msp.token
    )

    # then the id is stored trimmed, the same company's duplicate is refused, the other company's is fine
    asset = first["data"]["assetCreate"]["asset"]
    assert (
        await services.pool.fetchval(
            "SELECT external_id FROM assets WHERE name = 'db-1' AND company_id = $1", company.id
        )
    ) == "cmdb-1"
    assert same["data"]["assetCreate"] == {
        "asset": None,
        "userErrors": [
            {
                "field": "externalId",
                "message": "another asset of this company has this external id",
                "code": "DUPLICATE",
            }
        ],
    }
    assert elsewhere["data"]["assetCreate"]["userErrors"] == []

    # and an update changes it, then null clears it
    query = "mutation($i: AssetUpdateInput!) { assetUpdate(input: $i) { asset { externalId } userErrors { field } } }"
    changed = await gql(query, {"i": {"id": asset["id"], "externalId": "cmdb-9"}}, token=admin.token)
    cleared = await gql(query, {"i": {"id": asset["id"], "externalId": None}}, token=admin.token)
    assert changed["data"]["assetUpdate"] == {"asset": {"externalId": "cmdb-9"}, "userErrors": []}
    assert cleared["data"]["assetUpdate"] == {"asset": {"externalId": None}, "userErrors": []}


async def test_asset_update_changes_only_given_fields(gql, factory, services):
    # given an asset with every field set
    company, admin = await _admin_of_new_company(factory)
    asset = await factory.asset(
        company,
        name="web-1",
        type="server",
        ip_address="10.0.0.1",
        cloud_instance_id="i-1",
        tags={"env": "prod"},
        is_critical=True,
    )

    # when the admin changes the type, clears the IP address and sends null for the name
    body = await gql(
        UPDATE,
        {"i": {"id": gid("Asset", asset), "type": "DATABASE", "ipAddress": None, "name": None}},
        token=admin.token,
    )

    # then only those change; the rest is kept, and the change is audited with before and after
    result = body["data"]["assetUpdate"]
    assert result["userErrors"] == []
    assert {
        k: result["asset"][k] for k in ("name", "type", "ipAddress", "cloudInstanceId", "tags", "isCritical")
    } == {
        "name": "web-1",
        "type": "DATABASE",
        "ipAddress": None,
        "cloudInstanceId": "i-1",
        "tags": {"env": "prod"},
        "isCritical": True,
    }
    audit = await services.pool.fetchrow(
        "SELECT before->>'type' AS b, after->>'type' AS a, after->>'ip_address' AS ip FROM audit_log"
        " WHERE action = 'asset.update' AND actor_id = $1",
        admin.id,
    )
    assert (audit["b"], audit["a"], audit["ip"]) == ("server", "database", None)


async def test_asset_update_refusals_change_nothing(gql, factory, services):
    # given two assets where web depends on db
    company, admin = await _admin_of_new_company(factory)
    db = await factory.asset(company, name="db")
    web = await factory.asset(company, name="web")
    await gql(UPDATE, {"i": {"id": gid("Asset", web), "dependsOn": [gid("Asset", db)]}}, token=admin.token)
    rows, edges = await _assets(services, company.id), await _edges(services, company.id)
    audit = await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1", admin.id)

    # when the admin renames web onto db's name, makes db depend on web (a cycle), makes web depend on
    # itself, sends a bad IP together with a valid rename, or names an unknown asset
    results = [
        (await gql(UPDATE, {"i": i}, token=admin.token))["data"]["assetUpdate"]["userErrors"]
        for i in (
            {"id": gid("Asset", web), "name": "DB"},
            {"id": gid("Asset", db), "dependsOn": [gid("Asset", web)]},
            {"id": gid("Asset", web), "dependsOn": [gid("Asset", web)]},
            {"id": gid("Asset", web), "name": "renamed", "ipAddress": "nope"},
            {"id": gid("Asset", uuid.uuid4()), "name": "x"},
        )
    ]

    # then each is refused precisely and nothing changed or was audited
    assert results == [
        [{"field": "name", "message": "an asset with this name already exists", "code": "DUPLICATE"}],
        [{"field": "dependsOn", "message": "would create a dependency cycle", "code": "INVALID_INPUT"}],
        [{"field": "dependsOn", "message": "an asset cannot depend on itself", "code": "INVALID_INPUT"}],
        [{"field": "ipAddress", "message": "is not a valid IP address", "code": "INVALID_INPUT"}],
        [{"field": "id", "message": "asset not found", "code": "NOT_FOUND"}],
    ]
    assert await _assets(services, company.id) == rows
    assert await _edges(services, company.id) == edges
    assert (
        await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1", admin.id) == audit
    )


async def test_longer_dependency_cycles_are_refused(gql, factory, services):
    # given a chain a -> b -> c
    company, admin = await _admin_of_new_company(factory)
    a, b, c = [await factory.asset(company, name=n) for n in "abc"]
    await gql(UPDATE, {"i": {"id": gid("Asset", a), "dependsOn": [gid("Asset", b)]}}, token=admin.token)
    await gql(UPDATE, {"i": {"id": gid("Asset", b), "dependsOn": [gid("Asset", c)]}}, token=admin.token)

    # when c is made to depend on a, and a new asset is made to depend on a
    cycle = await gql(
        UPDATE, {"i": {"id": gid("Asset", c), "dependsOn": [gid("Asset", a)]}}, token=admin.token
    )
    fine = await gql(
        CREATE,
        {"i": {"companyId": company.gid, "name": "d", "dependsOn": [gid("Asset", a)]}},
        token=admin.token,
    )

    # then the cycle is refused and the new leaf is fine
    assert cycle["data"]["assetUpdate"]["userErrors"] == [
        {"field": "dependsOn", "message": "would create a dependency cycle", "code": "INVALID_INPUT"}
    ]
    assert fine["data"]["assetCreate"]["userErrors"] == []
    assert [tuple(e) for e in await _edges(services, company.id)] == [("a", "b"), ("b", "c"), ("d", "a")]


async def test_dependencies_are_replaced_and_cleared(gql, factory, services):
    # given web depending on db1
    company, admin = await _admin_of_new_company(factory)
    db1, db2, web = [await factory.asset(company, name=n) for n in ("db1", "db2", "web")]
    await gql(UPDATE, {"i": {"id": gid("Asset", web), "dependsOn": [gid("Asset", db1)]}}, token=admin.token)

    # when the list is replaced (with a repeat), then left out, then emptied
    replaced = await gql(
        UPDATE, {"i": {"id": gid("Asset", web), "dependsOn": [gid("Asset", db2)] * 2}}, token=admin.token
    )
    kept = await gql(UPDATE, {"i": {"id": gid("Asset", web), "isCritical": True}}, token=admin.token)
    cleared = await gql(UPDATE, {"i": {"id": gid("Asset", web), "dependsOn": []}}, token=admin.token)

    # then each step shows the expected dependencies
    assert replaced["data"]["assetUpdate"]["asset"]["dependsOn"] == [{"name": "db2"}]
    assert kept["data"]["assetUpdate"]["asset"]["dependsOn"] == [{"name": "db2"}]
    assert cleared["data"]["assetUpdate"]["asset"]["dependsOn"] == []
    assert await _edges(services, company.id) == []


async def test_editing_a_discovered_asset_makes_it_inventory(gql, factory, services):
    # given an asset discovered from an alert
    company, admin = await _admin_of_new_company(factory)
    asset = await factory.asset(company, name="found")
    await services.pool.execute("UPDATE assets SET discovered = true WHERE id = $1", asset)

    # when an admin marks it critical
    body = await gql(UPDATE, {"i": {"id": gid("Asset", asset), "isCritical": True}}, token=admin.token)

    # then it is no longer "discovered"
    assert body["data"]["assetUpdate"]["asset"]["discovered"] is False


async def test_asset_delete_removes_it_and_its_edges(gql, factory, services):
    # given web depending on db, and db depending on disk
    company, admin = await _admin_of_new_company(factory)
    disk, db, web = [await factory.asset(company, name=n) for n in ("disk", "db", "web")]
    await gql(UPDATE, {"i": {"id": gid("Asset", web), "dependsOn": [gid("Asset", db)]}}, token=admin.token)
    await gql(UPDATE, {"i": {"id": gid("Asset", db), "dependsOn": [gid("Asset", disk)]}}, token=admin.token)

    # when db is deleted, and then deleted again
    body = await gql(DELETE, {"i": {"id": gid("Asset", db)}}, token=admin.token)
    again = await gql(DELETE, {"i": {"id": gid("Asset", db)}}, token=admin.token)

    # then it is gone with every edge touching it, the deletion is audited, and the repeat is NOT_FOUND
    assert body["data"]["assetDelete"] == {
        "deletedAssetId": gid("Asset", db),
        "asset": {"name": "db"},
        "userErrors": [],
    }
    assert [a["name"] for a in await _assets(services, company.id)] == ["disk", "web"]
    assert await _edges(services, company.id) == []
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": gid("Asset", db)}, token=admin.token)
    assert node == {"data": {"node": None}}
    before = await services.pool.fetchval(
        "SELECT before->>'depends_on' FROM audit_log WHERE action = 'asset.delete' AND entity_id = $1",
        str(db),
    )
    assert before == f'["{disk}"]'
    assert again["data"]["assetDelete"] == {
        "deletedAssetId": None,
        "asset": None,
        "userErrors": [{"field": "id", "message": "asset not found", "code": "NOT_FOUND"}],
    }


async def test_company_assets_page_filter_and_search(gql, factory):
    # given a company with critical and ordinary assets
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    for name, critical in (("web-2", False), ("db-1", True), ("web-1", True), ("lb-1", False)):
        await factory.asset(company, name=name, is_critical=critical)
    query = """query($id: ID!, $after: String, $critical: Boolean, $search: String) {
      company(id: $id) { assets(first: 2, after: $after, critical: $critical, search: $search) {
        nodes { name } pageInfo { hasNextPage endCursor } } } }"""

    # when a technician pages through all assets, and filters critical ones and searches
    first = (await gql(query, {"id": company.gid}, token=tech.token))["data"]["company"]["assets"]
    second = await gql(query, {"id": company.gid, "after": first["pageInfo"]["endCursor"]}, token=tech.token)
    critical = await gql(query, {"id": company.gid, "critical": True}, token=tech.token)
    search = await gql(query, {"id": company.gid, "search": "WEB"}, token=tech.token)

    # then the pages are in name order and the filters narrow as asked
    second = second["data"]["company"]["assets"]
    assert [a["name"] for a in first["nodes"] + second["nodes"]] == ["db-1", "lb-1", "web-1", "web-2"]
    assert (first["pageInfo"]["hasNextPage"], second["pageInfo"]["hasNextPage"]) == (True, False)
    assert [a["name"] for a in critical["data"]["company"]["assets"]["nodes"]] == ["db-1", "web-1"]
    assert [a["name"] for a in search["data"]["company"]["assets"]["nodes"]] == ["web-1", "web-2"]


async def test_asset_mutations_need_a_token(gql, factory, services):
    # given a company
    company = await factory.company()

    # when an anonymous caller creates an asset
    body = await gql(CREATE, {"i": {"companyId": company.gid, "name": unique("anon")}})

    # then it is refused as unauthenticated and nothing is stored
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    assert await _assets(services, company.id) == []
