"""Users: `userCreate` scoped by role, its validation, and the `users` / `technicians` lists."""

from __future__ import annotations

import uuid

import pytest

from domain.rbac import Role
from tests.helpers import gid, unique

CREATE = """
mutation($i: UserCreateInput!) {
  userCreate(input: $i) {
    user { id email name role category onCall companies { id } }
    userErrors { field message code }
  }
}"""
LOGIN = """
mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }"""
USERS = """
query($role: Role, $category: Category, $c: ID, $first: Int, $after: String) {
  users(role: $role, category: $category, companyId: $c, first: $first, after: $after) {
    nodes { email } pageInfo { hasNextPage endCursor }
  }
}"""
TECHNICIANS = """
query($category: Category, $c: ID) { technicians(category: $category, companyId: $c, first: 100) { nodes { email } } }"""
NEW_PASSWORD = "first-login-42"


def _new(role: str, companies: list, **extra) -> dict:
    return {
        "email": f"{unique(role.lower())}@example.com",
        "name": "New Person",
        "password": NEW_PASSWORD,
        "role": role,
        "companyIds": [c.gid for c in companies],
    } | extra


async def _stored(services, email: str) -> int:
    # (a NUL cannot be stored, nor even sent in a query: look for the address without it)
    return await services.pool.fetchval(
        "SELECT count(*) FROM users WHERE lower(email) = lower($1)", email.replace("\x00", "")
    )


async def test_msp_admin_creates_every_role(gql, factory, services):
    # given an MSP admin and a company
    msp = await factory.user(Role.MSP_ADMIN)
    company = await factory.company()

    # when they create an MSP admin, a company admin and an on-call network technician
    inputs = [
        _new("MSP_ADMIN", []),
        _new("COMPANY_ADMIN", [company]),
        _new("TECHNICIAN", [company], category="NETWORK", onCall=True),
    ]
    results = [(await gql(CREATE, {"i": i}, token=msp.token))["data"]["userCreate"] for i in inputs]

    # then each exists as asked, can sign in, and its creation is audited under the company
    assert [r["userErrors"] for r in results] == [[], [], []]
    assert [(r["user"]["role"], r["user"]["companies"]) for r in results] == [
        ("MSP_ADMIN", []),
        ("COMPANY_ADMIN", [{"id": company.gid}]),
        ("TECHNICIAN", [{"id": company.gid}]),
    ]
    assert (results[2]["user"]["category"], results[2]["user"]["onCall"]) == ("NETWORK", True)
    assert [r["user"]["category"] for r in results[:2]] == [None, None]
    for i in inputs:
        login = await gql(LOGIN, {"e": i["email"], "p": NEW_PASSWORD})
        assert login["data"]["login"]["userErrors"] == []
    audited = await services.pool.fetch(
        "SELECT company_id, after->>'email' AS email FROM audit_log WHERE action = 'user.create' AND actor_id = $1"
        " ORDER BY id",
        msp.id,
    )
    assert [(a["company_id"], a["email"]) for a in audited] == [
        (None, inputs[0]["email"]),
        (company.id, inputs[1]["email"]),
        (company.id, inputs[2]["email"]),
    ]
    hashes = await services.pool.fetch(
        "SELECT password_hash FROM users WHERE email = ANY($1::text[])", [i["email"] for i in inputs]
    )
    assert all(h["password_hash"].startswith("$2b$") for h in hashes)


async def test_company_admin_creates_admins_and_technicians_of_their_company(gql, factory):
    # given a company admin of two companies
    one, two = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [one, two])

    # when they create a technician for both and a fellow admin for one
    tech = await gql(CREATE, {"i": _new("TECHNICIAN", [one, two, one])}, token=admin.token)
    fellow = await gql(CREATE, {"i": _new("COMPANY_ADMIN", [two])}, token=admin.token)

    # then both are created (the repeated company counted once)
    assert tech["data"]["userCreate"]["userErrors"] == []
    assert sorted(c["id"] for c in tech["data"]["userCreate"]["user"]["companies"]) == sorted(
        [one.gid, two.gid]
    )
    assert fellow["data"]["userCreate"]["user"]["companies"] == [{"id": two.gid}]


async def test_roles_cannot_create_above_themselves(gql, factory, services):
    # given a company with its admin and technician
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when the admin creates an MSP admin, and the technician creates a technician, even with a weak password
    attempts = [
        (admin, _new("MSP_ADMIN", [])),
        (tech, _new("TECHNICIAN", [company])),
        (tech, _new("TECHNICIAN", [company], password="weak")),
        (tech, _new("TECHNICIAN", [])),
    ]
    results = [(await gql(CREATE, {"i": i}, token=u.token))["data"]["userCreate"] for u, i in attempts]

    # then each is PERMISSION_DENIED (checked before the input itself) and nobody is stored
    assert (
        results
        == [
            {
                "user": None,
                "userErrors": [
                    {
                        "field": "role",
                        "message": "you do not have permission to create this role",
                        "code": "PERMISSION_DENIED",
                    }
                ],
            }
        ]
        * 4
    )
    for _, i in attempts:
        assert await _stored(services, i["email"]) == 0


