"""Every role against every platform query and mutation, with the expected outcome read from MATRIX.

A caller acting on its own company either succeeds or gets PERMISSION_DENIED, exactly as
`domain.rbac.MATRIX` says; a denied call leaves the database as it was and writes no audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.rbac import MATRIX, Permission, Role
from tests.helpers import MadeCompany, MadeUser, gid, unique

ALLOWED = "ALLOWED"


@dataclass
class World:
    company: MadeCompany
    users: dict[Role, MadeUser]
    asset_gid: str
    marker: str


@dataclass(frozen=True)
class Operation:
    permission: Permission
    document: str
    variables: Callable[[World], dict[str, Any]]
    #: For reads: text the allowed answer must contain (so "allowed" is not an empty answer).
    shows: Callable[[World], str] | None = None


def _mutation(name: str, input_type: str, payload: str = "__typename") -> str:
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {payload} userErrors {{ field message code }} }} }}"


def _new_user(role: str, with_company: bool) -> Callable[[World], dict[str, Any]]:
    def variables(w: World) -> dict[str, Any]:
        data = {
            "email": f"{w.marker}@example.com",
            "name": "New Person",
            "password": "long-enough-1",
            "role": role,
        }
        return {"i": data | ({"companyIds": [w.company.gid]} if with_company else {})}

    return variables


OPERATIONS: dict[str, Operation] = {
    "companyCreate": Operation(
        Permission.COMPANY_CREATE,
        _mutation("companyCreate", "CompanyCreateInput", "company { id }"),
        lambda w: {"i": {"name": w.marker}},
    ),
    "companyUpdate": Operation(
        Permission.COMPANY_RENAME,
        _mutation("companyUpdate", "CompanyUpdateInput", "company { id }"),
        lambda w: {"i": {"id": w.company.gid, "name": w.marker}},
    ),
    "companyDelete": Operation(
        Permission.COMPANY_DELETE,
        _mutation("companyDelete", "CompanyDeleteInput", "deletedCompanyId"),
        lambda w: {"i": {"id": w.company.gid}},
    ),
    "companyApiKeyRotate": Operation(
        Permission.COMPANY_CREDENTIALS,
        _mutation("companyApiKeyRotate", "CompanyApiKeyRotateInput", "apiKey"),
        lambda w: {"i": {"id": w.company.gid}},
    ),
    "companyWebhookSecurityUpdate": Operation(
        Permission.COMPANY_CREDENTIALS,
        _mutation("companyWebhookSecurityUpdate", "CompanyWebhookSecurityUpdateInput", "hmacSecret"),
        lambda w: {"i": {"id": w.company.gid, "hmacEnabled": True, "rotateSecret": True}},
    ),
    "companyRateLimitUpdate": Operation(
        Permission.COMPANY_SETTINGS,
        _mutation("companyRateLimitUpdate", "CompanyRateLimitUpdateInput", "company { id }"),
        lambda w: {"i": {"id": w.company.gid, "perSecond": 7.5, "burst": 9}},
    ),
    "companyAwsUpdate": Operation(
        Permission.COMPANY_AWS,
        _mutation("companyAwsUpdate", "CompanyAwsUpdateInput", "company { id }"),
        lambda w: {
            "i": {
                "companyId": w.company.gid,
                "region": "eu-west-1",
                "roleArn": "arn:aws:iam::111122223333:role/AlertWhisperer",
                "externalId": w.marker,
            }
        },
    ),
    "assetCreate": Operation(
        Permission.ASSET_WRITE,
        _mutation("assetCreate", "AssetCreateInput", "asset { id }"),
        lambda w: {"i": {"companyId": w.company.gid, "name": w.marker, "isCritical": True}},
    ),
    "assetUpdate": Operation(
        Permission.ASSET_WRITE,
        _mutation("assetUpdate", "AssetUpdateInput", "asset { id }"),
        lambda w: {"i": {"id": w.asset_gid, "name": w.marker, "isCritical": True}},
    ),
    "assetDelete": Operation(
        Permission.ASSET_WRITE,
        _mutation("assetDelete", "AssetDeleteInput", "deletedAssetId"),
        lambda w: {"i": {"id": w.asset_gid}},
    ),
    "userCreate(MSP_ADMIN)": Operation(
        Permission.USER_CREATE_MSP_ADMIN,
        _mutation("userCreate", "UserCreateInput", "user { id }"),
        _new_user("MSP_ADMIN", with_company=False),
    ),
    "userCreate(COMPANY_ADMIN)": Operation(
        Permission.USER_CREATE_ADMIN,
        _mutation("userCreate", "UserCreateInput", "user { id }"),
        _new_user("COMPANY_ADMIN", with_company=True),
    ),
    "userCreate(TECHNICIAN)": Operation(
        Permission.USER_CREATE_TECHNICIAN,
        _mutation("userCreate", "UserCreateInput", "user { id }"),
        _new_user("TECHNICIAN", with_company=True),
    ),
    "userUnlock": Operation(
        Permission.USER_MANAGE,
        _mutation("userUnlock", "UserUnlockInput", "user { id }"),
        lambda w: {"i": {"id": gid("User", w.users[Role.TECHNICIAN].id)}},
    ),
    "userDeactivate": Operation(
        Permission.USER_MANAGE,
        _mutation("userDeactivate", "UserDeactivateInput", "user { id active }"),
        lambda w: {"i": {"id": gid("User", w.users[Role.TECHNICIAN].id)}},
    ),
    "company": Operation(
        Permission.COMPANY_READ,
        "query($id: ID!) { company(id: $id) { id name } }",
        lambda w: {"id": w.company.gid},
        shows=lambda w: w.company.name,
    ),
    "company.assets": Operation(
        Permission.ASSET_READ,
        "query($id: ID!) { company(id: $id) { assets { nodes { id } } } }",
        lambda w: {"id": w.company.gid},
        shows=lambda w: w.asset_gid,
    ),
    "users": Operation(
        Permission.USER_READ,
        "query($c: ID!) { users(companyId: $c) { nodes { email } } }",
        lambda w: {"c": w.company.gid},
        shows=lambda w: w.users[Role.COMPANY_ADMIN].email,
    ),
    "technicians": Operation(
        Permission.USER_READ,
        "query($c: ID!) { technicians(companyId: $c) { nodes { email } } }",
        lambda w: {"c": w.company.gid},
        shows=lambda w: w.users[Role.TECHNICIAN].email,
    ),
    "auditLog": Operation(
        Permission.AUDIT_READ,
        "query($c: ID!) { auditLog(filter: {companyId: $c}) { nodes { action } } }",
        lambda w: {"c": w.company.gid},
        shows=lambda w: "company.create",
    ),
    "auditLogExport": Operation(
        Permission.AUDIT_READ,
        "query($c: ID!) { auditLogExport(format: CSV, filter: {companyId: $c}) { content rowCount } }",
        lambda w: {"c": w.company.gid},
        shows=lambda w: "company.create",
    ),
}


async def _world(factory: Any) -> World:
    company = await factory.company()
    users = {
        Role.MSP_ADMIN: await factory.user(Role.MSP_ADMIN),
        Role.COMPANY_ADMIN: await factory.user(Role.COMPANY_ADMIN, [company]),
        Role.TECHNICIAN: await factory.user(Role.TECHNICIAN, [company]),
    }
    asset_id = await factory.asset(company)
    return World(company, users, gid("Asset", asset_id), unique("rbac"))


STATE = """
SELECT
  (SELECT row_to_json(c)::text FROM companies c WHERE c.id = $1) AS company,
  (SELECT json_agg(a ORDER BY a.id)::text FROM assets a WHERE a.company_id = $1) AS assets,
  (SELECT json_agg(e ORDER BY e.asset_id, e.depends_on_id)::text FROM asset_dependencies e WHERE e.company_id = $1)
    AS edges,
  (SELECT json_agg(m ORDER BY m.user_id)::text FROM memberships m WHERE m.company_id = $1) AS members,
  (SELECT row_to_json(s)::text FROM company_aws_settings s WHERE s.company_id = $1) AS aws,
  (SELECT count(*) FROM companies WHERE name = $2) + (SELECT count(*) FROM users WHERE email LIKE $2 || '%') AS named,
  (SELECT count(*) FROM audit_log WHERE actor_id = $3) AS audit
