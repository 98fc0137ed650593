"""Admin housekeeping over HTTP: `userDeactivate`, `userReactivate`, `userRevokeTokens`, `userUnlock`.

Each is audited, scoped like the other user mutations (MSP admins: anyone; company admins: users all
of whose companies are theirs; technicians: nobody), and a refusal changes nothing.
"""

from __future__ import annotations

import uuid

import pytest

from domain.rbac import Role
from tests.helpers import PASSWORD, gid

LOGIN = """
mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }"""
ME = "{ me { email } }"
USER_FIELDS = "user { id email active } userErrors { field message code }"


def _mutation(name: str) -> str:
    return f"mutation($id: ID!) {{ {name}(input: {{id: $id}}) {{ {USER_FIELDS} }} }}"


DEACTIVATE = _mutation("userDeactivate")
REACTIVATE = _mutation("userReactivate")
REVOKE = _mutation("userRevokeTokens")
UNLOCK = _mutation("userUnlock")


def _refusal(body: dict) -> tuple[str, str]:
    """(code, reason) of the one GraphQL error of an answer."""
    [error] = body["errors"]
    return error["extensions"]["code"], error["extensions"]["reason"]


async def _audit(services, user_id) -> list[tuple[str, uuid.UUID | None, uuid.UUID | None]]:
    rows = await services.pool.fetch(
        "SELECT action, company_id, actor_id FROM audit_log WHERE entity_id = $1 AND action <> 'user.create'"
        " ORDER BY id",
        str(user_id),
    )
    return [(r["action"], r["company_id"], r["actor_id"]) for r in rows]


async def _user_row(services, user_id) -> tuple:
    return tuple(
        await services.pool.fetchrow(
            "SELECT is_active, token_generation, updated_at FROM users WHERE id = $1", user_id
        )
    )


async def test_a_deactivated_user_cannot_sign_in_and_their_tokens_stop_at_once(gql, factory, services):
    # given a technician signed in twice (two tokens), and their company's admin
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    second = (await gql(LOGIN, {"e": tech.email, "p": PASSWORD}))["data"]["login"]["token"]
    assert (await gql(ME, token=second))["data"] == {"me": {"email": tech.email}}

    # when the admin deactivates them
    body = await gql(DEACTIVATE, {"id": gid("User", tech.id)}, token=admin.token)

    # then the answer shows them inactive, neither token works any more, they cannot sign in, and
    # the deactivation is audited under the company, by the admin
    assert body["data"]["userDeactivate"] == {
        "user": {"id": gid("User", tech.id), "email": tech.email, "active": False},
        "userErrors": [],
    }
    for token in (tech.token, second):
        assert _refusal(await gql(ME, token=token)) == ("UNAUTHENTICATED", "user_deactivated")
    login = await gql(LOGIN, {"e": tech.email, "p": PASSWORD})
    assert login["data"]["login"] == {"token": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}
    assert await _audit(services, tech.id) == [("user.deactivate", company.id, admin.id)]


async def test_a_reactivated_user_signs_in_again_but_their_old_tokens_stay_dead(gql, factory, services):
    # given a deactivated technician
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    await gql(DEACTIVATE, {"id": gid("User", tech.id)}, token=msp.token)

    # when an MSP admin reactivates them
    body = await gql(REACTIVATE, {"id": gid("User", tech.id)}, token=msp.token)

    # then they sign in again with a token that works, while the token from before stays revoked
    assert body["data"]["userReactivate"]["user"]["active"] is True
    login = (await gql(LOGIN, {"e": tech.email, "p": PASSWORD}))["data"]["login"]
    assert login["userErrors"] == []
    assert (await gql(ME, token=login["token"]))["data"] == {"me": {"email": tech.email}}
    assert _refusal(await gql(ME, token=tech.token)) == ("UNAUTHENTICATED", "token_revoked")
    assert await _audit(services, tech.id) == [
        ("user.deactivate", company.id, msp.id),
        ("user.reactivate", company.id, msp.id),
    ]


async def test_deactivating_twice_changes_nothing_the_second_time(gql, factory, services):
    # given a deactivated technician
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    await gql(DEACTIVATE, {"id": gid("User", tech.id)}, token=msp.token)
    before = await _user_row(services, tech.id)

    # when they are deactivated again
    body = await gql(DEACTIVATE, {"id": gid("User", tech.id)}, token=msp.token)

    # then the answer is the same, and nothing more is written or audited
    assert body["data"]["userDeactivate"]["userErrors"] == []
    assert body["data"]["userDeactivate"]["user"]["active"] is False
    assert await _user_row(services, tech.id) == before
    assert [a for a, _, _ in await _audit(services, tech.id)] == ["user.deactivate"]


