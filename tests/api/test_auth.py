"""Sign-in, tokens, throttling, the current user, profile and password changes, end to end."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from domain.rbac import Role
from tests.helpers import PASSWORD, unique

LOGIN = """
mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { token user { email role } userErrors { field message code } }
}"""
PROFILE_UPDATE = """
mutation($i: ProfileUpdateInput!) {
  profileUpdate(input: $i) { user { email name } userErrors { field message code } }
}"""
PASSWORD_CHANGE = """
mutation($i: PasswordChangeInput!) {
  passwordChange(input: $i) { user { email } userErrors { field message code } }
}"""
INVALID_CREDENTIALS = [
    {"field": None, "message": "email or password is incorrect", "code": "INVALID_CREDENTIALS"}
]
TOO_MANY = [
    {
        "field": "email",
        "message": "too many failed sign-ins; try again in 15 minutes",
        "code": "TOO_MANY_ATTEMPTS",
    }
]
UNAUTHENTICATED = "Authentication required: send 'Authorization: Bearer <token>'."
INVALID_TOKEN = "Invalid token: sign in again (`login`) and send the new token."
TEST_CLIENT_HOST = "127.0.0.1"  # httpx's ASGI transport's client address


async def _failures(services, email: str) -> int:
    return await services.pool.fetchval("SELECT count(*) FROM login_failures WHERE email = $1", email.lower())


async def _user_row(services, user_id):
    return await services.pool.fetchrow("SELECT email, name, password_hash FROM users WHERE id = $1", user_id)


async def _post(client, token: str | None, query: str = "{ me { email } }", variables=None):
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def _refusal(resp) -> tuple[int, object, list[tuple[str, str, str]]]:
    """HTTP status, data, and (message, code, reason) of each error."""
    body = resp.json()
    errors = [(e["message"], e["extensions"]["code"], e["extensions"]["reason"]) for e in body["errors"]]
    return resp.status_code, body["data"], errors


@contextlib.asynccontextmanager
async def _client_from(app, host: str):
    """An HTTP client whose requests come from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _login(client, email: str, password: str) -> dict:
    resp = await _post(client, None, LOGIN, {"e": email, "p": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["login"]


def _claims(user_id, settings, **overrides):
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": "technician",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    return claims | overrides


# ---- login ----


async def test_login_returns_a_24h_token_for_the_user(gql, factory, settings, services):
    # given a technician
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when they sign in with the right password
    body = await gql(LOGIN, {"e": user.email, "p": PASSWORD})

    # then a token is issued that verifies to them, expires in 24 h and names our issuer and audience
    result = body["data"]["login"]
    assert result["userErrors"] == []
    assert result["user"] == {"email": user.email, "role": "TECHNICIAN"}
    claims = jwt.decode(
        result["token"],
        settings.jwt_secret,
        algorithms=["HS256"],
        audience="alertwhisperer-api",
        issuer="alertwhisperer",
    )
    assert claims["sub"] == str(user.id)
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert services.tokens.verify(result["token"]).user_id == user.id
    me = await gql("{ me { email } }", token=result["token"])
    assert me == {"data": {"me": {"email": user.email}}}


async def test_login_email_is_case_insensitive(gql, factory):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when they sign in with their email in capitals
    body = await gql(LOGIN, {"e": user.email.upper(), "p": PASSWORD})

    # then it works
    assert body["data"]["login"]["userErrors"] == []
    assert body["data"]["login"]["user"]["email"] == user.email


async def test_login_answers_the_users_own_companies_in_the_same_operation(gql, factory):
    # given a technician of two companies (and a third they do not work for)
    first, second = await factory.company(), await factory.company()
    await factory.company()
    user = await factory.user(Role.TECHNICIAN, [first, second])

    # when they sign in asking for their companies
    body = await gql(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {"
        " token user { companies { id name } } userErrors { code } } }",
        {"e": user.email, "p": PASSWORD},
    )

    # then the token comes with exactly their companies, and no error
    assert "errors" not in body, body
    login = body["data"]["login"]
    assert login["userErrors"] == []
    assert login["token"]
    assert sorted(c["id"] for c in login["user"]["companies"]) == sorted([first.gid, second.gid])


async def test_wrong_password_and_unknown_user_get_the_same_answer(gql, factory, services):
    # given a user, and an email nobody has
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    nobody = f"{unique('nobody')}@example.com"

    # when each signs in with a wrong password
    wrong = await gql(LOGIN, {"e": user.email, "p": "wrong-password-1"})
    unknown = await gql(LOGIN, {"e": nobody, "p": PASSWORD})

    # then both get the same refusal and no token, and each failure is counted
    assert wrong["data"]["login"] == {"token": None, "user": None, "userErrors": INVALID_CREDENTIALS}
    assert unknown["data"]["login"] == wrong["data"]["login"]
    assert await _failures(services, user.email) == 1
    assert await _failures(services, nobody) == 1


async def test_oversized_credentials_are_refused_like_wrong_ones(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when the password sent is far too long
    body = await gql(LOGIN, {"e": user.email, "p": "x" * 10_000})

    # then it is an ordinary refusal, not a server error
    assert body["data"]["login"]["userErrors"] == INVALID_CREDENTIALS


async def test_five_failures_block_even_the_right_password(gql, factory, services):
    # given a user who mistyped their password five times
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    for _ in range(5):
        body = await gql(LOGIN, {"e": user.email, "p": "wrong-password-1"})
        assert body["data"]["login"]["userErrors"] == INVALID_CREDENTIALS

    # when they now send the right password
    body = await gql(LOGIN, {"e": user.email, "p": PASSWORD})

    # then sign-in is refused for now, without a token, and without counting another failure
    assert body["data"]["login"] == {"token": None, "user": None, "userErrors": TOO_MANY}
    assert await _failures(services, user.email) == 5


async def test_throttle_lifts_after_the_window(gql, factory, services):
    # given five failures that happened 16 minutes ago (the window is 15)
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    await services.pool.execute(
        "INSERT INTO login_failures (email, source, at)"
        " SELECT $1, $2, now() - interval '16 minutes' FROM generate_series(1, 5)",
        user.email,
        TEST_CLIENT_HOST,
    )

    # when the user signs in with the right password
    body = await gql(LOGIN, {"e": user.email, "p": PASSWORD})

    # then it works and the old failures are forgotten
    assert body["data"]["login"]["userErrors"] == []
    assert body["data"]["login"]["token"]
    assert await _failures(services, user.email) == 0


async def test_throttle_still_holds_inside_the_window(gql, factory, services):
    # given five failures 14 minutes ago
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    await services.pool.execute(
        "INSERT INTO login_failures (email, source, at)"
        " SELECT $1, $2, now() - interval '14 minutes' FROM generate_series(1, 5)",
        user.email,
        TEST_CLIENT_HOST,
    )

    # when the user signs in with the right password
    body = await gql(LOGIN, {"e": user.email, "p": PASSWORD})

    # then it is still refused
    assert body["data"]["login"]["userErrors"] == TOO_MANY


async def test_failures_from_one_source_never_block_the_right_password_from_another(app, factory, services):
    # given an account someone at 203.0.113.9 guessed at five times, so that source is throttled
    user = await factory.user(Role.MSP_ADMIN)
    async with _client_from(app, "203.0.113.9") as stranger, _client_from(app, "198.51.100.7") as owner:
        for _ in range(5):
            assert (await _login(stranger, user.email, "guess-12345"))["userErrors"] == INVALID_CREDENTIALS
        assert (await _login(stranger, user.email, PASSWORD))["userErrors"] == TOO_MANY

        # when the owner signs in with the right password from elsewhere
        mine = await _login(owner, user.email, PASSWORD)

        # then they get a token, while the guessing source stays throttled (the owner's sign-in does
        # not clear its failures) and only its failures are counted against it
        assert mine["userErrors"] == []
        assert services.tokens.verify(mine["token"]).user_id == user.id
        assert (await _login(stranger, user.email, PASSWORD))["userErrors"] == TOO_MANY
    rows = await services.pool.fetch(
        "SELECT source, count(*) AS n FROM login_failures WHERE email = $1 GROUP BY source", user.email
    )
    assert [(r["source"], r["n"]) for r in rows] == [("203.0.113.9", 5)]


async def test_a_sources_own_failures_still_throttle_it(app, factory):
    # given a user who mistyped five times from their own address
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    async with _client_from(app, "192.0.2.44") as laptop, _client_from(app, "192.0.2.45") as phone:
        for _ in range(5):
            await _login(laptop, user.email, "wrong-password-1")

        # when they try again from there with the right password, and from their phone
        from_laptop = await _login(laptop, user.email, PASSWORD)
        from_phone = await _login(phone, user.email, PASSWORD)

    # then the laptop waits out the window, the phone signs in
    assert from_laptop == {"token": None, "user": None, "userErrors": TOO_MANY}
    assert from_phone["userErrors"] == []


async def test_the_failure_source_is_the_client_address_cut_to_64_characters(app, factory, services):
    # given a client whose address (as a proxy may report it) is longer than the column
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    long_host = "2001:db8:" + "a" * 100

    # when it fails to sign in
    async with _client_from(app, long_host) as client:
        await _login(client, user.email, "wrong-password-1")

    # then the failure is stored under the first 64 characters of its address
    sources = await services.pool.fetch("SELECT source FROM login_failures WHERE email = $1", user.email)
    assert [r["source"] for r in sources] == [long_host[:64]]


# ---- tokens ----


async def test_missing_token_is_a_typed_unauthenticated_error(client):
    # when a query is sent without a token
    resp = await _post(client, None)

    # then it is answered (HTTP 200) with an UNAUTHENTICATED error and no data
    assert resp.status_code == 200
    assert resp.json()["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in resp.json()["errors"]] == [
        (UNAUTHENTICATED, "UNAUTHENTICATED")
    ]


async def test_missing_token_cannot_mutate(gql, factory, services):
    # when an anonymous caller tries to create a company
    name = unique("Anon")
    body = await gql(
        "mutation($n: String!) { companyCreate(input: {name: $n}) { company { id } } }", {"n": name}
    )

    # then it is refused and nothing is stored
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await services.pool.fetchval("SELECT count(*) FROM companies WHERE name = $1", name) == 0


async def test_expired_token_is_a_typed_token_expired_error(client, factory, services):
    # given a token issued 25 hours ago
    user = await factory.user(Role.MSP_ADMIN)
    token = services.tokens.issue(user.id, "msp_admin", now=datetime.now(UTC) - timedelta(hours=25))

    # when it is used
    resp = await _post(client, token)

    # then the answer is the GraphQL error every authentication problem gets, coded TOKEN_EXPIRED
    assert _refusal(resp) == (
        200,
        None,
        [
            (
                "Token expired: sign in again (`login`) and send the new token.",
                "TOKEN_EXPIRED",
                "token_expired",
            )
        ],
    )


async def test_tampered_token_is_unauthenticated(client, factory):
    # given a valid token whose payload is edited to claim another subject
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    admin = await factory.user(Role.MSP_ADMIN)
    header, payload, signature = user.token.split(".")
    claims = jwt.decode(user.token, options={"verify_signature": False})
    forged = (
        base64.urlsafe_b64encode(json.dumps(claims | {"sub": str(admin.id), "role": "msp_admin"}).encode())
        .decode()
        .rstrip("=")
    )

    # when the forged token is used
    resp = await _post(client, f"{header}.{forged}.{signature}")

    # then it is refused
    assert _refusal(resp) == (200, None, [(INVALID_TOKEN, "UNAUTHENTICATED", "invalid_token")])


async def test_other_algorithms_are_refused_even_with_our_secret(client, factory, settings):
    # given tokens with valid claims signed HS512 (with our secret) and unsigned (alg "none")
    user = await factory.user(Role.MSP_ADMIN)
    with warnings.catch_warnings():  # PyJWT warns that our 48-byte key is short for SHA-512: it is the point
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(_claims(user.id, settings), settings.jwt_secret, algorithm="HS512")
    unsigned = jwt.encode(_claims(user.id, settings), None, algorithm="none")

    # when each is used
    responses = [await _post(client, t) for t in (hs512, unsigned)]

    # then both are refused: only HS256 is accepted
    assert [_refusal(r) for r in responses] == [
        (200, None, [(INVALID_TOKEN, "UNAUTHENTICATED", "invalid_token")])
    ] * 2


async def test_wrong_audience_or_issuer_is_unauthenticated(client, factory, settings):
    # given tokens signed with our secret but for another audience, from another issuer, or without exp
    user = await factory.user(Role.MSP_ADMIN)
    tokens = [
        jwt.encode(_claims(user.id, settings, aud="another-api"), settings.jwt_secret, algorithm="HS256"),
        jwt.encode(_claims(user.id, settings, iss="someone-else"), settings.jwt_secret, algorithm="HS256"),
        jwt.encode(
            {k: v for k, v in _claims(user.id, settings).items() if k != "exp"},
            settings.jwt_secret,
            algorithm="HS256",
        ),
        jwt.encode(_claims(user.id, settings, gen="0"), settings.jwt_secret, algorithm="HS256"),
    ]

    # when each is used
    responses = [await _post(client, t) for t in tokens]

    # then each is refused
    assert [_refusal(r) for r in responses] == [
        (200, None, [(INVALID_TOKEN, "UNAUTHENTICATED", "invalid_token")])
    ] * 4


async def test_token_of_unknown_or_deactivated_user_is_unauthenticated(client, factory, services, settings):
    # given a valid token for a user id that does not exist, and one of a deactivated user
    ghost = jwt.encode(_claims(uuid.uuid4(), settings), settings.jwt_secret, algorithm="HS256")
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", user.id)

    # when each is used
    responses = [await _post(client, t) for t in (ghost, user.token)]

    # then both are refused, each saying why
    assert [_refusal(r) for r in responses] == [
        (200, None, [(INVALID_TOKEN, "UNAUTHENTICATED", "invalid_token")]),
        (200, None, [("This account is deactivated.", "UNAUTHENTICATED", "user_deactivated")]),
    ]


async def test_non_bearer_authorization_is_unauthenticated(client, factory):
    # given a valid token sent with the wrong scheme
    user = await factory.user(Role.MSP_ADMIN)

    # when it is used
    resp = await client.post(
        "/graphql", json={"query": "{ me { email } }"}, headers={"authorization": f"Basic {user.token}"}
    )

    # then it is refused, saying the header is at fault
    assert _refusal(resp) == (
        200,
        None,
        [
            (
                "Authentication required: the Authorization header must be 'Bearer <token>'.",
                "UNAUTHENTICATED",
                "malformed_header",
            )
        ],
    )


async def test_every_field_that_needs_a_caller_answers_the_tokens_error(client, factory, services):
    # given an expired token
    user = await factory.user(Role.MSP_ADMIN)
    token = services.tokens.issue(user.id, "msp_admin", now=datetime.now(UTC) - timedelta(hours=25))

    # when it asks for two root fields and tries a mutation
    query = await _post(client, token, '{ a: company(id: "x") { id } b: company(id: "y") { id } }')
    name = unique("Expired")
    mutation = await _post(
        client,
        token,
        "mutation($n: String!) { companyCreate(input: {name: $n}) { company { id } } }",
        {"n": name},
    )

    # then each field carries TOKEN_EXPIRED, and nothing is stored
    assert [e["extensions"]["code"] for e in query.json()["errors"]] == ["TOKEN_EXPIRED"] * 2
    assert [e["extensions"]["code"] for e in mutation.json()["errors"]] == ["TOKEN_EXPIRED"]
    assert await services.pool.fetchval("SELECT count(*) FROM companies WHERE name = $1", name) == 0


async def test_login_works_whatever_old_authorization_header_is_sent(client, factory, services, settings):
    # given a user, and the headers a client may still send: an expired token, garbage, another scheme
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    expired = services.tokens.issue(user.id, "technician", now=datetime.now(UTC) - timedelta(hours=25))
    headers = [f"Bearer {expired}", "Bearer not-a-jwt", "Basic dXNlcjpwdw=="]

    # when they sign in with each header still set, asking for their companies too
    answers = []
    for header in headers:
        resp = await client.post(
            "/graphql",
            json={
                "query": "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p})"
                " { token user { email companies { id } } userErrors { code } } }",
                "variables": {"e": user.email, "p": PASSWORD},
            },
            headers={"authorization": header},
        )
        answers.append((resp.status_code, resp.json()))

    # then each sign-in works and its token is good
    for status, body in answers:
        assert status == 200
        assert "errors" not in body, body
        login = body["data"]["login"]
        assert (login["userErrors"], login["user"]["email"]) == ([], user.email)
        me = await _post(client, login["token"])
        assert me.json() == {"data": {"me": {"email": user.email}}}


# ---- me, profile, password ----


async def test_me_shows_the_caller_with_their_companies(gql, factory):
    # given a technician of one company
    company = await factory.company()
    await factory.company()
    user = await factory.user(Role.TECHNICIAN, [company], category="Network", on_call=True)

    # when they ask who they are
    body = await gql("{ me { id email role category onCall companies { id name } } }", token=user.token)

    # then they see themselves and only their company
    assert body["data"]["me"]["email"] == user.email
    assert body["data"]["me"]["role"] == "TECHNICIAN"
    assert body["data"]["me"]["category"] == "NETWORK"
    assert body["data"]["me"]["onCall"] is True
    assert body["data"]["me"]["companies"] == [{"id": company.gid, "name": company.name}]


async def test_profile_update_changes_name_and_email(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    new_email = f"{unique('renamed')}@Example.COM"

    # when they change their name and email
    body = await gql(PROFILE_UPDATE, {"i": {"name": "  Robin  ", "email": new_email}}, token=user.token)

    # then both change (domain lower-cased, name trimmed), the change is audited and they sign in with it
    expected_email = new_email.replace("@Example.COM", "@example.com")
    assert body["data"]["profileUpdate"] == {
        "user": {"email": expected_email, "name": "Robin"},
        "userErrors": [],
    }
    entry = await services.pool.fetchrow(
        "SELECT actor_id, before, after FROM audit_log WHERE action = 'user.profile_update' AND entity_id = $1",
        str(user.id),
    )
    assert entry["actor_id"] == user.id
    assert json.loads(entry["before"])["email"] == user.email
    assert json.loads(entry["after"])["email"] == expected_email
    login = await gql(LOGIN, {"e": expected_email, "p": PASSWORD})
    assert login["data"]["login"]["userErrors"] == []


async def test_profile_update_refuses_a_taken_email(gql, factory, services):
    # given two users
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    other = await factory.user(Role.TECHNICIAN, [await factory.company()])
    before = await _user_row(services, user.id)

    # when one takes the other's email (in other case)
    body = await gql(
        PROFILE_UPDATE, {"i": {"name": "Changed", "email": other.email.upper()}}, token=user.token
    )

    # then it is refused as a duplicate and nothing changed, not even the name
    assert body["data"]["profileUpdate"] == {
        "user": None,
        "userErrors": [
            {"field": "email", "message": "a user with this email already exists", "code": "DUPLICATE"}
        ],
    }
    assert await _user_row(services, user.id) == before


async def test_profile_update_refuses_bad_input(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    before = await _user_row(services, user.id)
    audit_before = await services.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1", str(user.id)
    )

    # when they send an invalid email, an oversized email, a blank name and an oversized name
    results = [
        (await gql(PROFILE_UPDATE, {"i": i}, token=user.token))["data"]["profileUpdate"]
        for i in (
            {"email": "not-an-email"},
            {"email": "a" * 300 + "@example.com"},
            {"name": "   "},
            {"name": "n" * 121},
        )
    ]

    # then each is refused precisely and nothing changed or was audited
    assert [r["userErrors"] for r in results] == [
        [{"field": "email", "message": "is not a valid email address", "code": "INVALID_EMAIL"}],
        [{"field": "email", "message": "is not a valid email address", "code": "INVALID_EMAIL"}],
        [{"field": "name", "message": "must be 1 to 120 characters", "code": "INVALID_INPUT"}],
        [{"field": "name", "message": "must be 1 to 120 characters", "code": "INVALID_INPUT"}],
    ]
    assert await _user_row(services, user.id) == before
    assert (
        await services.pool.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", str(user.id))
        == audit_before
    )


async def test_password_change_with_wrong_current_password_is_refused(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    before = await _user_row(services, user.id)

    # when they give the wrong current password
    body = await gql(
        PASSWORD_CHANGE,
        {"i": {"currentPassword": "not-my-password-1", "newPassword": "brand-new-99"}},
        token=user.token,
    )

    # then it is refused and the stored hash is unchanged
    assert body["data"]["passwordChange"] == {
        "user": None,
        "userErrors": [
            {
                "field": "currentPassword",
                "message": "current password is incorrect",
                "code": "INVALID_CREDENTIALS",
            }
        ],
    }
    assert await _user_row(services, user.id) == before


async def test_password_change_refuses_weak_passwords(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    before = await _user_row(services, user.id)

    # when they choose a short one, one without digits, and an oversized one
    results = [
        (
            await gql(
                PASSWORD_CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": new}}, token=user.token
            )
        )["data"]["passwordChange"]["userErrors"]
        for new in ("abc123", "onlyletters", "a1" * 100)
    ]

    # then each is refused with the rule it breaks, and nothing changed
    assert results == [
        [{"field": "newPassword", "message": "must be at least 8 characters", "code": "WEAK_PASSWORD"}],
        [{"field": "newPassword", "message": "must contain letters and digits", "code": "WEAK_PASSWORD"}],
        [{"field": "newPassword", "message": "must be at most 128 characters", "code": "INVALID_INPUT"}],
    ]
    assert await _user_row(services, user.id) == before


async def test_password_change_then_sign_in_with_the_new_one(gql, factory, services):
    # given a user
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])

    # when they change their password
    body = await gql(
        PASSWORD_CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": "brand-new-99"}}, token=user.token
    )

    # then the new password signs in, the old one does not, and the audit entry holds no hash
    assert body["data"]["passwordChange"] == {"user": {"email": user.email}, "userErrors": []}
    assert (await gql(LOGIN, {"e": user.email, "p": "brand-new-99"}))["data"]["login"]["userErrors"] == []
    assert (await gql(LOGIN, {"e": user.email, "p": PASSWORD}))["data"]["login"][
        "userErrors"
    ] == INVALID_CREDENTIALS
    entry = await services.pool.fetchrow(
        "SELECT before::text, after::text FROM audit_log WHERE action = 'user.password_change' AND entity_id = $1",
        str(user.id),
    )
    assert (entry["before"], entry["after"]) == ('{"password": "***"}', '{"password": "changed"}')
