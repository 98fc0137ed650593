"""`incidents(orderBy: PRIORITY)`: pages ordered by the `priorityScore` they show, on a 0..100 scale, 0 once resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

PAGE = (
    "query($c: ID, $d: OrderDirection, $a: String) { incidents(companyId: $c,"
    " orderBy: {field: PRIORITY, direction: $d}, first: 2, after: $a) {"
    " nodes { id priorityScore } pageInfo { hasNextPage endCursor } } }"
)


async def every_page(gql, token, company, direction: str) -> tuple[list[tuple[str, float]], int]:
    """(id, priorityScore) of every incident, page after page, and the number of pages."""
    seen, after, pages = [], None, 0
    while True:
        body = await gql(PAGE, {"c": company.gid, "d": direction, "a": after}, token=token)
        assert "errors" not in body, body
        connection = body["data"]["incidents"]
        seen += [(n["id"], n["priorityScore"]) for n in connection["nodes"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = connection["pageInfo"]["endCursor"]


async def test_priority_pages_follow_the_shown_score(gql, factory, services):
    # given five incidents of different severities and ages, whose live scores are e 87, b 60, a 53,
    # c 51.5, d 38
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    now = datetime.now(UTC)

    async def incident(hours: float, **fields) -> str:
        made = await rows.incident(services, company.id, created_at=now - timedelta(hours=hours), **fields)
        return gid("Incident", made)

    a = await incident(9)  # high, one alert: 62 - 9
    b = await incident(12, alert_count=5)  # 70 - 10 (decay capped)
    c = await incident(0.5, severity="medium", critical_asset=True)  # 52 - 0.5
    d = await incident(2, severity="low", alert_count=10, tool_sources=["zabbix", "nagios"])  # 40 - 2
    e = await incident(5, severity="critical")  # 92 - 5

    # when the technician pages through them by priority, two at a time, in both directions
    descending, pages = await every_page(gql, tech.token, company, "DESC")
    ascending, _ = await every_page(gql, tech.token, company, "ASC")

    # then every incident comes once, in the order of the score each page shows, which is the live one
    assert pages == 3
    assert [i for i, _ in descending] == [e, b, a, c, d]
    assert [s for _, s in descending] == pytest.approx([87.0, 60.0, 53.0, 51.5, 38.0], abs=0.02)
    assert ascending == list(reversed(descending))


async def test_priority_pages_order_ties_by_id_and_refuse_another_orders_cursor(gql, factory, services):
    # given three incidents with the same live score (all older than the decay cap) and one above them
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    old = datetime.now(UTC) - timedelta(hours=20)
    tied = sorted(
        [gid("Incident", await rows.incident(services, company.id, created_at=old)) for _ in range(3)],
        key=rows.uuid_of,
        reverse=True,
    )
    top = gid("Incident", await rows.incident(services, company.id, created_at=old, severity="critical"))
    by_creation = await gql(
        "query($c: ID) { incidents(companyId: $c, first: 1) { pageInfo { endCursor } } }",
        {"c": company.gid},
        token=tech.token,
    )

    # when they are paged by priority, and a creation-order cursor is passed to the priority order
    descending, _ = await every_page(gql, tech.token, company, "DESC")
    foreign = await gql(
        PAGE,
        {"c": company.gid, "a": by_creation["data"]["incidents"]["pageInfo"]["endCursor"]},
        token=tech.token,
    )

    # then ties come by id, and the foreign cursor is refused cleanly
    assert descending == [(top, 82.0)] + [(i, 52.0) for i in tied]
    assert foreign["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in foreign["errors"]] == [
        ("is not a valid cursor", "INVALID_CURSOR")
    ]


async def test_scores_stay_within_100_and_a_resolved_incident_scores_0_and_sorts_last(gql, factory, services):
    # given a fresh critical incident on a critical asset with many alerts from two tools (140 points
    # before the cap), a fresh high one, and a high one a technician is about to resolve
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    now = datetime.now(UTC)
    loudest = gid(
        "Incident",
        await rows.incident(
            services,
            company.id,
            created_at=now,
            severity="critical",
            critical_asset=True,
            alert_count=50,
            tool_sources=["zabbix", "nagios"],
        ),
    )
    high = gid("Incident", await rows.incident(services, company.id, created_at=now))
    fixed = gid("Incident", await rows.incident(services, company.id, created_at=now, alert_count=5))

    # when the technician resolves one through the API and then pages through them by priority
    resolved = await gql(
        "mutation($id: ID!) { incidentResolve(input: {id: $id}) { incident { status priorityScore } } }",
        {"id": fixed},
        token=tech.token,
    )
    descending, _ = await every_page(gql, tech.token, company, "DESC")
    ascending, _ = await every_page(gql, tech.token, company, "ASC")

    # then the loudest tops out at 100, the resolved one scores 0 (in the mutation's answer too) and
    # sorts after every open incident, and both directions agree with the scores shown
    assert "errors" not in resolved, resolved
    assert resolved["data"]["incidentResolve"]["incident"] == {"status": "RESOLVED", "priorityScore": 0.0}
    assert [i for i, _ in descending] == [loudest, high, fixed]
    assert [s for _, s in descending] == pytest.approx([100.0, 62.0, 0.0], abs=0.02)
    assert ascending == list(reversed(descending))
