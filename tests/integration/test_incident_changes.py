"""The outbox of incident changes and the reactions that consume it, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db.engine import asyncpg_dsn
from db.incident_writer import apply_action
from db.reactions import IncidentChange, ReactionRunner, backlog, requeue_dead
from db.sweeps import IncidentSweeper
from domain.alerts import Severity, Tool
from domain.incidents import IncidentAction
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid
from tests.integration.test_correlation_worker import T0, alert, drain, ingest

CHANGE_FIELDS = "version, kind, before_status, after_status, before_severity, after_severity, actor"


async def changes_of(services, company) -> list[tuple]:
    return [
        tuple(r)
        for r in await services.pool.fetch(
            f"SELECT {CHANGE_FIELDS} FROM incident_changes WHERE company_id = $1 ORDER BY id", company.id
        )
    ]


class Recorder:
    """A reaction that records what it handled in a table of its own, in the claiming transaction."""

    def __init__(self, name: str, fail: set[int] | None = None) -> None:
        self.name = name
        self.fail = fail or set()
        self.calls: list[int] = []

    async def handle(self, conn: asyncpg.Connection, change: IncidentChange) -> None:
        self.calls.append(change.id)
        await conn.execute("INSERT INTO handled_changes VALUES ($1, $2)", self.name, change.id)
        if change.id in self.fail:
            raise RuntimeError(f"cannot handle {change.id}")


@pytest.fixture
async def handled(services) -> AsyncIterator[Callable[[str], Awaitable[list[int]]]]:
    await services.pool.execute(
        "CREATE TABLE IF NOT EXISTS handled_changes (reaction text, change_id bigint)"
    )

    async def read(name: str) -> list[int]:
        return [
            r[0]
            for r in await services.pool.fetch(
                "SELECT change_id FROM handled_changes WHERE reaction = $1 ORDER BY change_id", name
            )
        ]

    yield read
    # the session's database must keep matching the models (test_migrations runs `alembic check`)
    await services.pool.execute("DROP TABLE IF EXISTS handled_changes")


async def change_ids(services, company) -> list[int]:
    return [
        r[0]
        for r in await services.pool.fetch(
            "SELECT id FROM incident_changes WHERE company_id = $1 ORDER BY id", company.id
        )
    ]


async def test_correlation_writes_a_change_per_opened_or_changed_incident_but_not_for_a_repeat(
    services, factory
):
    # given an alert that opens an incident
    company = await factory.company()
    await ingest(services, company, alert("web-01", "high_cpu", at=T0))
    await drain(services)

    # when the same alert repeats (a counter bump), a critical one joins, and then everything resolves
    await ingest(services, company, alert("web-01", "high_cpu", at=T0 + timedelta(seconds=30)))
    await drain(services)
    await ingest(
        services,
        company,
        alert(
            "web-01", "high_cpu", at=T0 + timedelta(minutes=1), tool=Tool.ZABBIX, severity=Severity.CRITICAL
        ),
    )
    await drain(services)
    await ingest(
        services,
        company,
        alert("web-01", "high_cpu", at=T0 + timedelta(minutes=2), resolved=True),
        alert("web-01", "high_cpu", at=T0 + timedelta(minutes=2), tool=Tool.ZABBIX, resolved=True),
    )
    await drain(services, now=T0 + timedelta(minutes=3))

    # then the outbox holds the opening, the escalation and the resolution, each with the version it
    # made, and nothing for the repeat
    [incident] = await services.pool.fetch("SELECT version FROM incidents WHERE company_id = $1", company.id)
    assert await changes_of(services, company) == [
        (1, "CREATED", None, "NEW", None, "high", "system:correlation"),
        (3, "UPDATED", "NEW", "NEW", "high", "critical", "system:correlation"),
        (4, "RESOLVED", "NEW", "RESOLVED", "critical", "critical", "system:correlation"),
    ]
    assert incident["version"] == 4


async def test_a_manual_transition_writes_its_change_with_the_user_and_a_refused_one_writes_none(
    gql, services, factory
):
    # given a NEW incident and a technician of its company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])
    incident = await rows.incident(services, company.id)
    query = "mutation($id: ID!) { %s(input: {id: $id}) { incident { status } userErrors { code } } }"

    # when they acknowledge it, then try to acknowledge it again (refused), then resolve it
    ok = await gql(query % "incidentAcknowledge", {"id": gid("Incident", incident)}, token=tech.token)
    refused = await gql(query % "incidentReopen", {"id": gid("Incident", incident)}, token=tech.token)
    resolved = await gql(query % "incidentResolve", {"id": gid("Incident", incident)}, token=tech.token)

    # then the two changes are in the outbox in order, by that user; the refusal left nothing
    assert ok["data"]["incidentAcknowledge"]["userErrors"] == []
    assert refused["data"]["incidentReopen"]["userErrors"] != []
    assert resolved["data"]["incidentResolve"]["userErrors"] == []
    actor = f"user:{tech.id}"
    assert await changes_of(services, company) == [
        (2, "UPDATED", "NEW", "ACKNOWLEDGED", "high", "high", actor),
        (3, "RESOLVED", "ACKNOWLEDGED", "RESOLVED", "high", "high", actor),
    ]


async def test_auto_resolve_writes_its_change_as_the_auto_resolve_principal(services, factory):
    # given a company that auto-resolves after 30 quiet minutes, and an incident quiet for an hour
    company = await factory.company()
    await services.pool.execute("UPDATE companies SET auto_resolve_minutes = 30 WHERE id = $1", company.id)
    now = datetime.now(UTC)
    await rows.incident(services, company.id, last_alert_at=now - timedelta(hours=1), flapping=True)

    # when the sweeper runs
    await IncidentSweeper(services.pool).auto_resolve(now=now)

    # then the resolution is in the outbox, by the automated principal
    assert await changes_of(services, company) == [
        (2, "RESOLVED", "NEW", "RESOLVED", "high", "high", "system:auto-resolve")
    ]


async def test_a_reaction_gets_each_change_after_it_registered_once_across_concurrent_runners(
    services, factory, handled
):
    # given a change written before the reaction registers
    company = await factory.company()
    await ingest(services, company, alert("early", "disk"))
    await drain(services)
    reaction = Recorder(f"rec-{uuid.uuid4().hex[:8]}")
    runners = [ReactionRunner(services.pool, reaction, batch=3) for _ in range(3)]
    await runners[0].register()
    await runners[1].register()  # registering again changes nothing

    # when twelve incidents open and three runners drain the inbox at the same time
    await ingest(services, company, *(alert(f"host-{i}", "disk") for i in range(12)))
    await drain(services)
    expected = (await change_ids(services, company))[1:]

    async def drain_with(runner: ReactionRunner) -> None:
        while await runner.run_once():
            pass

    await asyncio.gather(*(drain_with(r) for r in runners))

    # then each change after registration was handled exactly once, and nothing waits any more
    assert await handled(reaction.name) == expected
    assert len(reaction.calls) == 12
    [mine] = [b for b in await backlog(services.pool) if b.name == reaction.name]
    assert (mine.pending, mine.dead, mine.oldest_pending_seconds) == (0, 0, None)


async def test_a_reaction_that_names_statuses_gets_only_those_changes(services, factory, handled):
    # given a reaction that wants only changes into ESCALATED, and one that wants all
    company = await factory.company()
    picky = Recorder(f"picky-{uuid.uuid4().hex[:8]}")
    picky.after_statuses = ("ESCALATED",)  # type: ignore[attr-defined]
    everything = Recorder(f"all-{uuid.uuid4().hex[:8]}")
    await ReactionRunner(services.pool, picky).register()
    await ReactionRunner(services.pool, everything).register()

    # when two incidents open and one of them is escalated
    await ingest(services, company, alert("host-a", "disk"), alert("host-b", "disk"))
    await drain(services)
    first = await services.pool.fetchval(
        "SELECT incident_id FROM incident_changes WHERE company_id = $1 ORDER BY id LIMIT 1", company.id
    )
    async with services.pool.acquire() as conn, conn.transaction():
        await apply_action(conn, first, IncidentAction.ESCALATE, "system:test", T0)
    for reaction in (picky, everything):
        runner = ReactionRunner(services.pool, reaction)
        while await runner.run_once():
            pass

    # then the picky one's inbox held the escalation alone; the other got all three changes
    ids = await change_ids(services, company)
    escalated = await services.pool.fetchval(
        "SELECT id FROM incident_changes WHERE company_id = $1 AND after_status = 'ESCALATED'", company.id
    )
    assert await handled(picky.name) == [escalated]
    assert await handled(everything.name) == ids
    assert len(ids) == 3


async def test_a_change_committed_after_a_later_one_is_still_delivered(services, factory, handled):
    # given a registered reaction and a transaction that writes a change but has not committed yet
    company = await factory.company()
    reaction = Recorder(f"rec-{uuid.uuid4().hex[:8]}")
    runner = ReactionRunner(services.pool, reaction)
    await runner.register()
    slow_incident = await rows.incident(services, company.id)
    fast_incident = await rows.incident(services, company.id)
    insert = (
        "INSERT INTO incident_changes (company_id, incident_id, version, kind, after_status, after_severity, actor)"
        " VALUES ($1, $2, 2, 'UPDATED', 'NEW', 'high', 'test') RETURNING id"
    )
    slow = await services.pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        early_id = await slow.fetchval(insert, company.id, slow_incident)

        # when a later change commits and is handled first, and then the early one commits
        late_id = await services.pool.fetchval(insert, company.id, fast_incident)
        await runner.run_once()
        first = await handled(reaction.name)
        await tx.commit()
    finally:
        await services.pool.release(slow)
    await runner.run_once()

    # then the early id (smaller, committed later) was not skipped
    assert early_id < late_id
    assert first == [late_id]
    assert await handled(reaction.name) == [early_id, late_id]


async def test_a_failing_change_is_retried_with_backoff_then_dead_lettered_and_can_be_requeued(
    services, factory, handled
):
    # given a reaction that fails on one of two changes, allowed two attempts
    company = await factory.company()
    reaction = Recorder(f"rec-{uuid.uuid4().hex[:8]}")
    runner = ReactionRunner(services.pool, reaction, max_attempts=2)
    await runner.register()
    await ingest(services, company, alert("a", "disk"), alert("b", "disk"))
    await drain(services)
    bad, good = await change_ids(services, company)
    reaction.fail = {bad}
    now = datetime.now(UTC)

    # when it runs now, again at once, and after the back-off
    await runner.run_once(now=now)
    await runner.run_once(now=now)
    await runner.run_once(now=now + timedelta(seconds=6))

    # then the good change was handled once; the bad one's writes were rolled back each time, it was
    # tried twice (not before its back-off), and is dead with its error, shown in the backlog
    assert await handled(reaction.name) == [good]
    assert sorted(reaction.calls[:2]) == sorted([bad, good])  # (a batch goes in incident id order)
    assert reaction.calls[2:] == [bad]
    inbox = await services.pool.fetchrow(
        "SELECT state, attempts, error FROM reaction_inbox WHERE reaction = $1", reaction.name
    )
    assert tuple(inbox) == ("dead", 2, f"RuntimeError: cannot handle {bad}")
    [mine] = [b for b in await backlog(services.pool) if b.name == reaction.name]
    assert (mine.pending, mine.dead) == (0, 1)

    # and once the cause is fixed, a requeue delivers it
    reaction.fail = set()
    assert await requeue_dead(services.pool, reaction.name) == 1
    await runner.run_once()
    assert await handled(reaction.name) == [bad, good]


def test_the_cli_lists_reactions_and_requeues_dead_letters(database_url, monkeypatch, capsys):
    from graph.cli import main
    from tests.conftest import ROOT, TEST_SECRETS

    # given a reaction with one dead-lettered change (written straight into its inbox)
    name = f"rec-{uuid.uuid4().hex[:8]}"

    async def setup() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("INSERT INTO reactions (name) VALUES ($1)", name)
            change = await conn.fetchval(
                "INSERT INTO incident_changes (company_id, incident_id, version, kind, after_status,"
                " after_severity, actor) VALUES ($1, $2, 1, 'CREATED', 'NEW', 'high', 'test') RETURNING id",
                uuid.uuid4(),
                uuid.uuid4(),
            )
            await conn.execute(
                "UPDATE reaction_inbox SET state = 'dead', attempts = 8, error = 'boom'"
                " WHERE reaction = $1 AND change_id = $2",
                name,
                change,
            )
        finally:
            await conn.close()

    asyncio.run(setup())
    for key, value in TEST_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ALERTWHISPERER_HOME", str(ROOT / ".pytest-pg"))

    # when the operator lists the reactions, requeues the dead letter, then names an unknown reaction
    listed = main(["reactions"])
    listing = capsys.readouterr().out
    requeued = main(["reactions", "--requeue", name])
    requeue_out = capsys.readouterr().out
    unknown = main(["reactions", "--requeue", "no-such-reaction"])
    unknown_err = capsys.readouterr().err

    # then the listing shows its dead letter, the requeue says how many, the unknown name is an error
    assert (listed, requeued, unknown) == (0, 0, 2)
    [line] = [row for row in listing.splitlines() if row.startswith(name)]
    assert line.split() == [name, "0", "1", "-"]
    assert requeue_out == f"requeued 1 dead-lettered changes of {name}\n"
    assert "no reaction named 'no-such-reaction'" in unknown_err


def test_operator_commands_are_audited_under_their_own_name_not_as_a_user(database_url, monkeypatch, capsys):
    from graph.cli import main
    from tests.conftest import ROOT, TEST_SECRETS

    # given the CLI pointed at the database
    for key, value in TEST_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ALERTWHISPERER_HOME", str(ROOT / ".pytest-pg"))
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"

    # when an operator creates a user with it
    assert (
        main(["user-create", "--email", email, "--password", "a-long-enough-pass-1", "--role", "msp_admin"])
        == 0
    )

    # then the audit entry names the CLI as the actor, with no user id
    async def audit() -> list[tuple]:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            rows = await conn.fetch(
                "SELECT actor_id, actor_email FROM audit_log WHERE action = 'user.create' AND after->>'email' = $1",
                email,
            )
            return [tuple(r) for r in rows]
        finally:
            await conn.close()

    assert asyncio.run(audit()) == [(None, "system:cli")]
    assert email in capsys.readouterr().out
