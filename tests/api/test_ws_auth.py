"""Websocket authentication over real websockets against real server processes: close codes at
`connection_init`, and an open connection closed once its token expires or its user is deactivated,
revoked or loses a company.

Two servers: one whose periodic re-check is 10 minutes away (so what closes its connections within
the test's bound is an event or the token's expiry, never the timer), and one re-checking every
0.3 s (for changes no event announces). Every wait is on the real close, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import websockets

from domain.rbac import Role
from tests.api.test_subscriptions import ALERT_RECEIVED, LEGACY_WS, TRANSPORT_WS, connect, probe_alert
from tests.helpers import EVENT_TIMEOUT_SECONDS, gid
from tests.live import live_servers

DEACTIVATE = "mutation($id: ID!) { userDeactivate(input: {id: $id}) { userErrors { code } } }"
REVOKE = "mutation($id: ID!) { userRevokeTokens(input: {id: $id}) { userErrors { code } } }"
COMPANY_DELETE = "mutation($id: ID!) { companyDelete(input: {id: $id}) { userErrors { code } } }"


def _server(database_url: str, home: Any, recheck_seconds: float) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ALERTWHISPERER_WS_RECHECK_SECONDS", str(recheck_seconds))
        with live_servers(database_url, home, count=1) as urls:
            env.undo()
            yield urls[0]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose periodic re-check never comes within a test: events and expiry close sockets."""
    yield from _server(database_url, tmp_path_factory.mktemp("ws-auth"), recheck_seconds=600)


@pytest.fixture(scope="module")
def rechecking_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server re-checking every open websocket every 0.3 s."""
    yield from _server(database_url, tmp_path_factory.mktemp("ws-recheck"), recheck_seconds=0.3)


async def closed_with(ws: Any) -> tuple[int, str]:
    """The close code and reason the server ends the connection with (messages before it skipped)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(_read_until_closed(ws), EVENT_TIMEOUT_SECONDS)
    assert closed.value.rcvd is not None, "the server closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _read_until_closed(ws: Any) -> None:
    while True:
        await ws.recv()


async def _refused_init(base_url: str, authorization: str | None, protocol: str = TRANSPORT_WS) -> Any:
    url = base_url.replace("http://", "ws://") + "/graphql"
    ws = await websockets.connect(url, subprotocols=[protocol])
    payload = {} if authorization is None else {"authorization": authorization}
    await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
    return ws


async def test_connection_init_without_a_good_token_closes_4401_with_the_code(server, factory, gql):
    # given tokens that cannot open a subscription: an expired one, a revoked one, a deactivated user's
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    expired_user = await factory.user(Role.TECHNICIAN, [company])
    expired = factory.services.tokens.issue(
        expired_user.id, "technician", now=datetime.now(UTC) - timedelta(hours=25)
    )
    revoked = await factory.user(Role.TECHNICIAN, [company])
    await gql(REVOKE, {"id": gid("User", revoked.id)}, token=msp.token)
    gone = await factory.user(Role.TECHNICIAN, [company])
    await gql(DEACTIVATE, {"id": gid("User", gone.id)}, token=msp.token)

    # when each is sent in connection_init
    closes = []
    for authorization in (f"Bearer {expired}", f"Bearer {revoked.token}", f"Bearer {gone.token}"):
        ws = await _refused_init(server, authorization)
        closes.append(await closed_with(ws))

    # then each connection is closed 4401, with TOKEN_EXPIRED or UNAUTHENTICATED as the reason
    assert closes == [(4401, "TOKEN_EXPIRED"), (4401, "UNAUTHENTICATED"), (4401, "UNAUTHENTICATED")]


