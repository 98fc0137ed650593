"""The priority order in SQL: the same score as the domain rule, read as of one moment page after page."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from db.repositories.incidents import IncidentSearch
from db.tables import Incident
from domain.alerts import Severity
from domain.ids import uuid7
from domain.priority import priority_score

T = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
# Ages in hours: not yet created (a clock ahead), fresh, decaying, at the cap, long past it.
AGES = (-1.0, 0.0, 0.25, 5.5, 9.99, 10.0, 30.0)


async def grid_of_incidents(services, company_id) -> dict:
    """One incident per severity, critical flag, alert count, tool count and age; each one's fields."""
    made = {}
    # A cascade root's blast radius, varied across the grid (a product with it would be 5x the rows).
    blast_radii = itertools.cycle((0, 1, 3, 4, 9))
    for severity, critical, alerts, tools, age, status in itertools.product(
        Severity, (False, True), (0, 1, 9, 10, 50), (0, 1, 2, 3), AGES, ("NEW", "RESOLVED")
    ):
        incident_id = uuid7()
        created = T - timedelta(hours=age)
        made[incident_id] = {
            "id": incident_id,
            "company_id": company_id,
            "correlation_key": f"k-{incident_id}",
            "asset_name": "web-01",
            "signature": "HighCPU",
            "status": status,
            "severity": severity.value,
            "category": "Server",
            "alert_count": alerts,
            "tool_sources": ["generic", "zabbix", "nagios"][:tools],
            "active_fingerprints": [],
            "flap_times": [],
            "critical_asset": critical,
            "blast_radius": next(blast_radii),
            "first_alert_at": created,
            "last_alert_at": created,
            "created_at": created,
            "updated_at": created,
        }
    async with services.sessionmaker() as session, session.begin():
        await session.execute(insert(Incident), list(made.values()))
    return made


def domain_score(row: dict, at: datetime) -> float:
    return priority_score(
        Severity(row["severity"]),
        row["critical_asset"],
        row["alert_count"],
        len(row["tool_sources"]),
        row["created_at"],
        at,
        resolved=row["status"] == "RESOLVED",
        blast_radius=row["blast_radius"],
    )


async def read_all(factory, company_id, *, descending: bool, first: int, nows: list[datetime]):
    """Every (id, score) page after page, the n-th page read at `nows[n]` (the last one repeated)."""
    seen, after = [], None
    for n in itertools.count():
        async with factory.uow() as uow:
            page = await uow.incidents.page_by_priority(
                IncidentSearch(company_id=company_id),
                descending=descending,
                first=first,
                after=after,
                now=nows[min(n, len(nows) - 1)],
            )
        seen += [(s.incident.id, s.priority_score) for s in page.items]
        if not page.has_next:
            return seen
        after = page.cursors[-1]


@pytest.mark.parametrize("descending", [True, False])
async def test_the_sql_order_is_the_domain_score_then_id_over_every_kind_of_incident(
    services, factory, descending
):
    # given 2,240 incidents: every severity, critical flag, alert and tool count, at ages either side
    # of the decay cap, open and resolved
    company = await factory.company()
    made = await grid_of_incidents(services, company.id)

    # when they are read by priority at T, 100 a page
    seen = await read_all(factory, company.id, descending=descending, first=100, nows=[T])

    # then each comes once with the domain's score at T, in that order, ties by id
    expected = sorted(
        ((i, domain_score(row, T)) for i, row in made.items()),
        key=lambda p: (p[1], p[0]),
        reverse=descending,
    )
    assert seen == expected


async def test_later_pages_continue_the_order_of_the_first_pages_moment(services, factory):
    # given the grid of incidents
    company = await factory.company()
    made = await grid_of_incidents(services, company.id)

    # when the first page is read at T and each later one an hour after the one before
    seen = await read_all(
        factory, company.id, descending=True, first=100, nows=[T + timedelta(hours=h) for h in range(12)]
    )

    # then the pages are the list as of T: nothing skipped or repeated though scores decayed meanwhile
    expected = sorted(((i, domain_score(row, T)) for i, row in made.items()), key=lambda p: (p[1], p[0]))
    assert seen == list(reversed(expected))
