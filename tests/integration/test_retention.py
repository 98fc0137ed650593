"""Alert retention: what is deleted and what is kept, in batches, by one process at a time; the
per-company setting (`companyRetentionUpdate`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.retention import RETENTION_LOCK, AlertRetention
from domain.rbac import Role
from graph.workers import RetentionLoop
from tests import incident_rows as rows
from tests.helpers import sample

UPDATE = """
mutation($i: CompanyRetentionUpdateInput!) {
  companyRetentionUpdate(input: $i) { company { alertRetentionDays } userErrors { field message code } }
}"""


async def _remaining(services, company) -> set:
    return {
        r["id"] for r in await services.pool.fetch("SELECT id FROM alerts WHERE company_id = $1", company.id)
    }


async def _purge_all(services, retention: AlertRetention, now: datetime) -> int:
    total = 0
    async with services.pool.acquire() as conn:
        while True:
            deleted, more = await retention.run(conn, now)
            total += deleted
            if not more:
                return total


async def test_old_alerts_go_but_those_of_open_incidents_and_uncorrelated_ones_stay(services, factory):
    # given a company keeping 30 days, with alerts 40 days old of every kind, and a recent one
    company = await factory.company()
    async with factory.uow() as uow:
        await uow.companies.update_settings(company.id, "test", alert_retention_days=30)
    now = datetime.now(UTC)
    old = now - timedelta(days=40)
    open_incident = await rows.incident(services, company.id, status="NEW")
    resolved = await rows.incident(services, company.id, status="RESOLVED", resolved_at=old)
    gone = {
        await rows.alert(services, company.id, received_at=old),
        await rows.alert(services, company.id, received_at=old, incident_id=resolved),
        await rows.alert(services, company.id, received_at=old + timedelta(days=5), incident_id=resolved),
    }
    kept = {
        await rows.alert(services, company.id, received_at=old, incident_id=open_incident),
        await rows.alert(services, company.id, received_at=old, correlated_at=None),
        await rows.alert(services, company.id, received_at=now - timedelta(days=29)),
    }
    # and another company on the default (90 days) with an alert as old
    other = await factory.company()
    others = {await rows.alert(services, other.id, received_at=old)}

    # when the retention runs, in batches of one
    deleted = await _purge_all(services, AlertRetention(batch=1, pause_seconds=0), now)

    # then only the first company's old alerts outside open incidents and the backlog are gone
    assert deleted >= len(gone)
    assert await _remaining(services, company) == kept
    assert await _remaining(services, other) == others
    assert await services.pool.fetchval("SELECT count(*) FROM incidents WHERE id = $1", resolved) == 1


async def test_a_pass_cut_short_goes_on_where_it_stopped(services, factory):
    # given 5 old alerts
    company = await factory.company()
    now = datetime.now(UTC)
    for i in range(5):
        await rows.alert(services, company.id, received_at=now - timedelta(days=100, minutes=i))
    retention = AlertRetention(batch=2, pause_seconds=0)

    # when steps have no time budget left after their first batch (or company), until one reaches it
    async with services.pool.acquire() as conn:
        while len(await _remaining(services, company)) == 5:
            _, more = await retention.run(conn, now, budget_seconds=0)
            assert more is True

    # then that step deleted one batch and stopped; the next ones finish the pass from there
    assert len(await _remaining(services, company)) == 3
    await _purge_all(services, retention, now)
    assert await _remaining(services, company) == set()


async def test_one_process_purges_at_a_time(services, factory, settings):
    # given old alerts, and another process holding the retention lock
    company = await factory.company()
    now = datetime.now(UTC)
    alert = await rows.alert(services, company.id, received_at=now - timedelta(days=200))
    loop = RetentionLoop(services)
    async with services.pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", RETENTION_LOCK)
        try:
            # when this process's loop steps, nothing is deleted
            assert await loop.step() is False
            assert await _remaining(services, company) == {alert}
        finally:
            await holder.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)

    # once the lock is free, its step deletes them and counts them
    purged = sample("alertwhisperer_alerts_purged_total")
    while await loop.step():
        pass
    assert await _remaining(services, company) == set()
    assert sample("alertwhisperer_alerts_purged_total") >= purged + 1


async def test_the_retention_is_a_company_setting_with_a_range(gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    technician = await factory.user(Role.TECHNICIAN, [company])
    read = "query($id: ID!) { company(id: $id) { alertRetentionDays } }"
    assert (await gql(read, {"id": company.gid}, token=admin.token))["data"]["company"] == {
        "alertRetentionDays": 90
    }

    ok = await gql(UPDATE, {"i": {"id": company.gid, "alertRetentionDays": 14}}, token=admin.token)
    assert ok["data"]["companyRetentionUpdate"] == {"company": {"alertRetentionDays": 14}, "userErrors": []}

    error = {"field": "alertRetentionDays", "message": "must be between 1 and 3650", "code": "INVALID_INPUT"}
    for days in (0, 3651, -5):
        bad = await gql(UPDATE, {"i": {"id": company.gid, "alertRetentionDays": days}}, token=admin.token)
        assert bad["data"]["companyRetentionUpdate"] == {"company": None, "userErrors": [error]}
    denied = await gql(UPDATE, {"i": {"id": company.gid, "alertRetentionDays": 1}}, token=technician.token)
    assert [e["code"] for e in denied["data"]["companyRetentionUpdate"]["userErrors"]] == [
        "PERMISSION_DENIED"
    ]
    days = await services.pool.fetchval(
        "SELECT alert_retention_days FROM companies WHERE id = $1", company.id
    )
    assert days == 14
    [action] = [
        a for a, _ in await rows.audit_actions(services, company.id) if a == "company.retention_update"
    ]
    assert action == "company.retention_update"
