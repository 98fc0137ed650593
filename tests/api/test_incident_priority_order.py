"""`incidents(orderBy: PRIORITY)`: pages ordered by the `priorityScore` they show, whatever is stored."""

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


async def test_priority_pages_follow_the_shown_score_when_stored_scores_have_drifted(gql, factory, services):
    # given five incidents whose stored scores lag their age decay (or are plain wrong), so the stored
    # order (d, b, a, c, e) is not the live one (e 87, b 60, a 53, c 51.5, d 38)
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    now = datetime.now(UTC)

    async def incident(hours: float, stored: float, **fields) -> str:
        made = await rows.incident(
            services, company.id, created_at=now - timedelta(hours=hours), priority_score=stored, **fields
        )
        return gid("Incident", made)

    a = await incident(9, 62.0)  # high, one alert: 62 - 9
    b = await incident(12, 65.0, alert_count=5)  # 70 - 10 (decay capped)
    c = await incident(0.5, 52.0, severity="medium", critical_asset=True)  # 52 - 0.5
    d = await incident(2, 90.0, severity="low", alert_count=10, tool_sources=["zabbix", "nagios"])  # 40 - 2
    e = await incident(5, 40.0, severity="critical")  # 92 - 5

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
