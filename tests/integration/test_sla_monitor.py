"""The SLA clocks reaction and the monitor on real PostgreSQL, on an injected clock: deadlines kept
in step with the incident, warnings and breaches acted on exactly once (two monitors racing, a
restart), each escalation level and who hears of it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from db.incident_writer import apply_action
from db.reactions import ReactionRunner
from db.sla import CLAIM_DUE, SlaClocks, SlaMonitor
from domain.incidents import IncidentAction
from domain.rbac import Role
from graph.workers import LOOPS, SlaMonitorLoop
from tests import incident_rows as rows
from tests.helpers import sample

pytestmark = pytest.mark.usefixtures("registered")

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def registered(services: Any) -> None:
    await ReactionRunner(services.pool, SlaClocks()).register()


async def react(services: Any) -> None:
    """Let the sla-clocks reaction handle every change waiting for it."""
    runner = ReactionRunner(services.pool, SlaClocks(), batch=200)
    while await runner.run_once(now=datetime.now(UTC) + timedelta(days=30)):
        pass


async def open_incident(
    services: Any, company: Any, severity: str = "critical", at: datetime = T0, **fields: Any
) -> uuid.UUID:
    """An incident opened at `at`, with the outbox row the correlation worker writes with it."""
    incident = await rows.incident(services, company.id, severity=severity, created_at=at, **fields)
    await services.pool.execute(
        "INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,"
        " before_severity, after_severity, actor, at) VALUES ($1, $2, 1, 'CREATED', NULL, 'NEW', NULL, $3,"
        " 'system:correlation', $4)",
        company.id,
        incident,
        severity,
        at,
    )
    await react(services)
    return incident


async def act(
    services: Any, incident: uuid.UUID, action: IncidentAction, at: datetime, user: Any = None
) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        if user is None:
            await apply_action(conn, incident, action, "system:test", at)
        else:
            await apply_action(conn, incident, action, f"user:{user.id}", at, actor_id=user.id)
    await react(services)


async def clocks(services: Any, incident: uuid.UUID) -> Any:
    return await services.pool.fetchrow("SELECT * FROM incident_sla WHERE incident_id = $1", incident)


async def notified(services: Any, incident: uuid.UUID) -> list[tuple[str, uuid.UUID, bool]]:
    found = await services.pool.fetch(
        "SELECT kind, user_id, data, email_state FROM notifications WHERE incident_id = $1 ORDER BY id",
        incident,
    )
    return [(r["kind"], r["user_id"], r["email_state"] == "pending") for r in found]


async def sla_events(services: Any, incident: uuid.UUID) -> list[tuple[str, str, int | None]]:
    found = await services.pool.fetch(
        "SELECT clock, kind, level FROM sla_events WHERE incident_id = $1 ORDER BY id", incident
    )
    return [tuple(r) for r in found]


async def kinds(services: Any, incident: uuid.UUID) -> list[str]:
    return [e.kind for e in await rows.timeline(services, incident)]


@pytest.fixture
async def team(factory: Any) -> Any:
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    technician = await factory.user(Role.TECHNICIAN, [company])
    return company, admin, technician


async def test_clocks_start_with_the_incident_and_stop_when_a_person_acknowledges(services, team):
    company, _, technician = team
    # given a critical incident opened at T0
    incident = await open_incident(services, company)

    # then its deadlines follow the default policy, the next due time is the response warning
    row = await clocks(services, incident)
    assert row["response_deadline"] == T0 + timedelta(minutes=30)
    assert row["resolution_deadline"] == T0 + timedelta(hours=4)
    assert row["next_due_at"] == T0 + timedelta(minutes=24)

    # when an automated escalation happens, the response clock still runs
    await act(services, incident, IncidentAction.ESCALATE, T0 + timedelta(minutes=1))
    assert (await clocks(services, incident))["response_met_at"] is None

    # and when a technician acknowledges it at minute 5, response is met; resolution is next
    await act(services, incident, IncidentAction.ACKNOWLEDGE, T0 + timedelta(minutes=5), technician)
    row = await clocks(services, incident)
    assert row["response_met_at"] == T0 + timedelta(minutes=5)
    assert row["next_due_at"] == T0 + timedelta(minutes=192)

    # and nothing is due at minute 40 (no response warning or breach for a met clock)
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=40))
    assert await sla_events(services, incident) == []


async def test_a_warning_then_a_response_breach_each_reach_the_company_admins_once(services, team):
    company, admin, _ = team
    # given an unassigned critical incident
    incident = await open_incident(services, company)
    monitor = SlaMonitor(services.pool)
    warnings = sample("alertwhisperer_sla_events_total", clock="response", kind="warning")
    breaches = sample("alertwhisperer_sla_events_total", clock="response", kind="breach")

    # when the monitor passes at minute 25 (past 80% of the 30-minute response target), twice
    await monitor.run_once(T0 + timedelta(minutes=25))
    await monitor.run_once(T0 + timedelta(minutes=26))

    # then the company's admins have one warning, emailed, naming the deadline
    assert await notified(services, incident) == [("SLA_WARNING", admin.id, True)]
    data = await services.pool.fetchval(
        "SELECT data FROM notifications WHERE incident_id = $1 AND kind = 'SLA_WARNING'", incident
    )
    assert f'"sla_deadline": "{(T0 + timedelta(minutes=30)).isoformat()}"' in data
    assert await kinds(services, incident) == ["SLA_WARNING"]
    assert sample("alertwhisperer_sla_events_total", clock="response", kind="warning") == warnings + 1

    # when the response deadline passes
    await monitor.run_once(T0 + timedelta(minutes=31))
    await monitor.run_once(T0 + timedelta(minutes=32))

    # then, no technician being able to take it (none is on call or has its skill), the admins hear
    # that nobody could be assigned, and of the breach, once, urgently; the status is unchanged
    assert await notified(services, incident) == [
        ("SLA_WARNING", admin.id, True),
        ("UNASSIGNED", admin.id, True),
        ("SLA_BREACHED", admin.id, True),
    ]
    breach = await services.pool.fetchrow(
        "SELECT subject, data FROM notifications WHERE incident_id = $1 AND kind = 'SLA_BREACHED'", incident
    )
    assert breach["subject"].startswith("URGENT: SLA response breached")
    assert '"urgent": true' in breach["data"]
    assert await kinds(services, incident) == ["SLA_WARNING", "SLA_BREACHED", "UNASSIGNED"]
    assert await sla_events(services, incident) == [
        ("response", "warning", None),
        ("response", "breach", None),
    ]
    assert sample("alertwhisperer_sla_events_total", clock="response", kind="breach") == breaches + 1
    assert (await rows.get(services, rows.Incident, incident)).status == "NEW"
    assert (await clocks(services, incident))["response_breached"] is True


async def test_a_warning_whose_transaction_rolls_back_is_not_counted(services, team, monkeypatch):
    company, admin, _ = team
    # given an incident opened long ago (so this monitor's passes find no other test's due rows)
    opened = datetime(1990, 1, 1, tzinfo=UTC)
    incident = await open_incident(services, company, at=opened)
    monitor = SlaMonitor(services.pool)
    warnings = sample("alertwhisperer_sla_events_total", clock="response", kind="warning")

    # when the warning's transaction fails after the event was acted on (its announcement fails)
    async def broken(*args: Any) -> None:
        raise RuntimeError("the announcement failed")

    monkeypatch.setattr("db.sla.announce", broken)
    with pytest.raises(RuntimeError):
        await monitor.run_once(opened + timedelta(minutes=25))

    # then nothing of it is left, and nothing counted
    assert await sla_events(services, incident) == []
    assert await notified(services, incident) == []
    assert sample("alertwhisperer_sla_events_total", clock="response", kind="warning") == warnings

    # and the next pass, once it commits, counts the warning once
    monkeypatch.undo()
    await monitor.run_once(opened + timedelta(minutes=26))
    assert await sla_events(services, incident) == [("response", "warning", None)]
    assert await notified(services, incident) == [("SLA_WARNING", admin.id, True)]
    assert sample("alertwhisperer_sla_events_total", clock="response", kind="warning") == warnings + 1


@pytest.fixture
async def unassigned(services: Any, factory: Any) -> Any:
    """An unassigned Server incident opened at T0, its company's admin, and an on-call technician
    with the Server skill."""
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    on_call = await factory.user(Role.TECHNICIAN, [company], on_call=True)
    await services.pool.execute("UPDATE users SET skills = '{Server}' WHERE id = $1", on_call.id)
    return await open_incident(services, company, category="Server"), admin, on_call


async def test_a_response_breach_assigns_an_unassigned_incident_to_the_best_technician(services, unassigned):
    incident, _, on_call = unassigned

    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=31))

    assert (await rows.get(services, rows.Incident, incident)).assigned_to == on_call.id
    assert await notified(services, incident) == [
        ("ASSIGNED", on_call.id, True),
        ("SLA_BREACHED", on_call.id, True),
    ]
    assert await kinds(services, incident) == ["SLA_BREACHED", "ASSIGNED"]


async def test_a_response_warning_assigns_an_unassigned_incident_before_its_deadline_passes(
    services, unassigned
):
    # given an unassigned Server incident and an on-call technician with that skill
    incident, admin, on_call = unassigned

    # when the monitor passes at minute 25, the response deadline (minute 30) about to pass
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=25))

    # then the technician has it now, and its warning, and the admins are not bothered
    assert (await rows.get(services, rows.Incident, incident)).assigned_to == on_call.id
    assert await notified(services, incident) == [
        ("ASSIGNED", on_call.id, True),
        ("SLA_WARNING", on_call.id, True),
    ]
    assert admin.id not in {user for _, user, _ in await notified(services, incident)}
    assert await kinds(services, incident) == ["SLA_WARNING", "ASSIGNED"]
    facts = await services.pool.fetchval(
        "SELECT data FROM incident_events WHERE incident_id = $1 AND kind = 'ASSIGNED'", incident
    )
    assert '"because": "sla_response_warning"' in facts


async def test_an_assigned_incident_warns_its_assignee_not_the_admins(services, team):
    company, _, technician = team
    incident = await open_incident(services, company, assigned_to=technician.id)

    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=31))

    # the breach found before its warning was sent: one breach, to the assignee
    assert await notified(services, incident) == [("SLA_BREACHED", technician.id, True)]


async def test_resolution_breaches_escalate_to_the_company_admins_then_to_the_msp_admins(
    services, factory, team
):
    company, admin, technician = team
    msp = await factory.user(Role.MSP_ADMIN)
    incident = await open_incident(services, company)
    await act(services, incident, IncidentAction.ACKNOWLEDGE, T0 + timedelta(minutes=5), technician)
    monitor = SlaMonitor(services.pool)

    # when the 4-hour resolution deadline passes
    await monitor.run_once(T0 + timedelta(hours=4, seconds=1))

    # then the incident is escalated (level 1), the company's admins are told, and the timeline says why
    assert (await rows.get(services, rows.Incident, incident)).status == "ESCALATED"
    assert await sla_events(services, incident) == [("resolution", "breach", 1)]
    assert await notified(services, incident) == [("SLA_BREACHED", admin.id, True)]
    timeline = await rows.timeline(services, incident)
    assert [e.kind for e in timeline][-2:] == ["SLA_BREACHED", "ESCALATED"]
    assert timeline[-1].data["level"] == 1
    assert timeline[-1].data["reason"] == "sla_resolution_breach"
    assert timeline[-2].data == {
        "clock": "resolution",
        "deadline": (T0 + timedelta(hours=4)).isoformat(),
        "level": 1,
    }

    # when it is resolved, reopened at hour 5 and its new deadline passes too
    await act(services, incident, IncidentAction.RESOLVE, T0 + timedelta(hours=4, minutes=10), technician)
    await act(services, incident, IncidentAction.REOPEN, T0 + timedelta(hours=5), technician)
    row = await clocks(services, incident)
    assert row["resolution_deadline"] == T0 + timedelta(hours=9)
    await react(services)  # the escalation's own change changes no clock
    await monitor.run_once(T0 + timedelta(hours=9, seconds=1))

    # then the second breach goes one level up: the MSP admins
    assert [e[2] for e in await sla_events(services, incident) if e[1] == "breach"] == [1, 2]
    later = [n for n in await notified(services, incident) if n[0] == "SLA_BREACHED"][1:]
    assert ("SLA_BREACHED", msp.id, True) in later
    assert ("SLA_BREACHED", admin.id, True) not in later
    assert (await rows.get(services, rows.Incident, incident)).status == "ESCALATED"


async def test_waiting_on_the_client_holds_the_breach_back_by_the_paused_time(services, team):
    company, admin, technician = team
    incident = await open_incident(services, company)
    await act(services, incident, IncidentAction.ACKNOWLEDGE, T0 + timedelta(minutes=5), technician)
    await act(services, incident, IncidentAction.WAIT_ON_CLIENT, T0 + timedelta(hours=1), technician)

    # while it waits, nothing is due even past the original deadline
    row = await clocks(services, incident)
    assert row["paused_since"] == T0 + timedelta(hours=1)
    assert row["next_due_at"] is None
    await SlaMonitor(services.pool).run_once(T0 + timedelta(hours=5))
    assert await sla_events(services, incident) == []

    # resumed after 2 hours, the resolution deadline is 2 hours later
    await act(services, incident, IncidentAction.START_WORK, T0 + timedelta(hours=3), technician)
    row = await clocks(services, incident)
    assert row["paused_seconds"] == 7200
    assert row["resolution_deadline"] == T0 + timedelta(hours=6)


async def test_two_monitors_racing_act_on_each_warning_exactly_once(services, team):
    company, admin, _ = team
    # given 30 incidents whose response warnings are due
    incidents = [await open_incident(services, company) for _ in range(30)]
    at = T0 + timedelta(minutes=25)

    # when two monitors (as in two worker processes) pass at the same time, in small batches
    a, b = SlaMonitor(services.pool, batch=4), SlaMonitor(services.pool, batch=4)

    async def drain(monitor: SlaMonitor) -> None:
        while await monitor.run_once(at):
            pass

    await asyncio.gather(drain(a), drain(b))

    # then each incident has exactly one warning record and one notification
    for incident in incidents:
        assert await sla_events(services, incident) == [("response", "warning", None)]
        assert await notified(services, incident) == [("SLA_WARNING", admin.id, True)]


async def test_a_restarted_monitor_does_not_repeat_what_was_done(services, team):
    company, admin, _ = team
    incident = await open_incident(services, company)
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=31))
    assert await notified(services, incident) == [
        ("UNASSIGNED", admin.id, True),
        ("SLA_BREACHED", admin.id, True),
    ]

    # given the row looks due again (as if the flags were lost with a process), same deadline
    await services.pool.execute(
        "UPDATE incident_sla SET response_breached = false, response_warned = false, next_due_at = $2"
        " WHERE incident_id = $1",
        incident,
        T0 + timedelta(minutes=30),
    )

    # when a new monitor passes
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=32))

    # then the unique record stops it: no second notification, no second timeline entry
    assert await notified(services, incident) == [
        ("UNASSIGNED", admin.id, True),
        ("SLA_BREACHED", admin.id, True),
    ]
    assert await kinds(services, incident) == ["SLA_BREACHED", "UNASSIGNED"]
    assert (await clocks(services, incident))["response_breached"] is True


async def test_an_acknowledgement_the_reaction_has_not_applied_yet_stops_the_breach(services, team):
    company, admin, technician = team
    incident = await open_incident(services, company)
    # acknowledged, but the reaction has not run yet
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(
            conn,
            incident,
            IncidentAction.ACKNOWLEDGE,
            f"user:{technician.id}",
            T0 + timedelta(minutes=20),
            actor_id=technician.id,
        )
    await SlaMonitor(services.pool).run_once(T0 + timedelta(minutes=31))
    assert await notified(services, incident) == []
    await react(services)
    assert (await clocks(services, incident))["response_met_at"] == T0 + timedelta(minutes=20)


async def test_the_monitor_reads_due_rows_through_the_partial_index(services):
    # (a small table would be read whole whatever the indexes: plan as for a large one)
    async with services.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = await conn.fetch("EXPLAIN " + CLAIM_DUE, datetime.now(UTC), 200)
    text = "\n".join(r[0] for r in plan)
    assert "ix_incident_sla_due" in text


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def test_the_worker_loop_acts_on_its_clock_and_wakes_for_the_next_due_time(services, team):
    company, admin, _ = team
    incident = await open_incident(services, company)
    loop = SlaMonitorLoop(
        SimpleNamespace(pool=services.pool, clock=FixedClock(T0 + timedelta(minutes=31))), 600
    )

    # a step on the injected clock acts on what is due by then
    await loop.step()
    assert ("SLA_BREACHED", admin.id, True) in await notified(services, incident)

    # and with a warning due (on its clock) half a second from now, it does not wait its 10 minutes
    await services.pool.execute(
        "UPDATE incident_sla SET next_due_at = $2 WHERE incident_id = $1",
        incident,
        loop.clock.now() + timedelta(seconds=0.5),
    )
    await asyncio.wait_for(loop.idle(), timeout=5)


def test_the_workers_run_the_sla_reaction_and_the_monitor():
    assert {"reaction:sla-clocks", "sla-monitor"} <= {spec.name for spec in LOOPS}
