"""Subscriptions over real websockets against real server processes (`tests.live`).

A subscription is only live once its server has registered it with the event bus, which the protocol
does not acknowledge. `wait_live` therefore sends a probe event with `pg_notify` (for a probe row of
the subscriber's company) until the subscription delivers it; the probe rows are then skipped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from db.events import topic
from domain.rbac import Role
from graph.core import parse_global_id
from tests import incident_rows as rows
from tests.helpers import gid
from tests.live import live_servers

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

ALERT_RECEIVED = "subscription($c: ID) { alertReceived(companyId: $c) { id assetName signature severity company { name } } }"
ALERT_RECEIVED_PAYLOAD = "subscription($c: ID) { alertReceived(companyId: $c) { id assetName signature severity tags raw company { name } } }"
INCIDENT_CHANGED = (
    "subscription($c: ID) { incidentChanged(companyId: $c) { kind incident { id assetName signature status"
    " alertCount company { name } } } }"
)


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two server processes (with workers) on the test database."""
    with live_servers(database_url, tmp_path_factory.mktemp("subscriptions"), count=2, workers=True) as urls:
        yield urls


class Socket:
    """A GraphQL websocket client for both protocols."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def receive(self, wait: float = 10.0) -> dict[str, Any]:
        """The next protocol message, keep-alives skipped."""
        while True:
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), wait))
            if message["type"] in ("ka", "ping", "pong"):
                continue
            return message

    async def next_data(
        self, skip: Callable[[dict[str, Any]], bool] = lambda _: False, wait: float = 10.0
    ) -> dict[str, Any]:
        """The next result payload of any operation, skipping those `skip` says are probes."""
        data_type = "next" if self.protocol == TRANSPORT_WS else "data"
        while True:
            message = await self.receive(wait)
            assert message["type"] == data_type, message
            if not skip(message["payload"]):
                return message["payload"]


@asynccontextmanager
async def connect(base_url: str, token: str | None, protocol: str = TRANSPORT_WS) -> AsyncIterator[Socket]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[protocol]) as ws:
        socket = Socket(ws, protocol)
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await socket.send({"type": "connection_init", "payload": payload})
        assert (await socket.receive())["type"] == "connection_ack"
        yield socket


async def notify(services: Any, topic_name: str, data: dict[str, Any]) -> None:
    await services.pool.execute(
        "SELECT pg_notify('aw_events', $1)", orjson.dumps({"topic": topic_name, **data}).decode()
    )


async def wait_live(
    socket: Socket,
    services: Any,
    topic_name: str,
    probe: dict[str, Any],
    is_probe: Callable[[dict[str, Any]], bool],
) -> None:
    """Send the probe event until the subscription delivers it (at most ~10 s).

    An MSP admin's subscription spans every company, so changes made by tests running beside
    this one may arrive first: those are passed over, only the probe proves the subscription live.
    """
    for _ in range(50):
        await notify(services, topic_name, probe)
        try:
            await socket.next_data(wait=0.2, skip=lambda p: not is_probe(p))
        except TimeoutError:
            continue
        return
    raise AssertionError("subscription never became live")


async def probe_alert(services: Any, company: Any, socket: Socket) -> Callable[[dict[str, Any]], bool]:
    """Make `alertReceived` live for `company`; returns the predicate that spots probe results."""
    probe = await rows.alert(services, company.id, asset_name="probe")
    probe_gid = gid("Alert", probe)

    def is_probe(payload: dict[str, Any]) -> bool:
        return (payload.get("data") or {}).get("alertReceived", {}).get("id") == probe_gid

    await wait_live(
        socket, services, topic(company.id, "alerts"), {"kind": "RECEIVED", "ids": [str(probe)]}, is_probe
    )
    return is_probe


async def probe_incident(services: Any, company: Any, socket: Socket) -> Callable[[dict[str, Any]], bool]:
    """Make `incidentChanged` live for `company`; returns the predicate that spots probe results."""
    probe = await rows.incident(services, company.id, asset_name="probe")
    probe_gid = gid("Incident", probe)

    def is_probe(payload: dict[str, Any]) -> bool:
        return (payload.get("data") or {}).get("incidentChanged", {}).get("incident", {}).get(
            "id"
        ) == probe_gid

    await wait_live(
        socket, services, topic(company.id, "incidents"), {"kind": "UPDATED", "id": str(probe)}, is_probe
    )
    return is_probe


async def post_alert(base_url: str, company: Any, **fields: Any) -> list[str]:
    body = {
        "asset_name": "web-01",
        "signature": "HighCPU",
        "severity": "critical",
        "message": "CPU 99%",
    } | fields
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            base_url + "/api/webhooks/alerts",
            content=orjson.dumps(body),
            headers={"content-type": "application/json", "x-api-key": company.api_key},
        )
    assert resp.status_code == 202, resp.text
    # the webhook answers global IDs; these tests compare row ids
    return [parse_global_id(i)[1] for i in resp.json()["alert_ids"]]


# ---- tests --------------------------------------------------------------------------------------


async def test_webhook_alert_becomes_incident_changed_created(servers, factory, services):
    # given a technician subscribed to incidentChanged of its company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    async with connect(servers[0], tech.token) as socket:
        await socket.subscribe("1", INCIDENT_CHANGED, {"c": company.gid})
        is_probe = await probe_incident(services, company, socket)

        # when a monitoring tool posts an alert through the webhook
        [alert_id] = await post_alert(servers[0], company, asset_name="db-07", signature="DiskFull")
        payload = await socket.next_data(skip=is_probe)

    # then the correlated incident arrives as CREATED (as it is when delivered: the servers' decisions
    # reaction may already have escalated it, no runbook running on a discovered asset)
    [incident] = [i for i in await _incidents(services, company) if i.asset_name == "db-07"]
    assert payload["data"]["incidentChanged"]["incident"].pop("status") in ("NEW", "ESCALATED")
    assert payload == {
        "data": {
            "incidentChanged": {
                "kind": "CREATED",
                "incident": {
                    "id": gid("Incident", incident.id),
                    "assetName": "db-07",
                    "signature": "DiskFull",
                    "alertCount": 1,
                    "company": {"name": company.name},
                },
            }
        }
    }
    assert [a.incident_id for a in await rows.alerts_of(services, company.id) if str(a.id) == alert_id] == [
        incident.id
    ]


async def _incidents(services: Any, company: Any) -> list[Any]:
    from sqlalchemy import select

    from db.tables import Incident

    async with services.sessionmaker() as session:
        stmt = select(Incident).where(Incident.company_id == company.id)
        return list((await session.execute(stmt)).scalars())


async def test_event_produced_by_another_server_process_is_received(servers, factory, services):
    # given a company admin subscribed to alertReceived on the first server
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    async with connect(servers[0], admin.token) as socket:
        await socket.subscribe("a", ALERT_RECEIVED_PAYLOAD, {"c": company.gid})
        is_probe = await probe_alert(services, company, socket)

        # when an alert is posted to the second server
        [alert_id] = await post_alert(
            servers[1], company, asset_name="edge-9", signature="LinkDown", tags={"site": "lyon"}
        )
        payload = await socket.next_data(skip=is_probe)

    # then the first server's subscriber receives it, its tags and the payload as sent
    assert payload == {
        "data": {
            "alertReceived": {
                "id": gid("Alert", alert_id),
                "assetName": "edge-9",
                "signature": "LinkDown",
                "severity": "CRITICAL",
                "tags": {"site": "lyon"},
                "raw": {
                    "asset_name": "edge-9",
                    "signature": "LinkDown",
                    "severity": "critical",
                    "message": "CPU 99%",
                    "tags": {"site": "lyon"},
                },
                "company": {"name": company.name},
            }
        }
    }


async def test_incident_worked_on_another_server_is_pushed_as_updated(servers, factory, services):
    # given a technician subscribed on the first server, and an open incident
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id, asset_name="app-3")
    async with connect(servers[0], tech.token) as socket:
        await socket.subscribe("i", INCIDENT_CHANGED)
        is_probe = await probe_incident(services, company, socket)

        # when a colleague acknowledges it through the second server
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.post(
                servers[1] + "/graphql",
                headers={"authorization": f"Bearer {tech.token}"},
                json={
                    "query": "mutation($id: ID!) { incidentAcknowledge(input: {id: $id}) { userErrors { code } } }",
                    "variables": {"id": gid("Incident", incident)},
                },
            )
        payload = await socket.next_data(skip=is_probe)

    # then the subscriber sees the change
    assert resp.json() == {"data": {"incidentAcknowledge": {"userErrors": []}}}
    assert payload["data"]["incidentChanged"]["kind"] == "UPDATED"
    assert payload["data"]["incidentChanged"]["incident"] | {"alertCount": 0} == {
        "id": gid("Incident", incident),
        "assetName": "app-3",
        "signature": "HighCPU",
        "status": "ACKNOWLEDGED",
        "alertCount": 0,
        "company": {"name": company.name},
    }


async def test_subscriber_never_receives_another_companys_events(servers, factory, services):
    # given a company admin of A subscribed to all its companies' alerts and incidents
    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    async with connect(servers[0], admin.token) as socket:
        await socket.subscribe("alerts", ALERT_RECEIVED)
        is_probe_alert = await probe_alert(services, a, socket)
        await socket.subscribe("incidents", INCIDENT_CHANGED)
        is_probe_incident = await probe_incident(services, a, socket)
        probe = lambda p: is_probe_alert(p) or is_probe_incident(p)  # noqa: E731

        # when B gets an alert and an incident change, an event on A's channel names B's incident,
        # and then A gets an alert and an incident change (the markers)
        b_incident = await rows.incident(services, b.id)
        a_incident = await rows.incident(services, a.id, asset_name="a-marker")
        await post_alert(servers[1], b, asset_name="b-host")
        await notify(services, topic(b.id, "incidents"), {"kind": "UPDATED", "id": str(b_incident)})
        await notify(services, topic(a.id, "incidents"), {"kind": "UPDATED", "id": str(b_incident)})
        [a_alert] = await post_alert(servers[1], a, asset_name="a-host")
        await notify(services, topic(a.id, "incidents"), {"kind": "UPDATED", "id": str(a_incident)})
        received = []
        while not ({gid("Alert", a_alert), gid("Incident", a_incident)} <= {_subject(p) for p in received}):
            received.append(await socket.next_data(skip=probe))

    # then everything A's subscriber received is A's (B's alert, change and forged event never arrive)
    assert {_company(p) for p in received} == {a.name}
    assert gid("Incident", b_incident) not in {_subject(p) for p in received}


def _subject(payload: dict[str, Any]) -> str:
    data = payload["data"]
    return (
        data["alertReceived"]["id"] if "alertReceived" in data else data["incidentChanged"]["incident"]["id"]
    )


def _company(payload: dict[str, Any]) -> str:
    data = payload["data"]
    item = data["alertReceived"] if "alertReceived" in data else data["incidentChanged"]["incident"]
    return item["company"]["name"]


async def test_subscribing_to_another_company_is_not_found(servers, factory):
    # given a technician of A
    a, b = await factory.company(), await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [a])

    # when it subscribes to B's incidents, and to an unknown company's alerts
    async with connect(servers[0], tech.token) as socket:
        await socket.subscribe("b", INCIDENT_CHANGED, {"c": b.gid})
        other = [await socket.receive(), await socket.receive()]
        await socket.subscribe("u", ALERT_RECEIVED, {"c": gid("Company", uuid.UUID(int=99))})
        unknown = [await socket.receive(), await socket.receive()]

    # then both streams end with NOT_FOUND, exactly alike
    def shape(messages):
        return [(m["type"], m.get("payload")) for m in messages]

    not_found = [
        (
            "next",
            {"data": None, "errors": [{"message": "company not found", "extensions": {"code": "NOT_FOUND"}}]},
        ),
        ("complete", None),
    ]
    assert shape(other) == shape(unknown) == not_found


@pytest.mark.parametrize("token", [None, "not-a-jwt", "Bearer-less"])
async def test_bad_or_missing_token_in_connection_init_is_rejected(servers, token):
    # given a websocket on graphql-transport-ws
    url = servers[0].replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[TRANSPORT_WS]) as ws:
        # when connection_init carries no token, a bad one, or a header without the scheme
        payload = (
            {} if token is None else {"authorization": token if token == "Bearer-less" else f"Bearer {token}"}
        )
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())

        # then the server closes with 4401, the reason being the code an HTTP request would get
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "UNAUTHENTICATED")


async def test_legacy_graphql_ws_protocol_delivers_events(servers, factory, services):
    # given a technician subscribed over the legacy graphql-ws protocol
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    async with connect(servers[1], tech.token, protocol=LEGACY_WS) as socket:
        await socket.subscribe("legacy", ALERT_RECEIVED, {"c": company.gid})
        is_probe = await probe_alert(services, company, socket)

        # when an alert is posted
        [alert_id] = await post_alert(servers[0], company, asset_name="legacy-1")
        payload = await socket.next_data(skip=is_probe)

    # then it arrives as a `data` message
    assert payload == {
        "data": {
            "alertReceived": {
                "id": gid("Alert", alert_id),
                "assetName": "legacy-1",
                "signature": "HighCPU",
                "severity": "CRITICAL",
                "company": {"name": company.name},
            }
        }
    }


async def test_legacy_protocol_rejects_a_bad_token(servers):
    # given a websocket on graphql-ws
    url = servers[0].replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[LEGACY_WS]) as ws:
        # when connection_init carries a bad token
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}).decode()
        )
        error = orjson.loads(await asyncio.wait_for(ws.recv(), 10))

        # then the server answers connection_error with the code, and closes 4401
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert error == {
        "type": "connection_error",
        "payload": {
            "message": "Invalid token: sign in again (`login`) and send the new token.",
            "code": "UNAUTHENTICATED",
        },
    }
    assert closed.value.rcvd.code == 4401


async def test_a_batched_event_naming_another_companys_incident_delivers_only_the_own_one(
    servers, factory, services
):
    # given a company admin of A subscribed to A's incidents, with nested fields in the selection
    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    mine = await rows.incident(services, a.id, asset_name="db-07", alert_count=3)
    theirs = await rows.incident(services, b.id, asset_name="secret-host")
    query = (
        "subscription($c: ID) { incidentChanged(companyId: $c) { kind incident { id assetName alertCount"
        " priorityScore company { name } asset { name } alerts(first: 5) { edges { node { id } } } } } }"
    )
    async with connect(servers[0], admin.token) as socket:
        await socket.subscribe("1", query, {"c": a.gid})
        is_probe = await probe_incident(services, a, socket)

        # when a notification on A's channel names B's incident and A's (as the worker batches them)
        forged = {
            "topic": topic(a.id, "incidents"),
            "changes": [[str(theirs), "UPDATED"], [str(mine), "UPDATED"]],
        }
        await services.pool.execute("SELECT pg_notify('aw_events', $1)", orjson.dumps(forged).decode())
        payload = await socket.next_data(skip=is_probe)

    # then only A's incident is delivered, with its nested fields resolved
    event = payload["data"]["incidentChanged"]
    assert event["kind"] == "UPDATED"
    assert event["incident"]["id"] == gid("Incident", mine)
    assert event["incident"]["assetName"] == "db-07"
    assert event["incident"]["company"] == {"name": a.name}
    assert event["incident"]["asset"] is None
    assert event["incident"]["alerts"] == {"edges": []}
    assert event["incident"]["priorityScore"] == 66.0  # high 60 + 3 alerts x 2, just created


async def test_a_company_deleted_while_subscribed_delivers_nothing_more(servers, factory, services):
    # given an MSP admin subscribed to every company's incidents, among them A's and B's
    a, b = await factory.company(), await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    mine = await rows.incident(services, a.id, asset_name="still-here")
    gone = await rows.incident(services, b.id, asset_name="deleted-company-host")
    async with connect(servers[0], msp.token) as socket:
        await socket.subscribe("1", "subscription { incidentChanged { kind incident { id } } }")
        is_probe = await probe_incident(services, a, socket)

        # when B is deleted (its rows wait for the purge) and then changes of B's and A's incident
        # are announced on their channels
        async with factory.uow() as uow:
            await uow.companies.delete(b.id)
        await notify(services, topic(b.id, "incidents"), {"kind": "UPDATED", "id": str(gone)})
        await notify(services, topic(a.id, "incidents"), {"kind": "UPDATED", "id": str(mine)})
        # (the subscription is every company's: changes made by tests running beside this one pass by)
        ours = {gid("Incident", mine), gid("Incident", gone)}
        payload = await socket.next_data(
            skip=lambda p: is_probe(p) or p["data"]["incidentChanged"]["incident"]["id"] not in ours
        )

    # then only A's arrives: the deleted company's incident is read as every read reads it, as gone
    assert payload["data"]["incidentChanged"] == {
        "kind": "UPDATED",
        "incident": {"id": gid("Incident", mine)},
    }
