"""Signature aliases through the API: who may change them, typed errors, the audit log, the list."""

from __future__ import annotations

import uuid

import pytest

from domain.rbac import Role
from graph.core import from_global_id
from tests import incident_rows as rows
from tests.helpers import gid

CREATE = """
mutation($input: SignatureAliasCreateInput!) {
  signatureAliasCreate(input: $input) {
    signatureAlias { id canonical signatures company { name } createdBy { email } }
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation($id: ID!) { signatureAliasDelete(input: {id: $id}) { deletedId userErrors { field message code } } }
"""
LIST = """
query($companyId: ID, $first: Int, $after: String) {
  signatureAliases(companyId: $companyId, first: $first, after: $after) {
    edges { node { canonical signatures } } pageInfo { hasNextPage endCursor }
  }
}
"""


async def create(gql, token, company, signatures, canonical=None):
    body = await gql(
        CREATE,
        {"input": {"companyId": company.gid, "signatures": signatures, "canonical": canonical}},
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["signatureAliasCreate"]


async def test_a_company_admin_creates_lists_and_deletes_an_alias_group_and_each_change_is_audited(
    gql, factory
):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when they say three signatures are one problem
    result = await create(
        gql, admin.token, company, ["AppQueueStuck", " worker backlog ", "worker backlog"], "Queue stuck"
    )

    # then the group is stored (trimmed, repeats dropped, the canonical name folded) and audited
    alias = result["signatureAlias"]
    assert result["userErrors"] == []
    assert {k: alias[k] for k in ("canonical", "signatures", "company", "createdBy")} == {
        "canonical": "queue_stuck",
        "signatures": ["AppQueueStuck", "worker backlog"],
        "company": {"name": company.name},
        "createdBy": {"email": admin.email},
    }
    alias_id = from_global_id(alias["id"], "SignatureAlias")
    assert await rows.audit_actions(factory.services, alias_id) == [("signature_alias.create", admin.email)]
    # and listed for the company, one page at a time
    await create(gql, admin.token, company, ["Queue drained"])
    body = await gql(LIST, {"companyId": company.gid, "first": 1}, token=admin.token)
    page = body["data"]["signatureAliases"]
    assert [e["node"]["canonical"] for e in page["edges"]] == ["drained_queue"]
    assert page["pageInfo"]["hasNextPage"] is True
    body = await gql(
        LIST,
        {"companyId": company.gid, "first": 1, "after": page["pageInfo"]["endCursor"]},
        token=admin.token,
    )
    assert [e["node"]["canonical"] for e in body["data"]["signatureAliases"]["edges"]] == ["queue_stuck"]

    # when it is deleted
    body = await gql(DELETE, {"id": alias["id"]}, token=admin.token)
    assert body["data"]["signatureAliasDelete"] == {"deletedId": alias["id"], "userErrors": []}
    assert await rows.audit_actions(factory.services, alias_id) == [
        ("signature_alias.create", admin.email),
        ("signature_alias.delete", admin.email),
    ]
    body = await gql(LIST, {"companyId": company.gid}, token=admin.token)
    assert [e["node"]["canonical"] for e in body["data"]["signatureAliases"]["edges"]] == ["drained_queue"]


@pytest.mark.parametrize(
    ("signatures", "canonical", "error"),
    [
        (
            [],
            None,
            {"field": "signatures", "message": "must name at least one signature", "code": "EMPTY_SIGNATURE"},
        ),
        (
            ["ok", " "],
            None,
            {"field": "signatures[1]", "message": "must not be empty", "code": "EMPTY_SIGNATURE"},
        ),
        (
            [f"s{i}" for i in range(51)],
            None,
            {"field": "signatures", "message": "at most 50 signatures", "code": "TOO_MANY_SIGNATURES"},
        ),
        (
            ["x" * 201],
            None,
            {
                "field": "signatures[0]",
                "message": "must be at most 200 characters",
                "code": "SIGNATURE_TOO_LONG",
            },
        ),
        (
            ["new one", "AppQueueStuck"],
            None,
            {
                "field": "signatures[1]",
                "message": '"AppQueueStuck" is already one problem with the alias group "app_queue_stuck"',
                "code": "ALIAS_CONFLICT",
            },
        ),
    ],
)
async def test_bad_groups_are_refused_with_typed_errors_and_nothing_stored(
    gql, factory, signatures, canonical, error
):
    # given a company with one group
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await create(gql, admin.token, company, ["app_queue_stuck"])
    # when a bad group is created
    result = await create(gql, admin.token, company, signatures, canonical)
    # then it is refused and the company still has its one group
    assert result == {"signatureAlias": None, "userErrors": [error]}
    body = await gql(LIST, {"companyId": company.gid}, token=admin.token)
    assert len(body["data"]["signatureAliases"]["edges"]) == 1


async def test_technicians_may_not_change_aliases_and_other_companies_admins_do_not_see_them(gql, factory):
    # given company A with a group, its technician, B's admin and an MSP admin
    a, b = await factory.company(), await factory.company()
    a_admin = await factory.user(Role.COMPANY_ADMIN, [a])
    tech = await factory.user(Role.TECHNICIAN, [a])
    b_admin = await factory.user(Role.COMPANY_ADMIN, [b])
    msp = await factory.user(Role.MSP_ADMIN)
    made = await create(gql, a_admin.token, a, ["AppQueueStuck"])
    alias_gid = made["signatureAlias"]["id"]

    # then the technician reads but may not create or delete
    assert (await create(gql, tech.token, a, ["x"]))["userErrors"][0]["code"] == "PERMISSION_DENIED"
    body = await gql(DELETE, {"id": alias_gid}, token=tech.token)
    assert body["data"]["signatureAliasDelete"]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    body = await gql(LIST, {"companyId": a.gid}, token=tech.token)
    assert len(body["data"]["signatureAliases"]["edges"]) == 1
    # and B's admin neither sees A's groups nor may touch A
    assert (await create(gql, b_admin.token, a, ["x"]))["userErrors"] == [
        {"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}
    ]
    body = await gql(DELETE, {"id": alias_gid}, token=b_admin.token)
    assert body["data"]["signatureAliasDelete"]["userErrors"] == [
        {"field": "id", "message": "signature alias not found", "code": "NOT_FOUND"}
    ]
    body = await gql(LIST, {"companyId": a.gid}, token=b_admin.token)
    assert body["data"]["signatureAliases"]["edges"] == []
    assert (await gql(LIST, {}, token=b_admin.token))["data"]["signatureAliases"]["edges"] == []
    # and an MSP admin may manage any company's
    assert (await create(gql, msp.token, b, ["BackupStuck"]))["userErrors"] == []
    body = await gql(DELETE, {"id": alias_gid}, token=msp.token)
    assert body["data"]["signatureAliasDelete"]["userErrors"] == []
    body = await gql(DELETE, {"id": gid("SignatureAlias", uuid.uuid4())}, token=msp.token)
    assert body["data"]["signatureAliasDelete"]["userErrors"][0]["code"] == "NOT_FOUND"
