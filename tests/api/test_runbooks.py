"""Runbooks through the API: CRUD per role, versions, archiving, tenant isolation, validation, and the
global library seeded by the migration."""

from __future__ import annotations

import uuid

from domain.rbac import Role
from tests.helpers import gid, unique

FIELDS = (
    "id name description category signatures signaturePatterns risk platform commands "
    "parameters { name type default description allowedPattern } healthCheck autoApprove timeoutSeconds "
    "version archivedAt company { id }"
)
ERRORS = "userErrors { field message code }"
CREATE = (
    f"mutation($i: RunbookCreateInput!) {{ runbookCreate(input: $i) {{ runbook {{ {FIELDS} }} {ERRORS} }} }}"
)
UPDATE = (
    f"mutation($i: RunbookUpdateInput!) {{ runbookUpdate(input: $i) {{ runbook {{ {FIELDS} }} {ERRORS} }} }}"
)
ARCHIVE = f"mutation($i: RunbookArchiveInput!) {{ runbookArchive(input: $i) {{ runbook {{ {FIELDS} }} {ERRORS} }} }}"
LIST = """
query($c: ID, $f: RunbookFilter, $first: Int, $after: String) {
  runbooks(companyId: $c, filter: $f, first: $first, after: $after) {
    edges { cursor node { id name risk platform company { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ONE = f"""
