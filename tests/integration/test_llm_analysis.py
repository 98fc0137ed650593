"""LLM analysis against real PostgreSQL: Bedrock `Converse` through botocore's Stubber (moto has no
Converse), Gemini through the google-genai SDK against a stub HTTP endpoint; the answer's contract,
fallback to Gemini and to the rules, timeouts, the breaker, the budget, the cache, what a prompt may
carry, and who sees it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from adapters.llm import BedrockAnalyser, GeminiAnalyser
from db.analysis import analyse_incident
from db.decisions import DecisionReaction
from db.llm_analysis import LlmAnalysisReaction
from db.reactions import IncidentChange
from domain.aws import AwsAccess, AwsAuthType
from domain.llm import FAILURES_TO_OPEN
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

ANSWER = {
    "patternType": "PERSISTENT",
    "rootCause": "the log volume of db-01 fills up",
    "confidence": 0.82,
    "explanation": "The disk keeps filling because logs are not rotated. Rotate and compress them.",
    "suggestedRunbook": None,
}
ANALYSIS = """
query($id: ID!) { incident(id: $id) { analysis { patternType rootCause source model fallbackReason prompt } } }"""


def bedrock(stub_answers: list[Any], stop_reason: str = "end_turn") -> tuple[BedrockAnalyser, Stubber]:
    analyser = BedrockAnalyser("anthropic.test-model", "eu-west-1")
    client = boto3.client(
        "bedrock-runtime", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    analyser._client = client
    stub = Stubber(client)
    for answer in stub_answers:
        if isinstance(answer, str) and answer.startswith("error:"):
            stub.add_client_error("converse", service_error_code=answer[6:], http_status_code=400)
        else:
            stub.add_response(
                "converse",
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                    "stopReason": stop_reason,
                    "usage": {"inputTokens": 900, "outputTokens": 100, "totalTokens": 1000},
                    "metrics": {"latencyMs": 5},
                },
            )
    stub.activate()
    return analyser, stub


class _Gemini(BaseHTTPRequestHandler):
    answer: str = json.dumps(ANSWER)
    finish: str = "STOP"
    delay: float = 0.0
    calls: list[str] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).calls.append(self.path + " " + body.decode())
        time.sleep(type(self).delay)
        payload = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": type(self).answer}]},
                    "finishReason": type(self).finish,
                }
            ],
            "usageMetadata": {"promptTokenCount": 700, "candidatesTokenCount": 80, "totalTokenCount": 780},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def gemini_url() -> Iterator[str]:
    _Gemini.answer, _Gemini.finish, _Gemini.delay, _Gemini.calls = json.dumps(ANSWER), "STOP", 0.0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gemini)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


async def llm_company(factory: Any, services: Any, **settings: Any) -> Any:
    company = await factory.company()
    await services.pool.execute(
        "UPDATE companies SET llm_analysis_enabled = $2, llm_monthly_token_budget = $3 WHERE id = $1",
        company.id,
        settings.get("enabled", True),
        settings.get("budget", 200_000),
    )
    return company


async def urgent_incident(services: Any, company: Any, **fields: Any) -> uuid.UUID:
    incident = await rows.incident(
        services,
        company.id,
        **(
            {"severity": "critical", "critical_asset": True, "asset_name": "db-01", "signature": "DiskFull"}
            | fields
        ),
    )
    await rows.alert(
        services,
        company.id,
        incident_id=incident,
        asset_name="db-01",
        signature="DiskFull",
        message="disk 97% full; db password=hunter2 in the log line",
    )
    return incident


def change_for(incident: uuid.UUID, company_id: uuid.UUID, version: int = 1) -> IncidentChange:
    now = datetime.now(UTC)
    return IncidentChange(
        1, company_id, incident, version, "CREATED", None, "NEW", None, "critical", "test", now, 1
    )


async def run(services: Any, reaction: LlmAnalysisReaction, incident: uuid.UUID, company: Any) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        await reaction.handle(conn, change_for(incident, company.id))


async def stored(services: Any, incident: uuid.UUID) -> Any:
    return await services.pool.fetchrow(
        "SELECT * FROM incident_llm_analyses WHERE incident_id = $1", incident
    )


async def test_a_valid_bedrock_answer_is_shown_with_what_was_sent(services, factory, gql):
    company = await llm_company(factory, services)
    incident = await urgent_incident(services, company)
    analyser, stub = bedrock([json.dumps(ANSWER)])

    await run(services, LlmAnalysisReaction([analyser]), incident, company)

    stub.assert_no_pending_responses()
    row = await stored(services, incident)
    assert (row["source"], row["model"], row["pattern_type"], row["tokens"]) == (
        "BEDROCK",
        "anthropic.test-model",
        "PERSISTENT",
        1000,
    )
    prompt = json.loads(row["prompt"])
    sent = json.dumps(prompt)
    assert "hunter2" not in sent  # credentials are masked before anything is sent
    assert "[redacted]" in sent
    assert prompt["facts"]["rulesSaid"]["patternType"] == "ISOLATED"
    usage = await services.pool.fetchval("SELECT tokens FROM llm_usage WHERE company_id = $1", company.id)
    assert usage == 1000
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    shown = (await gql(ANALYSIS, {"id": gid("Incident", incident)}, token=admin.token))["data"]["incident"][
        "analysis"
    ]
    assert shown["source"] == "BEDROCK"
    assert shown["rootCause"] == "the log volume of db-01 fills up"
    assert shown["fallbackReason"] is None
    assert shown["prompt"]["facts"]["incident"]["signature"] == "DiskFull"
    hidden = (await gql(ANALYSIS, {"id": gid("Incident", incident)}, token=tech.token))["data"]["incident"][
        "analysis"
    ]
    assert hidden["prompt"] is None  # technicians see the answer, not the prompt


async def test_an_invalid_answer_falls_back_to_gemini_then_to_the_rules(services, factory, gemini_url, gql):
    company = await llm_company(factory, services)
    incident = await urgent_incident(services, company)
    analyser, _ = bedrock(["Sure! The root cause is probably the disk."])
    gemini = GeminiAnalyser("test-key", "gemini-test", gemini_url)

    await run(services, LlmAnalysisReaction([analyser, gemini]), incident, company)

    row = await stored(services, incident)
    assert (row["source"], row["model"], row["error"]) == ("GEMINI", "gemini-test", None)
    assert len(_Gemini.calls) == 1
    assert "/models/gemini-test:generateContent " in _Gemini.calls[0]
    assert '"systemInstruction"' in _Gemini.calls[0]

    # Both wrong now: the rules' result is shown, saying why.
    _Gemini.answer = json.dumps({**ANSWER, "patternType": "SOLAR_FLARE"})
    other = await urgent_incident(services, company, signature="DiskFull2")
    analyser, _ = bedrock(["error:ThrottlingException"])
    await run(services, LlmAnalysisReaction([analyser, gemini]), other, company)
    failed = await stored(services, other)
    assert failed["source"] is None
    assert failed["error"] == (
        "BEDROCK: Bedrock answered ThrottlingException; GEMINI: patternType is not one of the pattern types"
    )
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    shown = (await gql(ANALYSIS, {"id": gid("Incident", other)}, token=admin.token))["data"]["incident"][
        "analysis"
    ]
    assert (shown["source"], shown["fallbackReason"]) == ("RULES", failed["error"])


async def test_refused_answers_fall_back_to_the_rules_saying_who_refused(services, factory, gemini_url):
    # given a company whose Bedrock guardrail intervenes and whose Gemini blocks the answer for safety,
    # each still sending a well-formed answer beside the refusal
    company = await llm_company(factory, services)
    incident = await urgent_incident(services, company)
    analyser, stub = bedrock([json.dumps(ANSWER)], stop_reason="guardrail_intervened")
    _Gemini.finish = "SAFETY"
    gemini = GeminiAnalyser("test-key", "gemini-test", gemini_url)

    # when the incident is analysed
    await run(services, LlmAnalysisReaction([analyser, gemini]), incident, company)

    # then neither answer is used: the rules' result stays, with both refusals as the reason
    stub.assert_no_pending_responses()
    row = await stored(services, incident)
    assert row["source"] is None
    assert row["error"] == (
        "BEDROCK: Bedrock refused (guardrail_intervened); GEMINI: Gemini refused (FinishReason.SAFETY)"
    )


async def test_a_late_answer_is_a_timeout_and_the_rules_stay(services, factory, gemini_url):
    company = await llm_company(factory, services)
    incident = await urgent_incident(services, company)
    _Gemini.delay = 3.0
    gemini = GeminiAnalyser("test-key", "gemini-test", gemini_url)
    started = time.perf_counter()

    await run(services, LlmAnalysisReaction([gemini], timeout=1.0), incident, company)

    assert time.perf_counter() - started < 2.5
    assert (await stored(services, incident))["error"] == "GEMINI: Gemini took longer than 1 s"


async def test_repeated_failures_open_the_breaker_for_every_process(services, factory):
    await services.pool.execute("DELETE FROM llm_breakers")
    company = await llm_company(factory, services)
    analyser, stub = bedrock(["error:InternalServerException"] * FAILURES_TO_OPEN)
    reaction = LlmAnalysisReaction([analyser])
    for n in range(FAILURES_TO_OPEN):
        await run(services, reaction, await urgent_incident(services, company, signature=f"S{n}"), company)
    stub.assert_no_pending_responses()

    # The breaker is open: no call is made (the stub has no response left and would fail the test).
    incident = await urgent_incident(services, company, signature="after")
    await run(services, LlmAnalysisReaction([analyser]), incident, company)

    assert (await stored(services, incident))["error"].startswith("BEDROCK: breaker open after 3 failures")
    breaker = await services.pool.fetchrow(
        "SELECT failures, open_until FROM llm_breakers WHERE provider = 'BEDROCK'"
    )
    assert breaker["failures"] == FAILURES_TO_OPEN
    assert breaker["open_until"] > datetime.now(UTC)
    await services.pool.execute("DELETE FROM llm_breakers")


async def test_the_monthly_budget_stops_calls(services, factory):
    company = await llm_company(factory, services, budget=1500)
    analyser, stub = bedrock([json.dumps(ANSWER), json.dumps(ANSWER)])
    first = await urgent_incident(services, company, signature="one")
    await run(services, LlmAnalysisReaction([analyser]), first, company)
    second = await urgent_incident(services, company, signature="two")
    await run(services, LlmAnalysisReaction([analyser]), second, company)  # 1000 used of 1500: allowed
    third = await urgent_incident(services, company, signature="three")
    analyser3, stub3 = bedrock([])

    await run(services, LlmAnalysisReaction([analyser3]), third, company)

    assert (await stored(services, third))["error"] == "the company's monthly token budget is spent"
    stub.assert_no_pending_responses()
    assert (
        await services.pool.fetchval("SELECT tokens FROM llm_usage WHERE company_id = $1", company.id) == 2000
    )


async def test_the_same_facts_are_answered_from_the_cache(services, factory):
    company = await llm_company(factory, services)
    incident = await urgent_incident(services, company)
    analyser, stub = bedrock([json.dumps(ANSWER)])
    reaction = LlmAnalysisReaction([analyser])

    await run(services, reaction, incident, company)
    await run(services, reaction, incident, company)  # no second response is stubbed: it must not call

    stub.assert_no_pending_responses()
    assert await services.pool.fetchval("SELECT calls FROM llm_usage WHERE company_id = $1", company.id) == 1


async def test_off_by_default_and_below_the_priority_threshold_nothing_is_sent(services, factory):
    off = await llm_company(factory, services, enabled=False)
    on = await llm_company(factory, services)
    low = await rows.incident(services, on.id, severity="low")
    urgent = await urgent_incident(services, off)
    analyser, stub = bedrock([])

    await run(services, LlmAnalysisReaction([analyser]), urgent, off)
    await run(services, LlmAnalysisReaction([analyser]), low, on)

    assert await stored(services, urgent) is None
    assert await stored(services, low) is None


async def test_a_prompt_carries_only_its_own_company_s_facts(services, factory):
    mine, theirs = await llm_company(factory, services), await llm_company(factory, services)
    db = await factory.asset(mine, "db-01")
    async with factory.uow() as uow:
        await uow.assets.create(mine.id, {"name": "app-mine"}, [db])
    their_db = await factory.asset(theirs, "db-01")
    async with factory.uow() as uow:
        await uow.assets.create(theirs.id, {"name": "app-theirs-secret"}, [their_db])
    await urgent_incident(services, theirs, asset_id=their_db)
    incident = await urgent_incident(services, mine, asset_id=db)
    async with services.pool.acquire() as conn:
        await analyse_incident(conn, incident, datetime.now(UTC))
    analyser, _ = bedrock([json.dumps(ANSWER)])

    await run(services, LlmAnalysisReaction([analyser]), incident, mine)

    sent = (await stored(services, incident))["prompt"]
    assert "app-mine" in sent
    assert "app-theirs-secret" not in sent
    assert str(theirs.id) not in sent
    assert theirs.api_key not in sent


async def run_latest(services: Any, reaction: LlmAnalysisReaction, incident: uuid.UUID, company: Any) -> None:
    """`run` for the incident's latest change (the decision's escalation made one)."""
    version = await services.pool.fetchval("SELECT version FROM incidents WHERE id = $1", incident)
    async with services.pool.acquire() as conn, conn.transaction():
        await reaction.handle(conn, change_for(incident, company.id, version))


async def unmatched_incident(services: Any, factory: Any) -> tuple[Any, uuid.UUID]:
    """An urgent incident on a Linux host with an instance id, of a company with AWS settings, that no
    runbook matches by signature, decided (NO_RUNBOOK): (company, incident)."""
    company = await llm_company(factory, services)
    async with factory.uow() as uow:
        await uow.aws.set(
            company.id, AwsAccess("eu-west-1", AwsAuthType.ROLE, "arn:aws:iam::111122223333:role/AW", "x")
        )
    asset = await factory.asset(company, "db-01", cloud_instance_id="i-0db", platform="LINUX")
    incident = await urgent_incident(services, company, asset_id=asset, signature="VolumeOddlyGrowing")
    async with services.pool.acquire() as conn, conn.transaction():
        await DecisionReaction().handle(conn, change_for(incident, company.id))
    return company, incident


async def test_a_runbook_the_model_suggests_for_an_unmatched_incident_is_offered_for_approval(
    services, factory
):
    # given an incident on a Linux host with an instance id that no runbook matches by signature,
    # decided already (decisions never wait for the model): a technician takes it
    company, incident = await unmatched_incident(services, factory)
    decision = (
        "SELECT action, reason, approval_required, runbook_id FROM incident_decisions WHERE incident_id = $1"
    )
    assert tuple(await services.pool.fetchrow(decision, incident))[:2] == (
        "ESCALATE_TO_TECHNICIAN",
        "NO_RUNBOOK",
    )

    # when Bedrock answers with a runbook of the library that fits
    analyser, _ = bedrock([json.dumps(ANSWER | {"suggestedRunbook": "Log rotation (Linux)"})])
    await run_latest(services, LlmAnalysisReaction([analyser]), incident, company)

    # then the decision takes it, for a company admin to approve (never run on a model's word alone)
    action, reason, approval_required, runbook_id = await services.pool.fetchrow(decision, incident)
    assert (action, reason, approval_required) == ("EXECUTE_RUNBOOK", "SUGGESTED_BY_ANALYSIS", True)
    name = await services.pool.fetchval(
        "SELECT v.name FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version"
        " WHERE r.id = $1",
        runbook_id,
    )
    assert name == "Log rotation (Linux)"
    pending = await services.pool.fetch(
        "SELECT status FROM remediation_approvals WHERE incident_id = $1", incident
    )
    assert [p["status"] for p in pending] == ["PENDING"]
    triggers = await services.pool.fetch(
        "SELECT data->>'trigger' AS t FROM incident_events WHERE incident_id = $1 AND kind = 'DECIDED' ORDER BY id",
        incident,
    )
    assert [t["t"] for t in triggers] == ["CREATED", "ANALYSIS_SUGGESTED"]


async def test_a_suggestion_the_asset_cannot_run_leaves_the_decision_as_it_was(services, factory):
    # given a Linux host's unmatched incident, decided NO_RUNBOOK, of a company that could run a runbook
    company, incident = await unmatched_incident(services, factory)

    # when the model suggests a Windows runbook
    windows = await services.pool.fetchval(
        "SELECT v.name FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id AND v.version = r.version"
        " WHERE r.company_id IS NULL AND v.platform = 'WINDOWS' ORDER BY v.name LIMIT 1"
    )
    analyser, _ = bedrock([json.dumps(ANSWER | {"suggestedRunbook": windows})])
    await run_latest(services, LlmAnalysisReaction([analyser]), incident, company)

    # then the answer is shown, but the decision stands, with no second DECIDED entry and nothing to approve
    assert (await stored(services, incident))["suggested_runbook_id"] is not None
    reason = await services.pool.fetchval(
        "SELECT reason FROM incident_decisions WHERE incident_id = $1", incident
    )
    assert reason == "NO_RUNBOOK"
    decided = await services.pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1 AND kind = 'DECIDED'", incident
    )
    assert decided == 1
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM remediation_approvals WHERE incident_id = $1", incident
        )
        == 0
    )
