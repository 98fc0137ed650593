"""Reactions that handle a claimed batch at once (`db.reactions.BatchReaction`), against real PostgreSQL:
a failing batch falls back to one change at a time, so a bad change fails alone; a batch mixing
companies keeps each company's facts to itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import asyncpg
import pytest

from db.escalation_notices import EscalationNotices
from db.incident_writer import apply_action
from db.llm_analysis import LlmAnalysisReaction
from db.reactions import IncidentChange, ReactionRunner
from domain.incidents import DECISION_ACTOR, IncidentAction
from domain.ports import LlmReply
from domain.rbac import Role
from tests import incident_rows as rows
from tests.integration.test_correlation_worker import alert, drain, ingest


class BatchRecorder:
    """Records the changes it handled, the whole batch in one statement; fails on the ids in `fail`."""

    def __init__(self, name: str, fail: set[int]) -> None:
        self.name = name
        self.fail = fail
        self.batches: list[list[int]] = []

    async def handle(self, conn: asyncpg.Connection, change: IncidentChange) -> None:
        await self.handle_batch(conn, [change])

    async def handle_batch(
        self, conn: asyncpg.Connection, changes: Sequence[IncidentChange]
    ) -> list[IncidentChange]:
        self.batches.append([c.id for c in changes])
        await conn.execute(
            "INSERT INTO handled_batch_changes SELECT $1, unnest($2::bigint[])",
            self.name,
            [c.id for c in changes],
        )
        bad = [c.id for c in changes if c.id in self.fail]
        if bad:
            raise RuntimeError(f"cannot handle {bad[0]}")
        return []


@pytest.fixture
async def handled(services) -> AsyncIterator[None]:
    await services.pool.execute(
        "CREATE TABLE IF NOT EXISTS handled_batch_changes (reaction text, change_id bigint)"
    )
    yield
    # the session's database must keep matching the models (test_migrations runs `alembic check`)
    await services.pool.execute("DROP TABLE IF EXISTS handled_batch_changes")


async def test_a_failing_change_fails_alone_its_batch_is_redone_change_by_change(services, factory, handled):
    # given a batch reaction and three new incidents, the second of which it cannot handle
    company = await factory.company()
    await drain(services)  # what earlier tests left uncorrelated changes nothing below
    reaction = BatchRecorder(f"batch-{uuid.uuid4().hex[:8]}", set())
    runner = ReactionRunner(services.pool, reaction, max_attempts=2)
    await runner.register()
    await ingest(services, company, *(alert(f"host-{i}", "disk") for i in range(3)))
    await drain(services)
    ids = [
        r[0]
        for r in await services.pool.fetch(
            # the order a runner hands a batch over in (incident id, then version)
            "SELECT id FROM incident_changes WHERE company_id = $1 ORDER BY incident_id, version",
            company.id,
        )
    ]
    reaction.fail = {ids[1]}

    # when one run claims the three
    assert await runner.run_once() == 3

    # then the batch was tried once (its writes rolled back), then each change alone: the two good
    # ones are handled once, the bad one waits for its retry with its error and one attempt counted
    assert reaction.batches == [ids, [ids[0]], [ids[1]], [ids[2]]]
    done = await services.pool.fetch(
        "SELECT change_id FROM handled_batch_changes WHERE reaction = $1 ORDER BY change_id", reaction.name
    )
    assert [r[0] for r in done] == sorted([ids[0], ids[2]])
    inbox = await services.pool.fetch(
        "SELECT change_id, state, attempts, error FROM reaction_inbox WHERE reaction = $1", reaction.name
    )
    assert [tuple(r) for r in inbox] == [(ids[1], "pending", 1, f"RuntimeError: cannot handle {ids[1]}")]


async def test_a_batch_of_escalations_of_two_companies_tells_each_company_only_of_its_own(services, factory):
    # given two companies with an admin each, and an incident of each escalated
    first, second = await factory.company(), await factory.company()
    admin_1 = await factory.user(Role.COMPANY_ADMIN, [first])
    admin_2 = await factory.user(Role.COMPANY_ADMIN, [second])
    runner = ReactionRunner(services.pool, EscalationNotices(), batch=20)
    await runner.register()
    while await runner.run_once():  # what earlier tests escalated
        pass
    incidents = {}
    for company, name in ((first, "db-01"), (second, "web-01")):
        incidents[company.id] = await rows.incident(
            services, company.id, asset_name=name, signature="DiskFull"
        )
    async with services.pool.acquire() as conn, conn.transaction():
        for incident in incidents.values():
            await apply_action(
                conn,
                incident,
                IncidentAction.ESCALATE,
                DECISION_ACTOR,
                datetime.now(UTC),
                data={"reason": "why"},
            )

    # when one run handles both changes
    assert await runner.run_once() == 2

    # then each admin got the notice of their own company's incident, once
    found = await services.pool.fetch(
        "SELECT user_id, incident_id, subject FROM notifications WHERE incident_id = ANY($1::uuid[])",
        list(incidents.values()),
    )
    assert sorted((r["user_id"], r["incident_id"], r["subject"]) for r in found) == sorted(
        [
            (admin_1.id, incidents[first.id], "Escalated: DiskFull on db-01"),
            (admin_2.id, incidents[second.id], "Escalated: DiskFull on web-01"),
        ]
    )


class WatchingModel:
    """A model that answers validly and notes, when asked, which LLM changes wait in the inbox as
    another connection sees them (what the claiming transactions committed so far)."""

    source = "BEDROCK"
    model = "watching"

    def __init__(self, services) -> None:
        self.services = services
        self.waiting: list[list[int]] = []

    async def complete(self, system: str, prompt: str, seconds: float) -> LlmReply:
        found = await self.services.pool.fetch(
            "SELECT change_id FROM reaction_inbox WHERE reaction = 'llm-analysis' ORDER BY change_id"
        )
        self.waiting.append([r[0] for r in found])
        answer = {"patternType": "PERSISTENT", "rootCause": "disk", "confidence": 0.8, "explanation": "Disk."}
        return LlmReply(json.dumps(answer | {"suggestedRunbook": None}), self.model, 900, 100)


async def test_the_llm_batch_settles_what_needs_no_model_first_and_calls_the_model_in_a_claim_of_its_own(
    services, factory
):
    # given the LLM reaction's inbox emptied, a company with LLM analysis on and one with it off, and
    # an urgent new incident in each
    runner = ReactionRunner(services.pool, LlmAnalysisReaction([]))
    await runner.register()
    while await runner.run_once():
        pass
    on, off = await factory.company(), await factory.company()
    await services.pool.execute("UPDATE companies SET llm_analysis_enabled = true WHERE id = $1", on.id)
    changes = {}
    for company in (on, off):
        incident = await rows.incident(
            services,
            company.id,
            severity="critical",
            critical_asset=True,
            asset_name="db-01",
            signature="DiskFull",
        )
        changes[company.id] = await services.pool.fetchval(
            "INSERT INTO incident_changes (company_id, incident_id, version, kind, after_status, after_severity,"
            " actor) VALUES ($1, $2, 1, 'CREATED', 'NEW', 'critical', 'system:correlation') RETURNING id",
            company.id,
            incident,
        )
    model = WatchingModel(services)

    # when one run claims both changes
    assert await ReactionRunner(services.pool, LlmAnalysisReaction([model])).run_once() == 2

    # then the model was asked once, for the company that wants it, after the other change was
    # settled and committed: only the change it answers was still waiting (claimed alone)
    assert model.waiting == [[changes[on.id]]]
    assert (
        await services.pool.fetchval("SELECT count(*) FROM reaction_inbox WHERE reaction = 'llm-analysis'")
        == 0
    )
    answered = await services.pool.fetch(
        "SELECT company_id, source FROM incident_llm_analyses WHERE company_id = ANY($1::uuid[])",
        [on.id, off.id],
    )
    assert [tuple(r) for r in answered] == [(on.id, "BEDROCK")]
