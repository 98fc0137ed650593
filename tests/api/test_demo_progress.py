"""`demoProgress` over a real server: the steps a runner in another process sends (over HTTP, to the
server's own webhooks) reach the company's subscribers, and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from db.demo import DemoRunner
from db.events import topic
from domain.rbac import Role
from graph.demo_sender import HttpDemoSender
from tests.api.test_subscriptions import connect, wait_live
from tests.integration.test_demo import START, _uuid, demo_company
from tests.live import live_servers

PROGRESS = """
subscription($c: ID!) {
  demoProgress(companyId: $c) { id status step totalSteps alertsSent message company { id } }
}"""


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_servers(database_url, tmp_path_factory.mktemp("demo"), count=1) as urls:
        yield urls[0]


async def test_demo_progress_streams_each_step_to_the_companys_subscribers_only(
    server, services, factory, gql
):
    # given a demo run started on company A, its admin subscribed to A's demo progress
    company = await demo_company(services, factory)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    outsider = await factory.user(Role.COMPANY_ADMIN, [await factory.company()])
    body = await gql(
        START, {"input": {"companyId": company.gid, "scenario": "DISK_CLEANUP"}}, token=admin.token
    )
    run_id = _uuid(body["data"]["demoStart"]["demo"]["id"])

    def is_probe(payload: dict[str, Any]) -> bool:
        return payload["data"]["demoProgress"]["step"] == 0

    async with connect(server, admin.token) as socket:
        await socket.subscribe("1", PROGRESS, {"c": company.gid})
        await wait_live(
            socket, services, topic(company.id, "demo"), {"kind": "RUNNING", "id": str(run_id)}, is_probe
        )

        # when a runner in this process sends the steps to the server's webhooks over HTTP
        runner = DemoRunner(services.pool, lambda: HttpDemoSender(server), services.cipher.decrypt, 0.0)
        for _ in range(2):
            await runner.run_once(datetime.now(UTC))
        seen = [(await socket.next_data(skip=is_probe))["data"]["demoProgress"] for _ in range(2)]

    # then the subscriber saw each step, the last one finishing the run
    assert [(s["status"], s["step"], s["totalSteps"], s["alertsSent"]) for s in seen] == [
        ("RUNNING", 1, 2, 1),
        ("FINISHED", 2, 2, 2),
    ]
    assert {s["company"]["id"] for s in seen} == {company.gid}
    # and the server stored the alerts its webhooks received
    assert await services.pool.fetchval("SELECT count(*) FROM alerts WHERE company_id = $1", company.id) == 2

    # and another company's admin cannot subscribe to it
    async with connect(server, outsider.token) as socket:
        await socket.subscribe("x", PROGRESS, {"c": company.gid})
        refused = [await socket.receive(), await socket.receive()]
    assert [(m["type"], m.get("payload")) for m in refused] == [
        (
            "next",
            {"data": None, "errors": [{"message": "company not found", "extensions": {"code": "NOT_FOUND"}}]},
        ),
        ("complete", None),
    ]