"""


async def state(pool: Any, company_id: uuid.UUID, marker: str, actor_id: uuid.UUID) -> dict[str, Any]:
    """Everything a platform mutation on this company could change (one round trip)."""
    return dict(await pool.fetchrow(STATE, company_id, marker, actor_id))


def outcome(body: dict[str, Any]) -> str:
    """ALLOWED, or the error code the client sees (GraphQL error or userErrors)."""
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    (result,) = body["data"].values()
    if isinstance(result, dict) and result.get("userErrors"):
        return result["userErrors"][0]["code"]
    return ALLOWED


CASES = [(role, name) for name in OPERATIONS for role in Role]


@pytest.mark.parametrize(("role", "name"), CASES, ids=[f"{r.value}-{n}" for r, n in CASES])
async def test_role_against_operation_follows_the_matrix(gql, factory, services, role, name):
    # given a company with its admin, its technician, an MSP admin and an asset
    world = await _world(factory)
    caller = world.users[role]
    op = OPERATIONS[name]
    expected = ALLOWED if op.permission in MATRIX[role] else "PERMISSION_DENIED"
    before = await state(services.pool, world.company.id, world.marker, caller.id)

    # when the role performs the operation on its own company
    body = await gql(op.document, op.variables(world), token=caller.token)

    # then the outcome is what the matrix says
    assert outcome(body) == expected, body
    after = await state(services.pool, world.company.id, world.marker, caller.id)
    if expected != ALLOWED:
        # a denied call changed nothing and audited nothing, and says so precisely
        assert after == before
        if body.get("errors"):
            assert body["data"] is None
            assert body["errors"][0]["message"] == "you do not have permission to read the audit log"
        else:
            (payload,) = body["data"].values()
            assert payload["userErrors"][0]["message"] in (
                "you do not have permission to do this",
                "you do not have permission to create this role",
            )
    elif op.shows is None:
        # an accepted change is in the audit log under the caller
        assert after["audit"] > before["audit"]
    else:
        assert op.shows(world) in str(body["data"])


def test_every_platform_permission_is_exercised():
    # given the permissions the platform area checks (alerts, incidents and maintenance are elsewhere)
    platform = {p for p in Permission if p.value.split(":")[0] in ("company", "asset", "user", "audit")}

    # then the table above covers each of them
    assert {op.permission for op in OPERATIONS.values()} == platform