BAD_INPUTS = [
    ({"email": "not-an-email"}, "email", "is not a valid email address", "INVALID_EMAIL"),
    ({"email": "x" * 300 + "@example.com"}, "email", "is not a valid email address", "INVALID_EMAIL"),
    ({"password": "short1"}, "password", "must be at least 8 characters", "WEAK_PASSWORD"),
    ({"password": "lettersonly"}, "password", "must contain letters and digits", "WEAK_PASSWORD"),
    ({"password": "a1" * 10_000}, "password", "must be at most 128 characters", "INVALID_INPUT"),
    ({"name": "  "}, "name", "must be 1 to 120 characters", "INVALID_INPUT"),
    ({"name": "n" * 50_000}, "name", "must be 1 to 120 characters", "INVALID_INPUT"),
    (
        {"companyIds": [gid("Company", uuid.uuid4()) for _ in range(101)]},
        "companyIds",
        "at most 100 companies",
        "INVALID_INPUT",
    ),
    (
        {"companyIds": []},
        "companyIds",
        "a company admin or technician needs at least one company",
        "INVALID_INPUT",
    ),
    ({"companyIds": ["garbage"]}, "companyIds", "company not found", "NOT_FOUND"),
    ({"companyIds": [gid("Company", uuid.uuid4())]}, "companyIds", "company not found", "NOT_FOUND"),
    ({"role": "MSP_ADMIN"}, "companyIds", "MSP admins see every company; give no companies", "INVALID_INPUT"),
]


@pytest.mark.parametrize(
    ("change", "field", "message", "code"),
    BAD_INPUTS,
    ids=[f"{f}-{i}" for i, (_, f, _, _) in enumerate(BAD_INPUTS)],
)
async def test_user_create_refuses_bad_input(gql, factory, services, change, field, message, code):
    # given an MSP admin and a company
    msp = await factory.user(Role.MSP_ADMIN)
    company = await factory.company()
    new = _new("TECHNICIAN", [company]) | change

    # when they create a user with one bad field
    body = await gql(CREATE, {"i": new}, token=msp.token)

    # then exactly that is refused and nothing is stored or audited
    assert body["data"]["userCreate"] == {
        "user": None,
        "userErrors": [{"field": field, "message": message, "code": code}],
    }
    assert await _stored(services, new["email"]) == 0
    assert await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor_id = $1", msp.id) == 0


async def test_user_emails_are_unique_ignoring_case(gql, factory, services):
    # given an existing user and an MSP admin
    existing = await factory.user(Role.TECHNICIAN, [company := await factory.company()])
    msp = await factory.user(Role.MSP_ADMIN)
    members = await services.pool.fetchval(
        "SELECT count(*) FROM memberships WHERE company_id = $1", company.id
    )

    # when the MSP admin creates another user with the same email in capitals
    body = await gql(
        CREATE, {"i": _new("TECHNICIAN", [company], email=existing.email.upper())}, token=msp.token
    )

    # then it is a duplicate and nothing (not even a membership) is stored
    assert body["data"]["userCreate"] == {
        "user": None,
        "userErrors": [
            {"field": "email", "message": "a user with this email already exists", "code": "DUPLICATE"}
        ],
    }
    assert await _stored(services, existing.email) == 1
    assert (
        await services.pool.fetchval("SELECT count(*) FROM memberships WHERE company_id = $1", company.id)
        == members
    )