async def test_revoking_tokens_ends_every_token_issued_before(gql, factory, services):
    # given a company admin with two tokens, one from the factory and one from signing in
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    signed_in = (await gql(LOGIN, {"e": admin.email, "p": PASSWORD}))["data"]["login"]["token"]

    # when an MSP admin revokes their tokens
    body = await gql(REVOKE, {"id": gid("User", admin.id)}, token=msp.token)

    # then both tokens are refused as revoked, the account stays active, a new sign-in works, and the
    # revocation is audited
    assert body["data"]["userRevokeTokens"] == {
        "user": {"id": gid("User", admin.id), "email": admin.email, "active": True},
        "userErrors": [],
    }
    for token in (admin.token, signed_in):
        assert _refusal(await gql(ME, token=token)) == ("UNAUTHENTICATED", "token_revoked")
    fresh = (await gql(LOGIN, {"e": admin.email, "p": PASSWORD}))["data"]["login"]["token"]
    assert (await gql(ME, token=fresh))["data"] == {"me": {"email": admin.email}}
    assert await _audit(services, admin.id) == [("user.revoke_tokens", company.id, msp.id)]


async def test_unlock_lifts_the_throttle_for_every_source(gql, factory, services):
    # given a technician whose sign-ins from here are throttled after five failures
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    for _ in range(5):
        await gql(LOGIN, {"e": tech.email, "p": "wrong-password-1"})
    throttled = await gql(LOGIN, {"e": tech.email, "p": PASSWORD})
    assert throttled["data"]["login"]["userErrors"] == [{"code": "TOO_MANY_ATTEMPTS"}]

    # when their company admin unlocks them
    body = await gql(UNLOCK, {"id": gid("User", tech.id)}, token=admin.token)

    # then the failures are gone, the right password signs in at once, and the unlock is audited
    assert body["data"]["userUnlock"]["userErrors"] == []
    assert (
        await services.pool.fetchval("SELECT count(*) FROM login_failures WHERE email = $1", tech.email) == 0
    )
    assert (await gql(LOGIN, {"e": tech.email, "p": PASSWORD}))["data"]["login"]["userErrors"] == []
    entry = await services.pool.fetchrow(
        "SELECT company_id, actor_id, after->>'failed_sign_ins_cleared' AS cleared FROM audit_log"
        " WHERE action = 'user.unlock' AND entity_id = $1",
        str(tech.id),
    )
    assert tuple(entry) == (company.id, admin.id, "5")


async def test_a_user_of_several_companies_is_audited_under_each(gql, factory, services):
    # given a technician of two companies
    a, b = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [a, b])
    msp = await factory.user(Role.MSP_ADMIN)

    # when an MSP admin revokes their tokens
    await gql(REVOKE, {"id": gid("User", tech.id)}, token=msp.token)

    # then each company's audit log has the entry
    assert sorted(await _audit(services, tech.id)) == sorted(
        [("user.revoke_tokens", a.id, msp.id), ("user.revoke_tokens", b.id, msp.id)]
    )


@pytest.mark.parametrize("mutation", [DEACTIVATE, REACTIVATE, REVOKE, UNLOCK])
async def test_who_may_manage_whom(gql, factory, services, mutation):
    # given a company admin of A, and users they may not manage: a technician of B, a technician of A
    # and B, an MSP admin, and (for technicians) a colleague
    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    tech_a = await factory.user(Role.TECHNICIAN, [a])
    foreign = await factory.user(Role.TECHNICIAN, [b])
    shared = await factory.user(Role.TECHNICIAN, [a, b])
    msp = await factory.user(Role.MSP_ADMIN)
    targets = [foreign, shared, msp, tech_a]
    before = [await _user_row(services, t.id) for t in targets]

    # when the admin acts on the first three, a technician on a colleague, and anyone on an unknown id
    results = [
        (await gql(mutation, {"id": gid("User", t.id)}, token=admin.token))["data"]
        for t in (foreign, shared, msp)
    ]
    results.append((await gql(mutation, {"id": gid("User", admin.id)}, token=tech_a.token))["data"])
    results.append((await gql(mutation, {"id": gid("User", uuid.uuid4())}, token=msp.token))["data"])
    results.append((await gql(mutation, {"id": "bm90LWEtdXNlcg"}, token=msp.token))["data"])

    # then users of other companies and MSP admins do not exist for them, a user who also works for
    # another company and a technician's attempt are denied, and nothing changed or was audited
    not_found = {"field": "id", "message": "user not found", "code": "NOT_FOUND"}
    denied = {"field": "id", "message": "you do not have permission to do this", "code": "PERMISSION_DENIED"}
    assert [r[next(iter(r))] for r in results] == [
        {"user": None, "userErrors": [not_found]},
        {"user": None, "userErrors": [denied]},
        {"user": None, "userErrors": [not_found]},
        {"user": None, "userErrors": [denied]},
        {"user": None, "userErrors": [not_found]},
        {"user": None, "userErrors": [not_found]},
    ]
    assert [await _user_row(services, t.id) for t in targets] == before
    for t in [*targets, admin]:
        assert await _audit(services, t.id) == []


async def test_an_admin_cannot_deactivate_themselves(gql, factory, services):
    # given an MSP admin
    msp = await factory.user(Role.MSP_ADMIN)

    # when they try to deactivate their own account
    body = await gql(DEACTIVATE, {"id": gid("User", msp.id)}, token=msp.token)

    # then it is refused and they keep working
    assert body["data"]["userDeactivate"] == {
        "user": None,
        "userErrors": [
            {"field": "id", "message": "you cannot deactivate your own account", "code": "PERMISSION_DENIED"}
        ],
    }
    assert (await gql(ME, token=msp.token))["data"] == {"me": {"email": msp.email}}
