"""The audit log: an entry for every accepted change, none for refused ones, append-only in the
database, readable and exportable by admins within their scope."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from domain.alerts import Tool
from domain.rbac import Role
from graph.core import from_global_id
from tests.helpers import PASSWORD, MadeCompany, gid, unique

AUDIT_LOG = """
query($first: Int, $after: String, $f: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $f) {
    nodes { id action entityType entityId companyId actorEmail before after requestId at }
    pageInfo { hasNextPage endCursor }
  }
}"""
EXPORT = """
query($format: AuditExportFormat!, $f: AuditLogFilter) {
  auditLogExport(format: $format, filter: $f) { format contentType content rowCount truncated }
}"""


def _mutation(name: str, input_type: str, payload: str = "") -> str:
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {payload} userErrors {{ field message code }} }} }}"


async def _entries(gql, token: str, **flt) -> list[dict]:
    body = await gql(AUDIT_LOG, {"first": 100, "f": flt}, token=token)
    assert "errors" not in body, body
    return body["data"]["auditLog"]["nodes"]


async def test_each_accepted_change_is_audited_with_actor_and_before_after(gql, factory):
    # given an MSP admin and a company admin of a new company
    msp = await factory.user(Role.MSP_ADMIN)
    name = unique("Audited")
    created = await gql(
        _mutation("companyCreate", "CompanyCreateInput", "company { id } apiKey hmacSecret"),
        {"i": {"name": name}},
        token=msp.token,
    )
    company_gid = created["data"]["companyCreate"]["company"]["id"]
    admin = await factory.user(
        Role.COMPANY_ADMIN, [MadeCompany(from_global_id(company_gid, "Company"), company_gid, name, "", "")]
    )

    # when they change the company, its assets and its people
    steps = [
        (
            msp,
            _mutation("companyUpdate", "CompanyUpdateInput", "company { id }"),
            {"id": company_gid, "name": name + "-2"},
        ),
        (
            admin,
            _mutation("companyRateLimitUpdate", "CompanyRateLimitUpdateInput", "company { id }"),
            {"id": company_gid, "perSecond": 3.5, "burst": 7},
        ),
        (admin, _mutation("companyApiKeyRotate", "CompanyApiKeyRotateInput", "apiKey"), {"id": company_gid}),
        (
            admin,
            _mutation("companyWebhookSecurityUpdate", "CompanyWebhookSecurityUpdateInput", "hmacSecret"),
            {"id": company_gid, "hmacEnabled": True, "rotateSecret": True},
        ),
        (
            admin,
            _mutation("assetCreate", "AssetCreateInput", "asset { id }"),
            {"companyId": company_gid, "name": "db-1", "type": "DATABASE"},
        ),
    ]
    secrets = [created["data"]["companyCreate"]]
    for caller, document, variables in steps:
        body = await gql(document, {"i": variables}, token=caller.token)
        assert next(iter(body["data"].values()))["userErrors"] == [], body
        secrets.append(next(iter(body["data"].values())))
    asset_gid = (await _entries(gql, admin.token, action="asset.create"))[0]["entityId"]
    asset_gid = gid("Asset", asset_gid)
    for document, variables in [
        (_mutation("assetUpdate", "AssetUpdateInput", "asset { id }"), {"id": asset_gid, "isCritical": True}),
        (_mutation("assetDelete", "AssetDeleteInput", "deletedAssetId"), {"id": asset_gid}),
        (
            _mutation("userCreate", "UserCreateInput", "user { id }"),
            {
                "email": f"{unique('tech')}@example.com",
                "name": "Tess",
                "password": "long-enough-1",
                "role": "TECHNICIAN",
                "companyIds": [company_gid],
                "category": "DATABASE",
            },
        ),
    ]:
        body = await gql(document, {"i": variables}, token=admin.token)
        assert next(iter(body["data"].values()))["userErrors"] == [], body

    # then the company's audit log holds each change, newest first, with who did it and what changed
    entries = await _entries(gql, msp.token, companyId=company_gid)
    by_action: dict[str, dict] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], entry)
    assert [e["action"] for e in entries] == [
        "user.create",
        "asset.delete",
        "asset.update",
        "asset.create",
        "company.webhook_security_update",
        "company.api_key_rotate",
        "company.rate_limit_update",
        "company.update",
        "user.create",  # the company admin, made by the test factory as the system
        "company.create",
    ]
    assert {e["actorEmail"] for e in entries[:7]} == {admin.email}
    assert by_action["company.create"]["actorEmail"] == msp.email
    assert by_action["company.create"]["before"] is None
    assert by_action["company.create"]["after"]["name"] == name
    assert (by_action["company.update"]["before"]["name"], by_action["company.update"]["after"]["name"]) == (
        name,
        name + "-2",
    )
    rate = by_action["company.rate_limit_update"]
    assert (rate["before"]["rate_limit_per_second"], rate["before"]["rate_limit_burst"]) == (100, 500)
    assert (rate["after"]["rate_limit_per_second"], rate["after"]["rate_limit_burst"]) == (3.5, 7)
    rotate = by_action["company.api_key_rotate"]
    assert rotate["before"]["api_key_hint"] != rotate["after"]["api_key_hint"]
    hmac = by_action["company.webhook_security_update"]
    assert hmac["before"]["signed_integrations"] == []
    assert set(hmac["after"]["signed_integrations"]) == {t.value for t in Tool}
    assert (
        by_action["asset.update"]["before"]["is_critical"],
        by_action["asset.update"]["after"]["is_critical"],
    ) == (False, True)
    assert by_action["asset.delete"]["before"]["name"] == "db-1"
    assert by_action["asset.delete"]["after"] is None
    assert by_action["user.create"]["after"]["category"] == "Database"
    assert all(e["companyId"] == company_gid and e["requestId"] for e in entries)
    # and no credential (nor its hash) is ever recorded
    shown = [v for payload in secrets for k, v in payload.items() if k in ("apiKey", "hmacSecret") and v]
    assert len(shown) == 4
    assert not any(secret in json.dumps(entries) for secret in shown)
    assert "api_key_hash" not in json.dumps(entries)


async def test_refused_changes_are_not_audited(gql, factory, services):
    # given a company with an asset, its technician and its admin
    company = await factory.company()
    await factory.asset(company, name="taken")
    tech = await factory.user(Role.TECHNICIAN, [company])
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    count = "SELECT count(*) FROM audit_log WHERE actor_id = ANY($1::uuid[])"
    before = await services.pool.fetchval(count, [tech.id, admin.id])

    # when the technician tries to add an asset, and the admin adds one with a taken name or bad input
    refused = [
        await gql(
            _mutation("assetCreate", "AssetCreateInput"),
            {"i": {"companyId": company.gid, "name": "new"}},
            token=tech.token,
        ),
        await gql(
            _mutation("assetCreate", "AssetCreateInput"),
            {"i": {"companyId": company.gid, "name": "TAKEN"}},
            token=admin.token,
        ),
        await gql(
            _mutation("assetCreate", "AssetCreateInput"),
            {"i": {"companyId": company.gid, "name": "x", "ipAddress": "999.1.1.1"}},
            token=admin.token,
        ),
        await gql(
            _mutation("companyUpdate", "CompanyUpdateInput"),
            {"i": {"id": company.gid, "name": "x"}},
            token=admin.token,
        ),
    ]

    # then each is refused and none left an audit entry
    assert [r["data"] for r in refused] == [
        {
            "assetCreate": {
                "userErrors": [
                    {
                        "field": None,
                        "message": "you do not have permission to do this",
                        "code": "PERMISSION_DENIED",
                    }
                ]
            }
        },
        {
            "assetCreate": {
                "userErrors": [
                    {
                        "field": "name",
                        "message": "an asset with this name already exists",
                        "code": "DUPLICATE",
                    }
                ]
            }
        },
        {
            "assetCreate": {
                "userErrors": [
                    {"field": "ipAddress", "message": "is not a valid IP address", "code": "INVALID_INPUT"}
                ]
            }
        },
        {
            "companyUpdate": {
                "userErrors": [
                    {
                        "field": None,
                        "message": "you do not have permission to do this",
                        "code": "PERMISSION_DENIED",
                    }
                ]
            }
        },
    ]
    assert await services.pool.fetchval(count, [tech.id, admin.id]) == before


async def test_failed_sign_in_is_not_an_audited_change(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    count = "SELECT count(*) FROM audit_log WHERE actor_id = $1 OR entity_id = $2"
    before = await services.pool.fetchval(count, user.id, str(user.id))

    # when someone fails to sign in as them
    await gql(f'mutation {{ login(input: {{email: "{user.email}", password: "nope-1234"}}) {{ token }} }}')

    # then the audit log is untouched
    assert await services.pool.fetchval(count, user.id, str(user.id)) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged' WHERE id = $1",
        "UPDATE audit_log SET after = NULL WHERE id = $1",
        "DELETE FROM audit_log WHERE id = $1",
    ],
)
async def test_database_refuses_to_edit_or_delete_audit_entries(factory, services, statement):
    # given an audit entry
    company = await factory.company()
    entry_id = await services.pool.fetchval("SELECT max(id) FROM audit_log WHERE company_id = $1", company.id)
    before = await services.pool.fetchrow("SELECT * FROM audit_log WHERE id = $1", entry_id)

    # when anyone with database access tries to change or remove it
    with pytest.raises(asyncpg.RaiseError, match="audit_log is append-only"):
        await services.pool.execute(statement, entry_id)

    # then it is still there, unchanged
    assert await services.pool.fetchrow("SELECT * FROM audit_log WHERE id = $1", entry_id) == before


async def test_database_refuses_to_truncate_the_audit_log(factory, services):
    await factory.company()
    before = await services.pool.fetchval("SELECT count(*) FROM audit_log")
    with pytest.raises(asyncpg.RaiseError, match="audit_log is append-only"):
        await services.pool.execute("TRUNCATE audit_log")
    assert await services.pool.fetchval("SELECT count(*) FROM audit_log") >= before > 0


async def test_company_admin_reads_only_their_companies_entries(gql, factory):
    # given two companies, an MSP-level change (an MSP admin created) and a company admin of the first
    mine, other = await factory.company(), await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    admin = await factory.user(Role.COMPANY_ADMIN, [mine])
    await factory.asset(other)

    # when the admin reads the whole log, page by page
    seen, after = [], None
    while True:
        body = await gql(AUDIT_LOG, {"first": 100, "after": after}, token=admin.token)
        page = body["data"]["auditLog"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then every entry is about their company; the other company's and MSP-level ones are absent
    assert seen
    assert {e["companyId"] for e in seen} == {mine.gid}
    assert str(msp.id) not in str(seen)


async def test_audit_log_pages_newest_first_with_stable_cursors(gql, factory):
    # given a company with five asset changes
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    for i in range(5):
        await factory.asset(company, name=f"asset-{i}")

    # when the admin reads asset.create entries two at a time
    pages, after = [], None
    for _ in range(3):
        body = await gql(
            AUDIT_LOG,
            {"first": 2, "after": after, "f": {"companyId": company.gid, "action": "asset.create"}},
            token=admin.token,
        )
        page = body["data"]["auditLog"]
        pages.append([e["after"]["name"] for e in page["nodes"]])
        after = page["pageInfo"]["endCursor"]

    # then they come newest first, without gaps or repeats, and the last page says it is the last
    assert pages == [["asset-4", "asset-3"], ["asset-2", "asset-1"], ["asset-0"]]
    assert body["data"]["auditLog"]["pageInfo"]["hasNextPage"] is False


async def test_audit_log_filters(gql, factory, services):
    # given a company where an admin and the system each made changes
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await gql(
        _mutation("assetCreate", "AssetCreateInput"),
        {"i": {"companyId": company.gid, "name": "by-admin"}},
        token=admin.token,
    )
    await factory.asset(company, name="by-system")
    now = await services.pool.fetchval("SELECT now()")
    msp = await factory.user(Role.MSP_ADMIN)

    # when an MSP admin filters by actor, action, entity type and time
    by_actor = await _entries(gql, msp.token, companyId=company.gid, actorId=gid("User", admin.id))
    by_entity = await _entries(gql, msp.token, companyId=company.gid, entityType="user")
    by_action = await _entries(gql, msp.token, companyId=company.gid, action="asset.create")
    future = await _entries(
        gql, msp.token, companyId=company.gid, since=(now + timedelta(hours=1)).isoformat()
    )
    past = await _entries(gql, msp.token, companyId=company.gid, until=(now - timedelta(hours=1)).isoformat())
    window = await _entries(
        gql,
        msp.token,
        companyId=company.gid,
        since=(now - timedelta(hours=1)).isoformat(),
        until=(now + timedelta(hours=1)).isoformat(),
    )
    naive = await _entries(
        gql,
        msp.token,
        companyId=company.gid,
        since=(now - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None).isoformat(),
    )

    # then each filter narrows exactly
    assert [e["after"]["name"] for e in by_actor] == ["by-admin"]
    assert [e["after"]["email"] for e in by_entity] == [admin.email]
    assert [e["after"]["name"] for e in by_action] == ["by-system", "by-admin"]
    assert future == past == []
    assert len(window) == len(naive) == 4  # company.create, user.create, two asset.create


async def test_audit_filters_refuse_oversized_text(gql, factory):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)

    # when they filter with an absurdly long action
    body = await gql(AUDIT_LOG, {"f": {"action": "x" * 10_000}}, token=msp.token)

    # then they get a typed INVALID_INPUT error, not a server error
    assert body["data"] is None
    assert body["errors"][0]["message"] == "filter.action: must be at most 64 characters"
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "filter.action"}


async def test_audit_filter_with_a_nul_character_is_refused(gql, factory):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)

    # when they filter on text the database cannot even store
    log = await gql(AUDIT_LOG, {"f": {"entityType": "asset\x00"}}, token=msp.token)
    export = await gql(EXPORT, {"format": "JSON", "f": {"action": "\x00"}}, token=msp.token)

    # then the operation is refused up front (rather than a server error)
    for body in (log, export):
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}


async def test_audit_log_bad_paging_arguments_are_typed_errors(gql, factory):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)

    # when they ask for too big a page, or pass a garbage cursor
    too_big = await gql(AUDIT_LOG, {"first": 101}, token=msp.token)
    garbage = await gql(AUDIT_LOG, {"after": "not-a-cursor"}, token=msp.token)

    # then each is a typed error naming the argument
    assert [(e["message"], e["extensions"]) for e in too_big["errors"]] == [
        ("first: must be between 0 and 100", {"code": "INVALID_INPUT", "field": "first"})
    ]
    assert [(e["message"], e["extensions"]) for e in garbage["errors"]] == [
        ("after: is not a valid cursor", {"code": "INVALID_CURSOR", "field": "after"})
    ]


async def test_technicians_may_not_read_the_audit_log(gql, factory):
    # given a technician of a company with audit entries
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    entry = await _entries(gql, (await factory.user(Role.MSP_ADMIN)).token, companyId=company.gid)

    # when they read the log, export it, or fetch an entry by ID
    log = await gql(AUDIT_LOG, {}, token=tech.token)
    export = await gql(EXPORT, {"format": "CSV"}, token=tech.token)
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": entry[0]["id"]}, token=tech.token)

    # then the log and export are refused with PERMISSION_DENIED, and the entry is simply not there
    for body in (log, export):
        assert body["data"] is None
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
            ("you do not have permission to read the audit log", "PERMISSION_DENIED")
        ]
    assert node == {"data": {"node": None}}


async def test_audit_entry_by_node_id_within_scope(gql, factory):
    # given a company admin, an entry of their company and one of another company
    mine, other = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [mine])
    msp = await factory.user(Role.MSP_ADMIN)
    my_entry = (await _entries(gql, msp.token, companyId=mine.gid))[-1]
    other_entry = (await _entries(gql, msp.token, companyId=other.gid))[-1]
    query = "query($id: ID!) { node(id: $id) { id ... on AuditEntry { action companyId } } }"

    # when the admin fetches both, and garbage IDs of the type
    mine_body = await gql(query, {"id": my_entry["id"]}, token=admin.token)
    other_body = await gql(query, {"id": other_entry["id"]}, token=admin.token)
    garbage = [
        await gql(query, {"id": gid("AuditEntry", raw)}, token=admin.token) for raw in ("x", "-1", "9" * 40)
    ]

    # then only their own entry resolves
    assert mine_body["data"]["node"] == {
        "id": my_entry["id"],
        "action": "company.create",
        "companyId": mine.gid,
    }
    assert other_body == {"data": {"node": None}}
    assert garbage == [{"data": {"node": None}}] * 3


async def test_export_csv_has_a_header_and_escapes_every_cell(gql, factory):
    # given a company with assets whose names contain commas, quotes, newlines and a formula
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tricky = ['web, "primary"', "line\nbreak", '=HYPERLINK("http://evil")']
    for name in tricky:
        await factory.asset(company, name=name)

    # when the admin exports the asset entries as CSV
    body = await gql(
        EXPORT,
        {"format": "CSV", "f": {"companyId": company.gid, "action": "asset.create"}},
        token=admin.token,
    )

    # then the file parses back with the csv module: a header row, then one row per entry, oldest first
    export = body["data"]["auditLogExport"]
    assert (export["format"], export["contentType"], export["rowCount"], export["truncated"]) == (
        "CSV",
        "text/csv",
        3,
        False,
    )
    rows = list(csv.reader(io.StringIO(export["content"], newline="")))
    assert rows[0] == [
        "id",
        "at",
        "actorId",
        "actorEmail",
        "action",
        "entityType",
        "entityId",
        "companyId",
        "before",
        "after",
        "requestId",
    ]
    records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [json.loads(r["after"])["name"] for r in records] == tricky
    assert {(r["action"], r["companyId"], r["actorEmail"], r["before"]) for r in records} == {
        ("asset.create", company.gid, "system:operator", "")
    }
    # the formula stays inside the JSON cell; a text cell starting with "=" would have been neutralised
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r)


async def test_export_neutralises_formula_cells(gql, factory):
    # given an admin whose email (a plain text cell) starts with a formula character
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company], email=f"=cmd-{unique('x')}@example.com")
    await gql(
        _mutation("assetCreate", "AssetCreateInput"),
        {"i": {"companyId": company.gid, "name": "a"}},
        token=admin.token,
    )

    # when the admin exports as CSV
    body = await gql(EXPORT, {"format": "CSV", "f": {"actorId": gid("User", admin.id)}}, token=admin.token)

    # then the cell is prefixed with an apostrophe so spreadsheets show it as text
    rows = list(csv.DictReader(io.StringIO(body["data"]["auditLogExport"]["content"], newline="")))
    assert [r["actorEmail"] for r in rows] == ["'" + admin.email]


async def test_export_json_holds_the_same_entries(gql, factory):
    # given a company admin whose company has a few entries
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await factory.asset(company, name="a1")

    # when they export as JSON and also read the log
    body = await gql(EXPORT, {"format": "JSON", "f": {"companyId": company.gid}}, token=admin.token)
    entries = await _entries(gql, admin.token, companyId=company.gid)

    # then the JSON array is the log, oldest first, with the API's IDs
    export = body["data"]["auditLogExport"]
    assert (export["format"], export["contentType"], export["rowCount"]) == ("JSON", "application/json", 3)
    records = json.loads(export["content"])
    assert [r["id"] for r in records] == [e["id"] for e in reversed(entries)]
    assert [r["action"] for r in records] == ["company.create", "user.create", "asset.create"]
    assert records[2]["after"]["name"] == "a1"
    assert datetime.fromisoformat(records[0]["at"]).tzinfo is not None


async def test_profile_and_password_changes_are_audited_without_secrets(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when they change their name and password
    await gql(
        'mutation { profileUpdate(input: {name: "Renamed"}) { userErrors { code } } }', token=user.token
    )
    await gql(
        'mutation($c: String!) { passwordChange(input: {currentPassword: $c, newPassword: "another-pass-7"})'
        " { userErrors { code } } }",
        {"c": PASSWORD},
        token=user.token,
    )

    # then both are audited under the user, and no password or hash is recorded
    rows = await services.pool.fetch(
        "SELECT action, before::text, after::text FROM audit_log WHERE actor_id = $1 ORDER BY id", user.id
    )
    assert [r["action"] for r in rows] == ["user.profile_update", "user.password_change"]
    assert json.loads(rows[0]["after"])["name"] == "Renamed"
    assert "another-pass-7" not in str(rows)
    assert "$2b$" not in str(rows)


async def test_export_keeps_the_newest_entries_when_truncated(factory):
    # given a company with four asset entries
    company = await factory.company()
    for name in ("a", "b", "c", "d"):
        await factory.asset(company, name=name)

    # when at most two are exported
    async with factory.uow() as uow:
        rows, truncated = await uow.audit.export(limit=2, company_id=company.id, action="asset.create")

    # then the newest two come back, oldest first, flagged as truncated
    assert [r.after["name"] for r in rows] == ["c", "d"]
    assert truncated is True