async def test_users_filters_and_pages(gql, factory, services):
    # given a company with an admin and three technicians, one of another category
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company], email=f"a-{unique('x')}@example.com")
    techs = sorted(
        [
            (
                await factory.user(
                    Role.TECHNICIAN, [company], category="Network", email=f"t1-{unique('x')}@example.com"
                )
            ).email,
            (
                await factory.user(
                    Role.TECHNICIAN, [company], category="Network", email=f"t2-{unique('x')}@example.com"
                )
            ).email,
        ]
    )
    db_tech = await factory.user(Role.TECHNICIAN, [company], category="Database")
    # (and one whose several skills include Network, past its first)
    await services.pool.execute(
        "UPDATE users SET skills = ARRAY['Database', 'Network'] WHERE id = $1", db_tech.id
    )

    # when the admin lists the company's users: all, technicians, network people, two at a time
    everyone = await gql(USERS, {"c": company.gid}, token=admin.token)
    technicians = await gql(USERS, {"c": company.gid, "role": "TECHNICIAN"}, token=admin.token)
    network = await gql(USERS, {"c": company.gid, "category": "NETWORK"}, token=admin.token)
    page1 = (await gql(USERS, {"c": company.gid, "first": 2}, token=admin.token))["data"]["users"]
    page2 = (
        await gql(
            USERS, {"c": company.gid, "first": 2, "after": page1["pageInfo"]["endCursor"]}, token=admin.token
        )
    )["data"]["users"]

    # then each list is exact and in email order
    all_emails = sorted([admin.email, *techs, db_tech.email])
    assert [u["email"] for u in everyone["data"]["users"]["nodes"]] == all_emails
    assert [u["email"] for u in technicians["data"]["users"]["nodes"]] == sorted([*techs, db_tech.email])
    assert [u["email"] for u in network["data"]["users"]["nodes"]] == sorted([*techs, db_tech.email])
    assert [u["email"] for u in page1["nodes"] + page2["nodes"]] == all_emails
    assert (page1["pageInfo"]["hasNextPage"], page2["pageInfo"]["hasNextPage"]) == (True, False)


async def test_users_without_filter_shows_colleagues_and_self_only(gql, factory):
    # given two companies, each with a technician
    mine, other = await factory.company(), await factory.company()
    me = await factory.user(Role.TECHNICIAN, [mine])
    colleague = await factory.user(Role.TECHNICIAN, [mine])
    stranger = await factory.user(Role.TECHNICIAN, [other])
    msp = await factory.user(Role.MSP_ADMIN)

    # when the technician lists every user they can see
    emails, after = [], None
    while True:
        page = (await gql(USERS, {"first": 100, "after": after}, token=me.token))["data"]["users"]
        emails += [u["email"] for u in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then they see themselves and their colleague, not the stranger nor MSP admins
    assert me.email in emails
    assert colleague.email in emails
    assert stranger.email not in emails
    assert msp.email not in emails


async def test_technicians_lists_active_technicians_by_category(gql, factory, services):
    # given a company with two network technicians (one deactivated), a database technician and an admin
    company = await factory.company()
    active = await factory.user(Role.TECHNICIAN, [company], category="Network")
    gone = await factory.user(Role.TECHNICIAN, [company], category="Network")
    await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", gone.id)
    db_tech = await factory.user(Role.TECHNICIAN, [company], category="Database")
    admin = await factory.user(Role.COMPANY_ADMIN, [company], category="Network")

    # when the admin asks for the company's technicians, all and network only
    everyone = await gql(TECHNICIANS, {"c": company.gid}, token=admin.token)
    network = await gql(TECHNICIANS, {"c": company.gid, "category": "NETWORK"}, token=admin.token)

    # then only active technicians appear
    assert [u["email"] for u in everyone["data"]["technicians"]["nodes"]] == sorted(
        [active.email, db_tech.email]
    )
    assert [u["email"] for u in network["data"]["technicians"]["nodes"]] == [active.email]


async def test_user_list_arguments_are_checked(gql, factory):
    # given a technician
    tech = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when they pass an unknown category, too big a page, a garbage cursor and a malformed company ID
    category = await gql(TECHNICIANS, {"category": "Plumbing"}, token=tech.token)
    too_big = await gql(USERS, {"first": 500}, token=tech.token)
    cursor = await gql(USERS, {"after": "???"}, token=tech.token)
    malformed = await gql(USERS, {"c": "not-an-id"}, token=tech.token)

    # then the first three are typed errors naming the argument; the malformed ID simply matches nobody
    def errors(body):
        assert body["data"] is None
        return [(e["message"], e["extensions"]) for e in body["errors"]]

    assert [e["message"] for e in category["errors"]] == [
        "Variable '$category' has invalid value: Value 'Plumbing' does not exist in 'Category' enum."
    ]
    assert errors(too_big) == [
        ("first: must be between 0 and 100", {"code": "INVALID_INPUT", "field": "first"})
    ]
    assert errors(cursor) == [("after: is not a valid cursor", {"code": "INVALID_CURSOR", "field": "after"})]
    assert malformed["data"]["users"]["nodes"] == []


async def test_user_queries_need_a_token(gql):
    # when anonymous callers list users or technicians
    bodies = [await gql("{ users { nodes { id } } }"), await gql("{ technicians { nodes { id } } }")]

    # then they are told to authenticate
    assert [b["errors"][0]["extensions"]["code"] for b in bodies] == ["UNAUTHENTICATED"] * 2
