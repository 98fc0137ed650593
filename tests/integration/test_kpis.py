"""KPI rollups on real PostgreSQL: the figures of a known data set (worked out by hand below), the
reaction and triggers that mark what to recompute, two rollup passes racing and a restart (nothing
counted twice), the alert recount, and patch compliance from SSM (botocore Stubber: moto has neither
DescribeInstanceInformation nor DescribeInstancePatchStates) and from patch-runbook outcomes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.kpis import KpiRollupMarks, KpiRollups, PatchRefresh
from db.repositories.kpis import KpiReader
from domain import kpis as rules
from domain.ids import uuid7
from domain.kpis import KpiBucket, PatchComplianceSource
from domain.tenancy import TenantScope
from tests import incident_rows as rows
from tests.helpers import registered_reactions

DAY = datetime(2026, 11, 2, tzinfo=UTC)
H10 = DAY + timedelta(hours=10)
H11 = DAY + timedelta(hours=11)
MIN = timedelta(minutes=1)


@dataclass
class KnownSet:
    company: Any
    other: Any
    incidents: dict[str, uuid.UUID]


async def _execution(
    services: Any,
    company_id: uuid.UUID,
    *,
    name: str,
    category: str,
    status: str,
    finished_at: datetime,
    incident_id: uuid.UUID | None = None,
    held: bool | None = None,
    signatures: tuple[str, ...] = (),
) -> uuid.UUID:
    runbook, execution = uuid7(), uuid7()
    async with services.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO runbooks (id, company_id, name, category) VALUES ($1, $2, $3, $4)",
            runbook,
            company_id,
            f"{name} {runbook.hex[-8:]}",
            category,
        )
        await conn.execute(
            "INSERT INTO runbook_versions (runbook_id, version, company_id, name, category, signatures, risk,"
            " platform, commands, timeout_seconds) VALUES ($1, 1, $2, $3, $4, $5, 'LOW', 'LINUX', '{true}', 60)",
            runbook,
            company_id,
            name,
            category,
            list(signatures),
        )
        await conn.execute(
            "INSERT INTO remediation_executions (id, company_id, incident_id, runbook_id, runbook_version,"
            " instance_ids, document, commands, timeout_seconds, status, phase, started_by, held, finished_at)"
            " VALUES ($1, $2, $3, $4, 1, '{i-1}', 'AWS-RunShellScript', '{true}', 60, $5, 'done',"
            " 'system:test', $6, $7)",
            execution,
            company_id,
            incident_id,
            runbook,
            status,
            held,
            finished_at,
        )
    return execution


async def _sla(services: Any, incident_id: uuid.UUID, company_id: uuid.UUID, **clocks: Any) -> None:
    fields = {
        "response_started_at": H10,
        "resolution_started_at": H10,
        "severity": "high",
        "version": 1,
    } | clocks
    names = ", ".join(fields)
    values = ", ".join(f"${n}" for n in range(3, 3 + len(fields)))
    await services.pool.execute(
        f"INSERT INTO incident_sla (incident_id, company_id, {names}) VALUES ($1, $2, {values})",
        incident_id,
        company_id,
        *fields.values(),
    )


async def known_set(services: Any, factory: Any) -> KnownSet:
    """Company A on 2026-11-02, 10:00–12:00 UTC, and company B (other tenant) beside it:

    - A: 10 alerts received in the 10:00 hour, 6 in the 11:00 hour. B: 5 alerts at 10:30.
    - i1 opened 10:05, acknowledged 10:10 (300 s), resolved 10:15 (600 s) by a person.
      SLA: response met 10:10 (deadline 10:35), resolution met 10:15 (deadline 14:05).
    - i2 opened 10:20, acknowledged 10:50 (1800 s), resolved 11:20 (3600 s) by a runbook whose fix
      held. SLA: response met 10:50 after its 10:40 deadline (breached), resolution met 11:20
      (deadline 18:20).
    - i3 opened 11:00, never acknowledged, resolved 11:10 (600 s) by a runbook not judged yet.
      SLA: both met at 11:10 (deadlines 11:30 and 19:00).
    - i4 opened 11:30, still open; its clocks still run (deadlines 12:00 and 19:30).
    - B: one incident opened 10:30, resolved 10:40.
    """
    company, other = await factory.company(), await factory.company()
    for n in range(10):
        await rows.alert(services, company.id, received_at=H10 + n * MIN)
    for n in range(6):
        await rows.alert(services, company.id, received_at=H11 + n * MIN)
    for n in range(5):
        await rows.alert(services, other.id, received_at=H10 + 30 * MIN + n * MIN)

    def at(minutes: int) -> datetime:
        return H10 + minutes * MIN

    i1 = await rows.incident(
        services,
        company.id,
        status="RESOLVED",
        created_at=at(5),
        acknowledged_at=at(10),
        resolved_at=at(15),
    )
    i2 = await rows.incident(
        services,
        company.id,
        status="RESOLVED",
        created_at=at(20),
        acknowledged_at=at(50),
        resolved_at=at(80),
        auto_remediated=True,
    )
    i3 = await rows.incident(
        services, company.id, status="RESOLVED", created_at=at(60), resolved_at=at(70), auto_remediated=True
    )
    i4 = await rows.incident(services, company.id, status="NEW", created_at=at(90))
    b1 = await rows.incident(services, other.id, status="RESOLVED", created_at=at(30), resolved_at=at(40))
    await _sla(
        services,
        i1,
        company.id,
        response_deadline=at(35),
        resolution_deadline=at(245),
        response_met_at=at(10),
        resolution_met_at=at(15),
    )
    await _sla(
        services,
        i2,
        company.id,
        response_deadline=at(40),
        resolution_deadline=at(500),
        response_met_at=at(50),
        resolution_met_at=at(80),
        response_breached=True,
    )
    await _sla(
        services,
        i3,
        company.id,
        response_deadline=at(90),
        resolution_deadline=at(540),
        response_met_at=at(70),
        resolution_met_at=at(70),
    )
    await _sla(services, i4, company.id, response_deadline=at(120), resolution_deadline=at(570))
    await _execution(
        services, company.id, name="Restart nginx", category="SERVICES", status="SUCCEEDED",
        finished_at=at(79), incident_id=i2, held=True,
    )  # fmt: skip
    await _execution(
        services, company.id, name="Restart nginx", category="SERVICES", status="SUCCEEDED",
        finished_at=at(69), incident_id=i3,
    )  # fmt: skip
    return KnownSet(company, other, {"i1": i1, "i2": i2, "i3": i3, "i4": i4, "b1": b1})


@pytest.fixture
async def known(services: Any, factory: Any) -> KnownSet:
    made = await known_set(services, factory)
    rollups = KpiRollups(services.pool)
    for company in (made.company, made.other):
        await rollups.rebuild(company.id, DAY, DAY + timedelta(days=1))
    return made


async def _figures(services: Any, companies: list[uuid.UUID], start: datetime, end: datetime) -> Any:
    from graph.kpis.queries import figures_of

    return await figures_of(KpiReader(services.pool, TenantScope(None)), companies, start, end, several=True)


# Hand-computed figures of company A over 10:00–12:00 (see `known_set`).
P90_3600 = 2 ** (47.5 / 4)  # 3600 s: log2 = 11.81, ×4 = 47.3 → bucket 47, worth 2^(47.5/4) ≈ 3756.5 s
EXPECTED_A = {
    "alerts": 16,
    "incidents": 4,
    "noise_reduction_pct": 75.0,  # 100 × (1 − 4/16)
    "mtta_seconds": 1050.0,  # (300 + 1800) / 2
    "mttr_seconds": 1600.0,  # (600 + 3600 + 600) / 3
    "mttr_p90_seconds": P90_3600,  # nearest rank ceil(0.9 × 3) = 3rd of 600, 600, 3600
    "self_healed": 1,  # i2
    "self_healed_pct": 100 / 3,
    "auto_remediation_rate_pct": 200 / 3,  # i2, i3 of 3 resolved
    "response_sla_compliance_pct": 200 / 3,  # i1, i3 met; i2 breached; i4 still running
    "resolution_sla_compliance_pct": 100.0,  # i1, i2, i3 met
}


def _as_dict(figures: Any) -> dict[str, Any]:
    s = figures.sums
    return {
        "alerts": s.alerts,
        "incidents": s.incidents,
        "noise_reduction_pct": s.noise_reduction_pct,
        "mtta_seconds": s.mtta_seconds,
        "mttr_seconds": s.mttr_seconds,
        "mttr_p90_seconds": figures.mttr_p90_seconds,
        "self_healed": s.self_healed,
        "self_healed_pct": s.self_healed_pct,
        "auto_remediation_rate_pct": s.auto_remediation_rate_pct,
        "response_sla_compliance_pct": s.response_sla_compliance_pct,
        "resolution_sla_compliance_pct": s.resolution_sla_compliance_pct,
    }


async def test_the_known_data_set_gives_the_hand_computed_figures(services, known):
    # when the rollups of A are read for 10:00–12:00
    _, per = await _figures(services, [known.company.id], H10, H10 + timedelta(hours=2))

    # then every figure is the hand-computed one
    assert _as_dict(per[known.company.id]) == pytest.approx(EXPECTED_A)


async def test_hourly_rows_split_the_figures_by_the_hour_they_count_in(services, known):
    row = await services.pool.fetch(
        "SELECT hour, alerts, incidents, acknowledged, ack_seconds, resolved, resolve_seconds, resolve_buckets,"
        " resolve_bucket_counts, self_healed, auto_remediated, response_met, response_breached,"
        " resolution_met, resolution_breached FROM kpi_hourly WHERE company_id = $1 ORDER BY hour",
        known.company.id,
    )
    got = [tuple(r.values()) for r in row if r["alerts"] or r["incidents"] or r["resolved"]]
    assert got == [
        # 10:00: 10 alerts; i1, i2 opened (both acked: 300 + 1800 s); i1 resolved (600 s → bucket 36);
        # response: i1 met, i2 breached; resolution: i1, i2 met
        (H10, 10, 2, 2, 2100.0, 1, 600.0, [36], [1], 0, 0, 1, 1, 2, 0),
        # 11:00: 6 alerts; i3, i4 opened; i2 (3600 s, bucket 47) and i3 (600 s) resolved, both by a
        # runbook, i2's held; i3 met both clocks, i4's still run
        (H11, 6, 2, 0, 0.0, 2, 4200.0, [36, 47], [1, 1], 1, 2, 1, 0, 1, 0),
    ]


async def test_a_range_counts_only_its_hours_and_series_fill_every_bucket(services, known):
    # the 11:00 hour alone: i3 and i4 opened, i2 and i3 resolved
    _, per = await _figures(services, [known.company.id], H11, H11 + timedelta(hours=1))
    got = per[known.company.id]
    assert (got.sums.alerts, got.sums.incidents, got.sums.resolved) == (6, 2, 2)
    assert got.sums.mttr_seconds == 2100.0  # (3600 + 600) / 2
    assert got.sums.mtta_seconds is None  # neither was acknowledged
    assert got.sums.response_sla_compliance_pct == 100.0  # i3 met; i4 not ended

    reader = KpiReader(services.pool, TenantScope(None))
    hours = dict(await reader.series([known.company.id], H10, H10 + timedelta(hours=2), KpiBucket.HOUR))
    assert [(h, s.alerts, s.incidents, s.self_healed) for h, s in sorted(hours.items())] == [
        (H10, 10, 2, 0),
        (H11, 6, 2, 1),
    ]
    days = await reader.series([known.company.id], DAY, DAY + timedelta(days=1), KpiBucket.DAY)
    assert [(d, s.alerts, s.incidents) for d, s in days] == [(DAY, 16, 4)]


async def test_whole_days_read_their_histogram_from_the_day_row(services, known):
    # the day's row sums its hours: 600 s twice (bucket 36), 3600 s once (bucket 47)
    day = await services.pool.fetchrow(
        "SELECT resolve_buckets, resolve_bucket_counts FROM kpi_daily_buckets WHERE company_id = $1 AND day = $2",
        known.company.id,
        DAY,
    )
    assert (day["resolve_buckets"], day["resolve_bucket_counts"]) == ([36, 47], [2, 1])
    # a range of the whole day and the hour before it: the day row and one (empty) hourly row
    _, per = await _figures(services, [known.company.id], DAY - timedelta(hours=1), DAY + timedelta(days=1))
    assert per[known.company.id].mttr_p90_seconds == pytest.approx(P90_3600)
    # ranges that cut through the day read its hours
    _, per = await _figures(services, [known.company.id], H10, H10 + timedelta(hours=1))
    assert per[known.company.id].mttr_p90_seconds == pytest.approx(2 ** (36.5 / 4))  # i1's 600 s alone


async def test_several_companies_sum_and_keep_their_own_rows(services, known):
    overall, per = await _figures(services, [known.company.id, known.other.id], H10, H10 + timedelta(hours=2))
    # B: 5 alerts, 1 incident (resolved after 600 s, by a person)
    b = per[known.other.id].sums
    assert (b.alerts, b.incidents, b.resolved, b.resolve_seconds) == (5, 1, 1, 600.0)
    assert b.noise_reduction_pct == pytest.approx(80.0)  # 100 × (1 − 1/5)
    # together: 21 alerts, 5 incidents, 4 resolved (600, 3600, 600, 600 s)
    s = overall.sums
    assert (s.alerts, s.incidents, s.resolved) == (21, 5, 4)
    assert s.noise_reduction_pct == pytest.approx(100 * (1 - 5 / 21))
    assert s.mttr_seconds == pytest.approx((600 + 3600 + 600 + 600) / 4)
    assert overall.mttr_p90_seconds == pytest.approx(P90_3600)  # rank ceil(3.6) = 4th: 3600
    assert s.self_healed_pct == pytest.approx(25.0)  # 1 of 4


async def test_a_caller_scoped_to_one_company_reads_no_other_companys_rollups(services, known):
    reader = KpiReader(services.pool, TenantScope(frozenset({known.company.id})))
    # even naming B's id, the scope leaves its rows out
    got = await reader.totals([known.other.id, known.company.id], DAY, DAY + timedelta(days=1))
    assert (got.alerts, got.incidents) == (16, 4)
    assert await reader.by_company([known.other.id], DAY, DAY + timedelta(days=1)) == {}


# ---- keeping the rollups current ----------------------------------------------------------------


@pytest.fixture
async def marks(services: Any) -> Any:
    """The kpi-rollups reaction registered on this database for the test (unregistered after, so the
    other tests' changes do not pile up in its inbox)."""
    async with registered_reactions(services.pool, KpiRollupMarks()) as (runner,):
        yield runner


async def _change(
    services: Any,
    company_id: uuid.UUID,
    incident_id: uuid.UUID,
    version: int,
    before: Any,
    after: str,
    at: datetime,
) -> None:
    await services.pool.execute(
        "INSERT INTO incident_changes (company_id, incident_id, version, kind, before_status, after_status,"
        " before_severity, after_severity, actor, at) VALUES ($1, $2, $3, 'STATUS', $4, $5, 'high', 'high',"
        " 'system:test', $6)",
        company_id,
        incident_id,
        version,
        before,
        after,
        at,
    )


async def _row(services: Any, company_id: uuid.UUID, hour: datetime) -> tuple[int, ...] | None:
    r = await services.pool.fetchrow(
        "SELECT alerts, incidents, acknowledged, resolved, self_healed, auto_remediated FROM kpi_hourly"
        " WHERE company_id = $1 AND hour = $2",
        company_id,
        hour,
    )
    return None if r is None else tuple(r.values())


async def test_changes_reach_the_rollups_through_the_reaction_even_with_two_passes_racing(
    services, factory, marks
):
    # given a company with 3 alerts and an incident opened at 10:05, its creation in the outbox
    company = await factory.company()
    for n in range(3):
        await rows.alert(services, company.id, received_at=H10 + n * MIN)
    incident = await rows.incident(services, company.id, created_at=H10 + 5 * MIN)
    await _change(services, company.id, incident, 1, None, "NEW", H10 + 5 * MIN)

    # when the reaction marks it and two workers' passes race
    await marks.run_once()
    first, second = KpiRollups(services.pool), KpiRollups(services.pool)
    await asyncio.gather(first.run_once(), second.run_once())
    while await first.run_once() or await second.run_once():
        pass

    # then the hour holds the alerts and the incident once
    assert await _row(services, company.id, H10) == (3, 1, 0, 0, 0, 0)

    # when it is resolved at 11:30 by a runbook (outbox change), and the passes run again, twice
    await services.pool.execute(
        "UPDATE incidents SET status = 'RESOLVED', resolved_at = $2, auto_remediated = true WHERE id = $1",
        incident,
        H11 + 30 * MIN,
    )
    await _change(services, company.id, incident, 2, "NEW", "RESOLVED", H11 + 30 * MIN)
    await marks.run_once()
    await asyncio.gather(first.run_once(), second.run_once())
    await asyncio.gather(first.run_once(), second.run_once())

    # then it is resolved in 11:00, auto-remediated, not self-healed yet; 10:00 unchanged
    assert await _row(services, company.id, H10) == (3, 1, 0, 0, 0, 0)
    assert await _row(services, company.id, H11) == (0, 0, 0, 1, 0, 1)

    # when its remediation is judged held (the trigger marks the resolve hour) and workers restart
    await _execution(
        services, company.id, name="Restart", category="SERVICES", status="SUCCEEDED",
        finished_at=H11 + 29 * MIN, incident_id=incident,
    )  # fmt: skip
    await services.pool.execute(
        "UPDATE remediation_executions SET held = true WHERE incident_id = $1", incident
    )
    restarted = KpiRollups(services.pool)
    while await restarted.run_once():
        pass
    assert await _row(services, company.id, H11) == (0, 0, 0, 1, 1, 1)

    # when it is reopened: its last resolve's hour is recounted without it
    await services.pool.execute(
        "UPDATE incidents SET status = 'NEW', resolved_at = NULL, auto_remediated = false WHERE id = $1",
        incident,
    )
    await _change(services, company.id, incident, 3, "RESOLVED", "NEW", H11 + 45 * MIN)
    await marks.run_once()
    while await restarted.run_once():
        pass
    assert await _row(services, company.id, H11) == (0, 0, 0, 0, 0, 0)
    assert (
        await services.pool.fetchval("SELECT count(*) FROM kpi_dirty_hours WHERE company_id = $1", company.id)
        == 0
    )


async def test_an_sla_outcome_marks_the_incidents_opening_hour(services, factory):
    company = await factory.company()
    incident = await rows.incident(services, company.id, created_at=H10 + 5 * MIN)
    await _sla(services, incident, company.id, response_deadline=H10 + 35 * MIN)
    rollups = KpiRollups(services.pool)
    await rollups.rebuild(company.id, H10, H11)
    assert (await _figures(services, [company.id], H10, H11))[0].sums.response_sla_compliance_pct is None

    # when the monitor flags the breach
    await services.pool.execute(
        "UPDATE incident_sla SET response_breached = true WHERE incident_id = $1", incident
    )
    while await rollups.run_once():
        pass

    # then the hour counts it as breached
    assert (await _figures(services, [company.id], H10, H11))[0].sums.response_sla_compliance_pct == 0.0


async def test_the_alert_recount_counts_the_current_hour_once_however_often_it_runs(services, factory):
    company = await factory.company()
    now = await rows.db_now(services)
    for _ in range(4):
        await rows.alert(services, company.id, received_at=now)
    rollups = KpiRollups(services.pool)
    await rollups.recount_alerts()
    await rollups.recount_alerts()
    hour = rules.hour_floor(now)
    got = await services.pool.fetchval(
        "SELECT alerts FROM kpi_hourly WHERE company_id = $1 AND hour = $2", company.id, hour
    )
    assert got == 4


# ---- patch compliance ---------------------------------------------------------------------------


class StubbedSsm:
    """SSM answers through botocore's Stubber (moto has neither call), as `SsmPatchStates` asks."""

    def __init__(self, pages: list[list[str]], states: list[dict[str, Any]]) -> None:
        import boto3
        from botocore.stub import Stubber

        self.client = boto3.client(
            "ssm", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        self.stubber = Stubber(self.client)
        for n, page in enumerate(pages):
            answer: dict[str, Any] = {"InstanceInformationList": [{"InstanceId": i} for i in page]}
            if n + 1 < len(pages):
                answer["NextToken"] = f"page-{n + 1}"
            expected = {"MaxResults": 50} | ({"NextToken": f"page-{n}"} if n else {})
            self.stubber.add_response("describe_instance_information", answer, expected)
        ids = [i for page in pages for i in page]
        self.stubber.add_response(
            "describe_instance_patch_states", {"InstancePatchStates": states}, {"InstanceIds": ids}
        )
        self.stubber.activate()


class NotOurs:
    """The patch source of a company another test (or process) left due in the shared database: it
    must not take this test's stubbed SSM answers."""

    async def patch_states(self) -> list[Any]:
        from domain.aws import AwsError

        raise AwsError("not this test's company")


def _state(instance: str, **counts: int) -> dict[str, Any]:
    return {
        "InstanceId": instance,
        "PatchGroup": "web",
        "BaselineId": "pb-0123456789abcdef0",
        "Operation": "Scan",
        "OperationStartTime": H10,
        "OperationEndTime": H10 + MIN,
        "InstalledCount": 10,
        **counts,
    }


async def test_patch_compliance_comes_from_ssm_patch_states(services, factory):
    from adapters.aws import AwsSessions
    from domain.aws import AwsAccess, AwsAuthType

    # given a company with AWS access whose SSM manages three instances (two pages), one missing patches
    company = await factory.company()
    await services.pool.execute(
        "INSERT INTO company_aws_settings (company_id, auth_type, region, access_key_id, secret_access_key_enc)"
        " VALUES ($1, 'access_key', 'eu-west-1', 'AKIAEXAMPLE', $2)",
        company.id,
        b"sealed",
    )
    ssm = StubbedSsm(
        [["i-1", "i-2"], ["i-3"]],
        [_state("i-1"), _state("i-2", MissingCount=2), _state("i-3", NotApplicableCount=4)],
    )
    sessions = AwsSessions(services.clock)
    sessions.client_sync = lambda *a: ssm.client  # type: ignore[method-assign]

    def source(company_id: uuid.UUID, access: AwsAccess) -> Any:
        if company_id != company.id:
            return NotOurs()
        assert access.auth_type is AwsAuthType.ACCESS_KEY
        assert access.secret_access_key == "opened:sealed"
        return sessions.patch_states(company_id, access)

    job = PatchRefresh(services.pool, source, lambda token: "opened:" + token.decode(), batch=10_000)

    # when the periodic job runs (twice: the second finds nothing due)
    now = datetime.now(UTC)
    await job.run_once(now)
    await job.run_once(now + timedelta(minutes=1))
    ssm.stubber.assert_no_pending_responses()

    # then the states are stored and 2 of 3 instances are compliant
    stored = await services.pool.fetch(
        "SELECT instance_id, missing, not_applicable, patch_group FROM patch_states WHERE company_id = $1"
        " ORDER BY instance_id",
        company.id,
    )
    assert [tuple(r.values()) for r in stored] == [
        ("i-1", 0, 0, "web"),
        ("i-2", 2, 0, "web"),
        ("i-3", 0, 4, "web"),
    ]
    overall, _ = await _figures(services, [company.id], H10, H11)
    assert overall.patch.source is PatchComplianceSource.SSM
    assert overall.patch.pct == pytest.approx(200 / 3)


async def test_a_failing_ssm_call_keeps_the_last_states_and_records_the_error(services, factory):
    import boto3
    from botocore.stub import Stubber

    from adapters.aws import AwsSessions

    company = await factory.company()
    await services.pool.execute(
        "INSERT INTO company_aws_settings (company_id, auth_type, region, access_key_id, secret_access_key_enc)"
        " VALUES ($1, 'access_key', 'eu-west-1', 'AKIAEXAMPLE', $2)",
        company.id,
        b"sealed",
    )
    await services.pool.execute(
        "INSERT INTO patch_states (company_id, instance_id) VALUES ($1, 'i-old')", company.id
    )
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    stubber = Stubber(client)
    stubber.add_client_error("describe_instance_information", "AccessDeniedException", "no", 400)
    stubber.activate()
    sessions = AwsSessions(services.clock)
    sessions.client_sync = lambda *a: client  # type: ignore[method-assign]

    def source(company_id: uuid.UUID, access: Any) -> Any:
        return sessions.patch_states(company_id, access) if company_id == company.id else NotOurs()

    job = PatchRefresh(services.pool, source, lambda token: token.decode(), batch=10_000)
    await job.run_once(datetime.now(UTC))

    assert (
        await services.pool.fetchval("SELECT count(*) FROM patch_states WHERE company_id = $1", company.id)
        == 1
    )
    error = await services.pool.fetchval(
        "SELECT error FROM patch_refreshes WHERE company_id = $1", company.id
    )
    assert error.startswith("AWS_ACCESS_DENIED")


async def test_without_ssm_data_patch_compliance_comes_from_patch_runbook_outcomes(services, factory):
    company, bare = await factory.company(), await factory.company()
    at = H10 + 10 * MIN
    # a patching runbook by name that succeeded, one by signature that failed, one cancelled (not
    # finished), one outside the range, and a security runbook that does not patch
    await _execution(
        services, company.id, name="Apply OS patches", category="SECURITY", status="SUCCEEDED", finished_at=at
    )
    await _execution(
        services, company.id, name="Hardening", category="SECURITY", status="FAILED", finished_at=at,
        signatures=("PatchMissing",),
    )  # fmt: skip
    await _execution(
        services, company.id, name="Patch now", category="SECURITY", status="CANCELLED", finished_at=at
    )
    await _execution(
        services, company.id, name="Patch later", category="SECURITY", status="SUCCEEDED",
        finished_at=H10 - timedelta(days=1),
    )  # fmt: skip
    await _execution(
        services, company.id, name="Rotate keys", category="SECURITY", status="FAILED", finished_at=at
    )
    await _execution(
        services, company.id, name="Patch nginx", category="SERVICES", status="FAILED", finished_at=at
    )

    _, per = await _figures(services, [company.id, bare.id], H10, H11)
    assert per[company.id].patch.source is PatchComplianceSource.RUNBOOKS
    assert per[company.id].patch.pct == 50.0  # 1 succeeded of 2 finished patch runs
    assert per[bare.id].patch.source is PatchComplianceSource.NONE
    assert per[bare.id].patch.pct is None
