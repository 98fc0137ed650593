"""A company admin and a technician of company A, pointed at company B's objects, see and change nothing.

Each attempt with B's ID gets exactly the answer a random, non-existent ID gets (null, empty or
NOT_FOUND), so a caller cannot even learn that B's objects exist; B's rows stay as they were.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.rbac import Role
from tests.api.test_rbac import state
from tests.helpers import Factory, MadeCompany, MadeUser, gid, unique


@dataclass
class Tenants:
    a: MadeCompany
    b: MadeCompany
    a_asset: str
    b_asset: str
    b_user: MadeUser
    b_audit_entry: str
    callers: dict[Role, MadeUser]
    marker: str


@dataclass(frozen=True)
class Probe:
    document: str
    #: variables given the foreign IDs to use: {"company": ..., "asset": ..., "user": ..., "audit": ...}
    variables: Callable[[Tenants, dict[str, str]], dict[str, Any]]
    #: What the caller sees, for both B's ID and a random one.
    expected: Callable[[Role], Any]


def _mutation(name: str, input_type: str, payload: str) -> str:
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {payload} userErrors {{ field message code }} }} }}"


def _refused(name: str, field: str, message: str, payload: str) -> Callable[[Role], Any]:
    error = {"field": field, "message": message, "code": "NOT_FOUND"}
    return lambda _: {"data": {name: {payload: None, "userErrors": [error]}}}


def _data(value: Any) -> Callable[[Role], Any]:
    return lambda _: {"data": value}


def _audit_read(value: Any) -> Callable[[Role], Any]:
    """Technicians may not read the audit log at all; company admins see nothing of B."""

    def expected(role: Role) -> Any:
        if role is Role.TECHNICIAN:
            return "PERMISSION_DENIED"
        return {"data": value}

    return expected


def _asset_write(name: str, field: str, message: str, payload: str) -> Callable[[Role], Any]:
    """Company admins get NOT_FOUND; technicians may not write assets, so theirs is PERMISSION_DENIED
    when the asset they act on is their own (the foreign ID is then never looked at)."""

    def expected(role: Role) -> Any:
        if role is Role.TECHNICIAN:
            return {
                "data": {
                    name: {
                        payload: None,
                        "userErrors": [
                            {
                                "field": None,
                                "message": "you do not have permission to do this",
                                "code": "PERMISSION_DENIED",
                            }
                        ],
                    }
                }
            }
        return {
            "data": {
                name: {
                    payload: None,
                    "userErrors": [{"field": field, "message": message, "code": "NOT_FOUND"}],
                }
            }
        }

    return expected


COMPANY_NOT_FOUND = ("id", "company not found")
PROBES: dict[str, Probe] = {
    "company(id)": Probe(
        "query($id: ID!) { company(id: $id) { id name assets { nodes { id } } } }",
        lambda t, f: {"id": f["company"]},
        _data({"company": None}),
    ),
    "node(company)": Probe(
        "query($id: ID!) { node(id: $id) { id } }", lambda t, f: {"id": f["company"]}, _data({"node": None})
    ),
    "node(asset)": Probe(
        "query($id: ID!) { node(id: $id) { id } }", lambda t, f: {"id": f["asset"]}, _data({"node": None})
    ),
    "node(user)": Probe(
        "query($id: ID!) { node(id: $id) { id } }", lambda t, f: {"id": f["user"]}, _data({"node": None})
    ),
    "node(auditEntry)": Probe(
        "query($id: ID!) { node(id: $id) { id } }", lambda t, f: {"id": f["audit"]}, _data({"node": None})
    ),
    "users(companyId)": Probe(
        "query($c: ID!) { users(companyId: $c) { nodes { email } } }",
        lambda t, f: {"c": f["company"]},
        _data({"users": {"nodes": []}}),
    ),
    "technicians(companyId)": Probe(
        "query($c: ID!) { technicians(companyId: $c) { nodes { email } } }",
        lambda t, f: {"c": f["company"]},
        _data({"technicians": {"nodes": []}}),
    ),
    "auditLog(companyId)": Probe(
        "query($c: ID!) { auditLog(filter: {companyId: $c}) { nodes { action } } }",
        lambda t, f: {"c": f["company"]},
        _audit_read({"auditLog": {"nodes": []}}),
    ),
    "auditLogExport(companyId)": Probe(
        "query($c: ID!) { auditLogExport(format: JSON, filter: {companyId: $c}) { content rowCount } }",
        lambda t, f: {"c": f["company"]},
        _audit_read({"auditLogExport": {"content": "[]", "rowCount": 0}}),
    ),
    "companyUpdate": Probe(
        _mutation("companyUpdate", "CompanyUpdateInput", "company { id }"),
        lambda t, f: {"i": {"id": f["company"], "name": t.marker}},
        _refused("companyUpdate", *COMPANY_NOT_FOUND, payload="company"),
    ),
    "companyApiKeyRotate": Probe(
        _mutation("companyApiKeyRotate", "CompanyApiKeyRotateInput", "apiKey"),
        lambda t, f: {"i": {"id": f["company"]}},
        _refused("companyApiKeyRotate", *COMPANY_NOT_FOUND, payload="apiKey"),
    ),
    "companyWebhookSecurityUpdate": Probe(
        _mutation("companyWebhookSecurityUpdate", "CompanyWebhookSecurityUpdateInput", "hmacSecret"),
        lambda t, f: {"i": {"id": f["company"], "hmacEnabled": True, "rotateSecret": True}},
        _refused("companyWebhookSecurityUpdate", *COMPANY_NOT_FOUND, payload="hmacSecret"),
    ),
    "companyRateLimitUpdate": Probe(
        _mutation("companyRateLimitUpdate", "CompanyRateLimitUpdateInput", "company { id }"),
        lambda t, f: {"i": {"id": f["company"], "perSecond": 1, "burst": 1}},
        _refused("companyRateLimitUpdate", *COMPANY_NOT_FOUND, payload="company"),
    ),
    "assetCreate(in B)": Probe(
        _mutation("assetCreate", "AssetCreateInput", "asset { id }"),
        lambda t, f: {"i": {"companyId": f["company"], "name": t.marker}},
        _refused("assetCreate", "companyId", "company not found", payload="asset"),
    ),
    "assetUpdate(B's asset)": Probe(
        _mutation("assetUpdate", "AssetUpdateInput", "asset { id }"),
        lambda t, f: {"i": {"id": f["asset"], "name": t.marker}},
        _refused("assetUpdate", "id", "asset not found", payload="asset"),
    ),
    "assetDelete(B's asset)": Probe(
        _mutation("assetDelete", "AssetDeleteInput", "deletedAssetId"),
        lambda t, f: {"i": {"id": f["asset"]}},
        _refused("assetDelete", "id", "asset not found", payload="deletedAssetId"),
    ),
    "assetCreate(in A, dependsOn B's asset)": Probe(
        _mutation("assetCreate", "AssetCreateInput", "asset { id }"),
        lambda t, f: {"i": {"companyId": t.a.gid, "name": t.marker, "dependsOn": [f["asset"]]}},
        _asset_write("assetCreate", "dependsOn", "asset not found", "asset"),
    ),
    "assetUpdate(A's asset, dependsOn B's asset)": Probe(
        _mutation("assetUpdate", "AssetUpdateInput", "asset { id }"),
        lambda t, f: {"i": {"id": t.a_asset, "dependsOn": [f["asset"]]}},
        _asset_write("assetUpdate", "dependsOn", "asset not found", "asset"),
    ),
    "userCreate(into B)": Probe(
        _mutation("userCreate", "UserCreateInput", "user { id }"),
        lambda t, f: {
            "i": {
                "email": f"{t.marker}@example.com",
                "name": "Intruder",
                "password": "long-enough-1",
                "role": "TECHNICIAN",
                "companyIds": [f["company"]],
            }
        },
        _refused("userCreate", "companyIds", "company not found", payload="user"),
    ),
    "userCreate(into A and B)": Probe(
        _mutation("userCreate", "UserCreateInput", "user { id }"),
        lambda t, f: {
            "i": {
                "email": f"{t.marker}@example.com",
                "name": "Intruder",
                "password": "long-enough-1",
                "role": "COMPANY_ADMIN",
                "companyIds": [t.a.gid, f["company"]],
            }
        },
        _refused("userCreate", "companyIds", "company not found", payload="user"),
    ),
}


async def _tenants(factory: Any, services: Any) -> Tenants:
    """Two fresh companies with assets, people and audit entries."""
    a, b = await factory.company(), await factory.company()
    a_asset = await factory.asset(a)
    b_asset = await factory.asset(b, is_critical=True)
    b_user = await factory.user(Role.TECHNICIAN, [b])
    b_audit = await services.pool.fetchval("SELECT max(id) FROM audit_log WHERE company_id = $1", b.id)
    callers = {
        Role.COMPANY_ADMIN: await factory.user(Role.COMPANY_ADMIN, [a]),
        Role.TECHNICIAN: await factory.user(Role.TECHNICIAN, [a]),
    }
    return Tenants(
        a,
        b,
        gid("Asset", a_asset),
        gid("Asset", b_asset),
        b_user,
        gid("AuditEntry", b_audit),
        callers,
        unique("intruder"),
    )


async def _ask(gql: Any, probe: Probe, tenants: Tenants, foreign: dict[str, str], token: str) -> Any:
    body = await gql(probe.document, probe.variables(tenants, foreign), token=token)
    if body.get("errors"):
        assert body["data"] is None
        return body["errors"][0]["extensions"]["code"]
    return body


@pytest.fixture(scope="module")
async def shared_tenants(services: Any) -> Tenants:
    """One pair of tenants for every probe: each probe must leave both untouched, which it asserts."""
    return await _tenants(Factory(services), services)


CASES = [(role, name) for name in PROBES for role in (Role.COMPANY_ADMIN, Role.TECHNICIAN)]


@pytest.mark.parametrize(("role", "name"), CASES, ids=[f"{r.value}-{n}" for r, n in CASES])
async def test_company_b_is_invisible_and_untouchable_from_company_a(
    gql, shared_tenants, services, role, name
):
    # given companies A and B, each with assets, users and audit entries, and a caller of A
    tenants = dataclasses.replace(shared_tenants, marker=unique("intruder"))
    caller = tenants.callers[role]
    probe = PROBES[name]
    b_ids = {
        "company": tenants.b.gid,
        "asset": tenants.b_asset,
        "user": gid("User", tenants.b_user.id),
        "audit": tenants.b_audit_entry,
    }
    random_ids = {
        "company": gid("Company", uuid.uuid4()),
        "asset": gid("Asset", uuid.uuid4()),
        "user": gid("User", uuid.uuid4()),
        "audit": gid("AuditEntry", 2**62),
    }
    b_before = await state(services.pool, tenants.b.id, tenants.marker, caller.id)
    a_before = await state(services.pool, tenants.a.id, tenants.marker, caller.id)

    # when the caller uses B's IDs, and then random IDs of the same kinds
    with_b = await _ask(gql, probe, tenants, b_ids, caller.token)
    with_random = await _ask(gql, probe, tenants, random_ids, caller.token)

    # then B's IDs get exactly what random IDs get, which is nothing, and neither company changed
    assert with_b == with_random
    assert with_b == probe.expected(role)
    assert await state(services.pool, tenants.b.id, tenants.marker, caller.id) == b_before
    assert await state(services.pool, tenants.a.id, tenants.marker, caller.id) == a_before


@pytest.mark.parametrize("role", [Role.COMPANY_ADMIN, Role.TECHNICIAN])
async def test_lists_show_nothing_of_company_b(gql, factory, services, role):
    # given companies A and B, and a caller of A
    tenants = await _tenants(factory, services)
    caller = tenants.callers[role]

    # when the caller lists companies, users and technicians without filters, and asks for A's assets
    body = await gql(
        "query($a: ID!) { companies(first: 100) { nodes { id } } users(first: 100) { nodes { id companies { id } } }"
        " technicians(first: 100) { nodes { id } } company(id: $a) { assets(first: 100) { nodes { id } } } }",
        {"a": tenants.a.gid},
        token=caller.token,
    )

    # then only A (and A's people and assets) appear; nothing of B
    text = str(body)
    assert body["data"]["companies"]["nodes"] == [{"id": tenants.a.gid}]
    assert body["data"]["company"]["assets"]["nodes"] == [{"id": tenants.a_asset}]
    for foreign in (tenants.b.gid, tenants.b_asset, gid("User", tenants.b_user.id)):
        assert foreign not in text


async def test_shared_member_shows_only_the_callers_companies(gql, factory):
    # given a technician working for both A and B, and a company admin of A only
    a, b = await factory.company(), await factory.company()
    shared = await factory.user(Role.TECHNICIAN, [a, b])
    admin = await factory.user(Role.COMPANY_ADMIN, [a])

    # when the admin looks at the shared technician
    body = await gql(
        "query($id: ID!) { node(id: $id) { ... on User { companies { id } } } }",
        {"id": gid("User", shared.id)},
        token=admin.token,
    )

    # then only A is listed among the technician's companies
    assert body["data"]["node"]["companies"] == [{"id": a.gid}]