query($id: ID!) {{
  runbook(id: $id) {{ {FIELDS} versions {{ version name commands risk timeoutSeconds }} }}
}}"""


def _input(company=None, **over):
    data = {
        "name": unique("Restart app"),
        "description": "Restarts the app unit.",
        "category": "SERVICES",
        "signatures": ["app_down"],
        "signaturePatterns": ["app.*down"],
        "risk": "LOW",
        "platform": "LINUX",
        "commands": ["systemctl restart {{unit}}"],
        "parameters": [
            {
                "name": "unit",
                "type": "STRING",
                "default": "app",
                "description": "unit",
                "allowedPattern": "[a-z]+",
            }
        ],
        "healthCheck": "systemctl is-active --quiet {{unit}}",
        "autoApprove": True,
        "timeoutSeconds": 120,
    }
    if company is not None:
        data["companyId"] = company.gid
    data.update(over)
    return data


async def _rows(services, name):
    return await services.pool.fetch(
        "SELECT r.version, v.version AS v FROM runbooks r LEFT JOIN runbook_versions v ON v.runbook_id = r.id "
        "WHERE r.name = $1 ORDER BY v.version",
        name,
    )


async def _audit(services, entity_id):
    rows = await services.pool.fetch(
        "SELECT action FROM audit_log WHERE entity_type = 'runbook' AND entity_id = $1 ORDER BY id", entity_id
    )
    return [r["action"] for r in rows]


def _key(global_id):
    import base64

    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":", 1)[1]


async def _create(gql, token, data):
    body = await gql(CREATE, {"i": data}, token=token)
    return body["data"]["runbookCreate"]


async def test_a_company_admin_creates_a_runbook_of_their_company(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    data = _input(company)

    # when they create a runbook
    result = await _create(gql, admin.token, data)

    # then it is version 1 of their company, exactly as given, and audited
    assert result["userErrors"] == []
    runbook = result["runbook"]
    assert {k: v for k, v in runbook.items() if k != "id"} == {
        **{k: v for k, v in data.items() if k != "companyId"},
        "version": 1,
        "archivedAt": None,
        "company": {"id": company.gid},
    }
    assert [tuple(r) for r in await _rows(services, data["name"])] == [(1, 1)]
    assert await _audit(services, _key(runbook["id"])) == ["runbook.create"]


async def test_update_makes_a_new_version_and_the_old_one_stays_readable(gql, factory, services):
    # given a runbook at version 1
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    created = (await _create(gql, admin.token, _input(company)))["runbook"]

    # when its commands and risk change
    body = await gql(
        UPDATE,
        {"i": {"id": created["id"], "commands": ["systemctl try-restart {{unit}}"], "risk": "MEDIUM"}},
        token=admin.token,
    )

    # then it is at version 2, and both versions are readable, newest first
    result = body["data"]["runbookUpdate"]
    assert result["userErrors"] == []
    assert (result["runbook"]["version"], result["runbook"]["risk"]) == (2, "MEDIUM")
    assert result["runbook"]["commands"] == ["systemctl try-restart {{unit}}"]
    one = (await gql(ONE, {"id": created["id"]}, token=admin.token))["data"]["runbook"]
    assert [(v["version"], v["commands"], v["risk"]) for v in one["versions"]] == [
        (2, ["systemctl try-restart {{unit}}"], "MEDIUM"),
        (1, ["systemctl restart {{unit}}"], "LOW"),
    ]
    assert await _audit(services, _key(created["id"])) == ["runbook.create", "runbook.update"]

    # and an update that changes nothing makes no version
    same = await gql(UPDATE, {"i": {"id": created["id"], "risk": "MEDIUM"}}, token=admin.token)
    assert same["data"]["runbookUpdate"]["runbook"]["version"] == 2
    assert len(await _rows(services, created["name"])) == 2


async def test_archive_hides_a_runbook_from_the_list_but_not_from_runbook(gql, factory):
    # given a company's runbook
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    created = (await _create(gql, admin.token, _input(company)))["runbook"]

    # when it is archived
    body = await gql(ARCHIVE, {"i": {"id": created["id"]}}, token=admin.token)

    # then it is no longer listed by default, but is with includeArchived, and stays readable
    result = body["data"]["runbookArchive"]
    assert result["userErrors"] == []
    assert result["runbook"]["archivedAt"] is not None

    async def names(f):
        data = await gql(LIST, {"c": company.gid, "f": f, "first": 100}, token=admin.token)
        return {e["node"]["name"] for e in data["data"]["runbooks"]["edges"]}

    assert created["name"] not in await names({"text": created["name"]})
    assert created["name"] in await names({"text": created["name"], "includeArchived": True})
    assert (await gql(ONE, {"id": created["id"]}, token=admin.token))["data"]["runbook"]["version"] == 1

    # and it can be neither archived again nor changed
    again = await gql(ARCHIVE, {"i": {"id": created["id"]}}, token=admin.token)
    assert again["data"]["runbookArchive"]["userErrors"] == [
        {"field": "id", "message": "the runbook is already archived", "code": "INVALID_TRANSITION"}
    ]
    changed = await gql(UPDATE, {"i": {"id": created["id"], "name": "x"}}, token=admin.token)
    assert changed["data"]["runbookUpdate"]["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_the_migration_seeds_the_global_library(gql, factory):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)

    # when they list the library's LINUX and WINDOWS runbooks, page by page
    seen, after = [], None
    while True:
        data = await gql(LIST, {"first": 100, "after": after}, token=msp.token)
        page = data["data"]["runbooks"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then at least 20 global runbooks are there, of both platforms
    library = [n for n in seen if n["company"] is None]
    assert len(library) >= 20
    assert {n["platform"] for n in library} == {"LINUX", "WINDOWS"}
    disk = await gql(LIST, {"f": {"text": "disk_space_low", "platform": "LINUX"}}, token=msp.token)
    assert "Disk cleanup (Linux)" in [e["node"]["name"] for e in disk["data"]["runbooks"]["edges"]]


async def test_the_library_is_global_to_msp_admins_only(gql, factory, services):
    # given a company admin and an MSP admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    data = _input()

    # when the company admin creates a global runbook, it is refused and nothing is written
    refused = await _create(gql, admin.token, data)
    assert refused == {
        "runbook": None,
        "userErrors": [
            {
                "field": None,
                "message": "only MSP admins manage the global runbook library",
                "code": "PERMISSION_DENIED",
            }
        ],
    }
    assert await _rows(services, data["name"]) == []

    # and the MSP admin may, and the company admin then reads it but cannot change or archive it
    created = (await _create(gql, msp.token, data))["runbook"]
    assert created["company"] is None
    seen = await gql(LIST, {"c": company.gid, "f": {"text": data["name"]}}, token=admin.token)
    assert [e["node"]["id"] for e in seen["data"]["runbooks"]["edges"]] == [created["id"]]
    for query, name in ((UPDATE, "runbookUpdate"), (ARCHIVE, "runbookArchive")):
        variables = {"i": {"id": created["id"], **({"name": "mine"} if name == "runbookUpdate" else {})}}
        body = await gql(query, variables, token=admin.token)
        assert body["data"][name]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    assert [tuple(r) for r in await _rows(services, data["name"])] == [(1, 1)]


async def test_tenant_isolation(gql, factory, services):
    # given a runbook of company B and an admin and technician of company A
    a, b = await factory.company(), await factory.company()
    admin_a = await factory.user(Role.COMPANY_ADMIN, [a])
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])
    theirs = (await _create(gql, admin_b.token, _input(b)))["runbook"]

    for user in (admin_a, tech_a):
        # then A's users see the library but not B's runbook, by list, by id or through node
        listed = await gql(LIST, {"first": 100, "f": {"text": theirs["name"]}}, token=user.token)
        assert listed["data"]["runbooks"]["edges"] == []
        by_company = await gql(LIST, {"c": b.gid}, token=user.token)
        assert by_company["data"]["runbooks"]["edges"] == []
        assert (await gql(ONE, {"id": theirs["id"]}, token=user.token))["data"]["runbook"] is None
        node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": theirs["id"]}, token=user.token)
        assert node["data"]["node"] is None
        library = await gql(LIST, {"c": a.gid, "f": {"text": "Disk cleanup"}}, token=user.token)
        assert len(library["data"]["runbooks"]["edges"]) >= 2

    # and A's admin can neither change nor archive it, nor create one in B: it does not exist for them
    body = await gql(UPDATE, {"i": {"id": theirs["id"], "name": "hijacked"}}, token=admin_a.token)
    assert body["data"]["runbookUpdate"]["userErrors"] == [
        {"field": "id", "message": "runbook not found", "code": "NOT_FOUND"}
    ]
    body = await gql(ARCHIVE, {"i": {"id": theirs["id"]}}, token=admin_a.token)
    assert body["data"]["runbookArchive"]["userErrors"][0]["code"] == "NOT_FOUND"
    into_b = _input(b)
    body = await _create(gql, admin_a.token, into_b)
    assert body["userErrors"] == [{"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}]
    assert await _rows(services, into_b["name"]) == []
    assert [tuple(r) for r in await _rows(services, theirs["name"])] == [(1, 1)]

    # and node() resolves B's runbook for B's admin
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": theirs["id"]}, token=admin_b.token)
    assert node["data"]["node"] == {"id": theirs["id"]}


async def test_a_technician_reads_but_cannot_write(gql, factory, services):
    # given a technician of a company with a runbook
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    created = (await _create(gql, admin.token, _input(company)))["runbook"]

    # then they read it
    assert (await gql(ONE, {"id": created["id"]}, token=tech.token))["data"]["runbook"]["id"] == created["id"]

    # but every write is refused, and nothing changes
    data = _input(company)
    assert (await _create(gql, tech.token, data))["userErrors"][0]["code"] == "PERMISSION_DENIED"
    body = await gql(UPDATE, {"i": {"id": created["id"], "name": "x"}}, token=tech.token)
    assert body["data"]["runbookUpdate"]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    body = await gql(ARCHIVE, {"i": {"id": created["id"]}}, token=tech.token)
    assert body["data"]["runbookArchive"]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    assert await _rows(services, data["name"]) == []
    assert [tuple(r) for r in await _rows(services, created["name"])] == [(1, 1)]
    assert await _audit(services, _key(created["id"])) == ["runbook.create"]


async def test_invalid_runbooks_are_refused_with_typed_errors_and_nothing_written(gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    cases = [
        ({"commands": []}, "commands", "must hold at least one command"),
        (
            {"commands": ["systemctl restart {{unit}} {{other}}"]},
            "commands",
            "{{other}} is used but not declared",
        ),
        (
            {"commands": ["true"], "healthCheck": None},
            "parameters",
            "unit is declared but no command uses it",
        ),
        ({"timeoutSeconds": 10}, "timeoutSeconds", "must be between 30 and 7200 seconds"),
        ({"signaturePatterns": ["("]}, "signaturePatterns", None),
        (
            {"parameters": [{"name": "unit", "type": "INTEGER", "default": "app"}]},
            "parameters",
            "unit must be an integer",
        ),
        (
            {"commands": ["echo x"] * 51, "healthCheck": None, "parameters": []},
            "commands",
            "at most 50 commands",
        ),
    ]
    for over, field, message in cases:
        data = _input(company, **over)
        result = await _create(gql, admin.token, data)
        assert result["runbook"] is None, over
        (error,) = result["userErrors"]
        assert (error["field"], error["code"]) == (field, "INVALID_INPUT"), over
        if message is not None:
            assert error["message"] == message
        assert await _rows(services, data["name"]) == []

    # and a duplicate name of a live runbook of the same company is a DUPLICATE
    first = _input(company)
    await _create(gql, admin.token, first)
    again = await _create(gql, admin.token, {**first, "name": first["name"].upper()})
    assert again["userErrors"] == [
        {"field": "name", "message": "a runbook with this name already exists", "code": "DUPLICATE"}
    ]


async def test_assets_carry_a_platform(gql, factory):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    create = """mutation($i: AssetCreateInput!) { assetCreate(input: $i) {
        asset { id platform cloudInstanceId } userErrors { field message code } } }"""
    body = await gql(
        create,
        {
            "i": {
                "companyId": company.gid,
                "name": unique("web"),
                "cloudInstanceId": "i-0abc",
                "platform": "LINUX",
            }
        },
        token=admin.token,
    )
    asset = body["data"]["assetCreate"]["asset"]
    assert (asset["platform"], asset["cloudInstanceId"]) == ("LINUX", "i-0abc")
    update = """mutation($i: AssetUpdateInput!) { assetUpdate(input: $i) {
        asset { platform } userErrors { field message code } } }"""
    body = await gql(update, {"i": {"id": asset["id"], "platform": "WINDOWS"}}, token=admin.token)
    assert body["data"]["assetUpdate"]["asset"] == {"platform": "WINDOWS"}
    body = await gql(update, {"i": {"id": asset["id"], "platform": None}}, token=admin.token)
    assert body["data"]["assetUpdate"]["asset"] == {"platform": None}


async def test_unknown_ids_are_not_found(gql, factory):
    msp = await factory.user(Role.MSP_ADMIN)
    missing = gid("Runbook", uuid.uuid4())
    assert (await gql(ONE, {"id": missing}, token=msp.token))["data"]["runbook"] is None
    body = await gql(UPDATE, {"i": {"id": missing, "name": "x"}}, token=msp.token)
    assert body["data"]["runbookUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"
    body = await gql(UPDATE, {"i": {"id": gid("Asset", uuid.uuid4()), "name": "x"}}, token=msp.token)
    assert body["data"]["runbookUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"