async def test_legacy_protocol_refusal_carries_the_code_and_closes_4401(server, factory):
    # given an expired token
    user = await factory.user(Role.TECHNICIAN, [await factory.company()])
    expired = factory.services.tokens.issue(
        user.id, "technician", now=datetime.now(UTC) - timedelta(hours=25)
    )

    # when it opens a legacy graphql-ws connection
    ws = await _refused_init(server, f"Bearer {expired}", LEGACY_WS)
    error = orjson.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT_SECONDS))

    # then connection_error says why, and the close carries the same code
    assert error == {
        "type": "connection_error",
        "payload": {
            "message": "Token expired: sign in again (`login`) and send the new token.",
            "code": "TOKEN_EXPIRED",
        },
    }
    assert await closed_with(ws) == (4401, "TOKEN_EXPIRED")


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_deactivating_a_user_closes_their_open_subscription_at_once(
    server, factory, services, gql, protocol
):
    # given a technician receiving alerts over a live subscription
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    async with connect(server, tech.token, protocol) as socket:
        await socket.subscribe("a", ALERT_RECEIVED, {"c": company.gid})
        await probe_alert(services, company, socket)

        # when their admin deactivates them (through the in-test server: the event crosses processes)
        body = await gql(DEACTIVATE, {"id": gid("User", tech.id)}, token=admin.token)
        assert body["data"]["userDeactivate"]["userErrors"] == []

        # then the server closes their connection 4401, long before its periodic re-check
        assert await closed_with(socket.ws) == (4401, "UNAUTHENTICATED")


async def test_revoking_tokens_closes_the_open_subscription_at_once(server, factory, services, gql):
    # given a company admin subscribed with a token
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    async with connect(server, admin.token) as socket:
        await socket.subscribe("a", ALERT_RECEIVED, {"c": company.gid})
        await probe_alert(services, company, socket)

        # when an MSP admin revokes their tokens
        await gql(REVOKE, {"id": gid("User", admin.id)}, token=msp.token)

        # then the connection is closed 4401
        assert await closed_with(socket.ws) == (4401, "UNAUTHENTICATED")


async def test_a_subscription_closes_when_its_token_expires(server, factory, services):
    # given a technician whose token expires three seconds from now, subscribed and receiving
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    tokens = factory.services.tokens
    token = tokens.issue(tech.id, "technician", now=datetime.now(UTC) - tokens.ttl + timedelta(seconds=3))
    async with connect(server, token) as socket:
        await socket.subscribe("a", ALERT_RECEIVED, {"c": company.gid})
        await probe_alert(services, company, socket)

        # when the token's expiry passes, then the server closes the connection 4401 TOKEN_EXPIRED
        assert await closed_with(socket.ws) == (4401, "TOKEN_EXPIRED")


async def test_deleting_the_company_closes_its_members_subscriptions_4403(server, factory, services, gql):
    # given a company admin subscribed to their company's alerts
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    msp = await factory.user(Role.MSP_ADMIN)
    async with connect(server, admin.token) as socket:
        await socket.subscribe("a", ALERT_RECEIVED, {"c": company.gid})
        await probe_alert(services, company, socket)

        # when an MSP admin deletes the company (its members lose it)
        body = await gql(COMPANY_DELETE, {"id": company.gid}, token=msp.token)
        assert body["data"]["companyDelete"]["userErrors"] == []

        # then the subscription is closed 4403: the token is fine, the access is gone
        assert await closed_with(socket.ws) == (4403, "PERMISSION_DENIED")


async def test_the_periodic_recheck_closes_a_socket_whose_user_lost_a_company(
    rechecking_server, factory, services
):
    # given a technician of two companies subscribed to all they see, receiving events
    a, b = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [a, b])
    async with connect(rechecking_server, tech.token) as socket:
        await socket.subscribe("all", ALERT_RECEIVED)
        await probe_alert(services, b, socket)

        # when their membership of B is removed with no event announcing it
        await services.pool.execute(
            "DELETE FROM memberships WHERE user_id = $1 AND company_id = $2", tech.id, b.id
        )

        # then the next re-check closes the connection 4403
        assert await closed_with(socket.ws) == (4403, "PERMISSION_DENIED")


async def test_the_periodic_recheck_closes_a_socket_whose_user_was_deactivated_silently(
    rechecking_server, factory, services
):
    # given a technician subscribed and receiving events
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    async with connect(rechecking_server, tech.token) as socket:
        await socket.subscribe("a", ALERT_RECEIVED, {"c": company.gid})
        await probe_alert(services, company, socket)

        # when the account is deactivated behind the API's back (no event)
        await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", tech.id)

        # then the next re-check closes the connection 4401
        assert await closed_with(socket.ws) == (4401, "UNAUTHENTICATED")
