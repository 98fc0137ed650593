"""The automated incident writer, the execution record and the notification producer (the shared base
the decision, remediation, notification and SLA reactions build on), against real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from db.executions import EXECUTIONS_TOPIC, ExecutionRequest, enqueue_execution
from db.incident_writer import apply_action
from db.notifications import company_admins, enqueue, user_topic
from domain.incidents import REMEDIATION_ACTOR, IncidentAction
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import event_heard


async def test_a_remediated_resolve_closes_the_incident_and_its_alerts_with_one_outbox_row(services, factory):
    company = await factory.company()
    incident = await rows.incident(services, company.id, active_fingerprints=["fp"], flapping=True)
    alert = await rows.alert(services, company.id, incident_id=incident)
    now = datetime.now(UTC)

    async with services.pool.acquire() as conn, conn.transaction():
        applied = await apply_action(
            conn,
            incident,
            IncidentAction.RESOLVE,
            REMEDIATION_ACTOR,
            now,
            remediated=True,
            data={"execution": "e1"},
        )

    assert applied is not None
    assert applied.change.resolved
    row = await services.pool.fetchrow(
        "SELECT status, auto_remediated, resolved_at, flapping, active_fingerprints, version FROM incidents WHERE id = $1",
        incident,
    )
    assert (row["status"], row["auto_remediated"], row["flapping"], row["active_fingerprints"]) == (
        "RESOLVED",
        True,
        False,
        [],
    )
    assert row["resolved_at"] == now
    change = await services.pool.fetchrow(
        "SELECT version, kind, before_status, after_status, actor FROM incident_changes WHERE incident_id = $1",
        incident,
    )
    assert tuple(change) == (row["version"], "RESOLVED", "NEW", "RESOLVED", REMEDIATION_ACTOR)
    events = await services.pool.fetch(
        "SELECT kind, data FROM incident_events WHERE incident_id = $1 ORDER BY id", incident
    )
    assert [e["kind"] for e in events] == ["MANUALLY_RESOLVED", "FLAPPING_STOPPED"]
    assert '"actor": "system:remediation"' in events[0]["data"]
    assert '"execution": "e1"' in events[0]["data"]
    assert await services.pool.fetchval("SELECT resolved_at FROM alerts WHERE id = $1", alert) == now


async def test_an_action_the_status_does_not_allow_writes_nothing(services, factory):
    company = await factory.company()
    incident = await rows.incident(services, company.id, status="RESOLVED", resolved_at=datetime.now(UTC))

    async with services.pool.acquire() as conn, conn.transaction():
        applied = await apply_action(
            conn, incident, IncidentAction.ESCALATE, REMEDIATION_ACTOR, datetime.now(UTC)
        )

    assert applied is None
    assert (
        await services.pool.fetchval("SELECT count(*) FROM incident_changes WHERE incident_id = $1", incident)
        == 0
    )
    assert await services.pool.fetchval("SELECT version FROM incidents WHERE id = $1", incident) == 1


async def test_a_reopen_clears_auto_remediated(services, factory):
    company = await factory.company()
    incident = await rows.incident(
        services, company.id, status="RESOLVED", resolved_at=datetime.now(UTC), auto_remediated=True
    )

    async with services.pool.acquire() as conn, conn.transaction():
        applied = await apply_action(
            conn, incident, IncidentAction.REOPEN, REMEDIATION_ACTOR, datetime.now(UTC)
        )

    assert applied is not None
    row = await services.pool.fetchrow(
        "SELECT status, auto_remediated, resolved_at FROM incidents WHERE id = $1", incident
    )
    assert tuple(row) == ("NEW", False, None)


async def _request(services, factory, **fields):
    company = await factory.company()
    runbook = await services.pool.fetchrow(
        "SELECT id, version FROM runbooks WHERE company_id IS NULL LIMIT 1"
    )
    return company, ExecutionRequest(
        company_id=company.id,
        runbook_id=runbook["id"],
        runbook_version=runbook["version"],
        instance_ids=["i-0abc"],
        document="AWS-RunShellScript",
        commands=["df -h"],
        timeout_seconds=600,
        started_by=REMEDIATION_ACTOR,
        **fields,
    )


async def test_an_approval_starts_at_most_one_execution(services, factory):
    approval = uuid.uuid4()
    company, request = await _request(
        services, factory, approval_id=approval, parameters={"path": "/var/log"}
    )

    async with event_heard(services, EXECUTIONS_TOPIC):
        async with services.pool.acquire() as conn, conn.transaction():
            first = await enqueue_execution(conn, request, datetime.now(UTC))
    async with services.pool.acquire() as conn, conn.transaction():
        second = await enqueue_execution(conn, request, datetime.now(UTC))

    assert first is not None
    assert second is None
    row = await services.pool.fetchrow(
        "SELECT status, phase, parameters, instance_ids FROM remediation_executions WHERE company_id = $1",
        company.id,
    )
    assert (row["status"], row["phase"], row["instance_ids"]) == ("PENDING", "send", ["i-0abc"])
    assert json.loads(row["parameters"]) == {"path": "/var/log"}


async def test_notifications_go_once_to_each_active_admin_and_announce_on_their_own_topic(services, factory):
    company = await factory.company()
    other = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await factory.user(Role.COMPANY_ADMIN, [other])
    await factory.user(Role.TECHNICIAN, [company])
    now = datetime.now(UTC)

    async with services.pool.acquire() as conn:
        admins = await company_admins(conn, company.id)
    assert admins == [admin.id]
    async with event_heard(services, user_topic(admin.id)):
        async with services.pool.acquire() as conn, conn.transaction():
            added = await enqueue(
                conn,
                company_id=company.id,
                user_ids=admins,
                kind="ESCALATED",
                subject="s",
                body="b",
                now=now,
                dedup_key="escalated:1",
            )
    async with services.pool.acquire() as conn, conn.transaction():
        again = await enqueue(
            conn,
            company_id=company.id,
            user_ids=admins,
            kind="ESCALATED",
            subject="s",
            body="b",
            now=now,
            dedup_key="escalated:1",
        )

    assert len(added) == 1
    assert again == []
    row = await services.pool.fetchrow(
        "SELECT user_id, email_state, read_at FROM notifications WHERE id = $1", added[0]
    )
    assert tuple(row) == (admin.id, "pending", None)
