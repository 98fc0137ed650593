"""companyDelete: the company is gone at once from every API surface, its key stops working, its
rows are purged in batches (restartable, by any number of processes), and the audit log keeps who
deleted which company when."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson

from db import company_purge
from db.correlation import CorrelationWorker
from db.executions import ExecutionRequest, enqueue_execution
from db.notifications import enqueue
from db.tables import Base
from domain.aws import AwsAccess, AwsAuthType
from domain.rbac import Role
from domain.runbook_library import LIBRARY
from tests.helpers import event_heard

DELETE = "mutation($i: CompanyDeleteInput!) { companyDelete(input: $i) { deletedCompanyId userErrors { code field message } } }"
COMPANY = "query($id: ID!) { company(id: $id) { id name } }"
COMPANIES = "{ companies(first: 100) { nodes { id } } }"
ALERTS = "{ alerts(first: 100) { nodes { id } } }"
INCIDENTS = "{ incidents(first: 100) { nodes { id } } }"
ALERT = {"asset_name": "web-01", "signature": "high_cpu", "severity": "high", "message": "CPU 97%"}


def tenant_tables() -> list[str]:
    """Every table of db/tables.py with a company_id column (a new one is included by itself)."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "company_id" in t.c)


async def send(client, company, headers=None):
    return await client.post(
        "/api/webhooks/alerts",
        content=orjson.dumps(ALERT),
        headers={"content-type": "application/json", "x-api-key": company.api_key} | (headers or {}),
    )


async def populate(client, factory, services, company) -> None:
    """Rows of `company` in every tenant table (through the API where there is one)."""
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    assert admin
    a = await factory.asset(company, "web-01")
    b = await factory.asset(company, "db-01")
    await services.pool.execute(
        "INSERT INTO asset_dependencies (company_id, asset_id, depends_on_id) VALUES ($1, $2, $3)",
        company.id,
        a,
        b,
    )
    now = datetime.now(UTC)
    await services.pool.execute(
        "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at) VALUES ($1, $2, 'w', $3, $4)",
        uuid.uuid4(),
        company.id,
        now + timedelta(days=1),
        now + timedelta(days=2),
    )
    await services.pool.execute(
        "INSERT INTO signature_aliases (id, company_id, canonical, signatures, problems)"
        " VALUES ($1, $2, 'app_stuck', '{AppStuck}', '{\"app stuck\"}')",
        uuid.uuid4(),
        company.id,
    )
    assert (await send(client, company, {"x-delivery-id": f"d-{company.id}"})).status_code == 202
    assert (
        await client.post(
            "/api/webhooks/alerts",
            content=b"{",
            headers={"content-type": "application/json", "x-api-key": company.api_key},
        )
    ).status_code == 400
    await services.ingest_service().deliveries.flush()
    while (await CorrelationWorker(services.pool).run_once()).alerts:
        pass
    async with factory.uow() as uow:
        await uow.aws.set(
            company.id,
            AwsAccess(
                "eu-west-1",
                AwsAuthType.ACCESS_KEY,
                access_key_id="AKIA" + "A" * 16,
                secret_access_key="s" * 40,
            ),
        )
    await services.pool.execute(
        "INSERT INTO correlation_quarantine (company_id, error, retry_at) VALUES ($1, 'x', now())", company.id
    )
    async with factory.uow() as uow:
        runbook, version = await uow.runbooks.create(company.id, LIBRARY[0])
    async with services.pool.acquire() as conn, conn.transaction():
        execution = await enqueue_execution(
            conn,
            ExecutionRequest(
                company_id=company.id,
                runbook_id=runbook.id,
                runbook_version=version.version,
                instance_ids=["i-0abc"],
                document="AWS-RunShellScript",
                commands=["df -h"],
                timeout_seconds=600,
                started_by="system:test",
            ),
            now,
        )
        await conn.execute(
            "INSERT INTO remediation_invocations (execution_id, step, instance_id, company_id, status)"
            " VALUES ($1, 'action', 'i-0abc', $2, 'PENDING')",
            execution,
            company.id,
        )
        await enqueue(
            conn, company_id=company.id, user_ids=[admin.id], kind="ASSIGNED", subject="s", body="b", now=now
        )
        incident = await conn.fetchval("SELECT id FROM incidents WHERE company_id = $1 LIMIT 1", company.id)
        await conn.execute(
            "INSERT INTO incident_analyses (incident_id, company_id, pattern_type, root_cause, confidence,"
            " explanation, incident_version, analyzed_at) VALUES ($1, $2, 'ISOLATED', 'x', 0.5, 'x', 1, $3)",
            incident,
            company.id,
            now,
        )
        await conn.execute(
            "INSERT INTO incident_llm_analyses (incident_id, company_id, error, incident_version, analyzed_at)"
            " VALUES ($1, $2, 'x', 1, $3)",
            incident,
            company.id,
            now,
        )
        await conn.execute(
            "INSERT INTO llm_usage (company_id, month, tokens) VALUES ($1, date_trunc('month', $2::timestamptz), 5)",
            company.id,
            now,
        )
        await conn.execute(
            "INSERT INTO llm_cache (company_id, key, source, model, answer) VALUES ($1, 'k', 'GEMINI', 'm', '{}')",
            company.id,
        )
        incident = await conn.fetchval("SELECT id FROM incidents WHERE company_id = $1 LIMIT 1", company.id)
        await conn.execute(
            "INSERT INTO incident_decisions (incident_id, company_id, action, approval_required, reason,"
            " priority_score, explanation, decided_at, decided_for_version)"
            " VALUES ($1, $2, 'ESCALATE_TO_TECHNICIAN', false, 'NO_RUNBOOK', 1, 'x', $3, 1)",
            incident,
            company.id,
            now,
        )
        await conn.execute(
            "INSERT INTO remediation_approvals (id, company_id, incident_id, runbook_id, runbook_version,"
            " instance_ids, requested_by, requested_at, expires_at)"
            " VALUES (gen_random_uuid(), $1, $2, $3, $4, '{i-0abc}', 'system:test', $5, $5)",
            company.id,
            incident,
            runbook.id,
            version.version,
            now,
        )
        await conn.execute(
            "INSERT INTO incident_sla (incident_id, company_id, severity, response_started_at,"
            " resolution_started_at, version) SELECT id, company_id, severity, created_at, created_at,"
            " version FROM incidents WHERE company_id = $1",
            company.id,
        )
        await conn.execute(
            "INSERT INTO sla_events (company_id, incident_id, clock, kind, deadline, at)"
            " SELECT company_id, id, 'response', 'warning', created_at, created_at FROM incidents"
            " WHERE company_id = $1",
            company.id,
        )
        await conn.execute(
            "INSERT INTO demo_runs (id, company_id, scenario, status, total_steps, api_key_enc, started_by,"
            " next_step_at, started_at) VALUES ($1, $2, 'MIXED', 'RUNNING', 1, '\\x00', 'system:test', now(), now())",
            uuid.uuid4(),
            company.id,
        )
        for statement in (
            "INSERT INTO kpi_hourly (company_id, hour, alerts) VALUES ($1, date_trunc('hour', now()), 1)",
            "INSERT INTO kpi_dirty_hours (company_id, hour) VALUES ($1, date_trunc('hour', now()))",
            "INSERT INTO kpi_daily_buckets (company_id, day) VALUES ($1, date_trunc('day', now()))",
            "INSERT INTO patch_states (company_id, instance_id) VALUES ($1, 'i-0abc')",
            "INSERT INTO patch_refreshes (company_id, refreshed_at) VALUES ($1, now())",
        ):
            await conn.execute(statement, company.id)
        schedule = await conn.fetchval(
            "INSERT INTO oncall_schedules (id, company_id, name, timezone) VALUES ($1, $2, 'On call', 'UTC')"
            " RETURNING id",
            uuid.uuid4(),
            company.id,
        )
        for table, columns, values in (
            ("oncall_shifts", "user_id, weekday, start_minute, end_minute", f"'{admin.id}', 0, 0, 1440"),
            (
                "oncall_rotations",
                "members, handover_weekday, handover_minute, length_days, start_date",
                f"ARRAY['{admin.id}'::uuid], 0, 540, 7, '2026-12-07'",
            ),
            (
                "oncall_overrides",
                "user_id, starts_at, ends_at",
                f"'{admin.id}', now(), now() + interval '1 hour'",
            ),
        ):
            await conn.execute(
                f"INSERT INTO {table} (id, schedule_id, company_id, {columns}) VALUES ($1, $2, $3, {values})",
                uuid.uuid4(),
                schedule,
                company.id,
            )


async def counts(services, company_id, *, others: bool) -> dict[str, int]:
    op = "<>" if others else "="
    return {
        t: await services.pool.fetchval(f"SELECT count(*) FROM {t} WHERE company_id {op} $1", company_id)
        for t in tenant_tables()
    }


async def test_the_purge_list_is_every_tenant_table_but_the_audit_log():
    # given the tables of db/tables.py that carry company_id
    # then the purge deletes from every one of them except the audit log, which is kept
    assert sorted(company_purge.PURGED) == sorted(set(tenant_tables()) - company_purge.KEPT)
    assert company_purge.KEPT == {"audit_log"}


async def test_a_deleted_company_is_gone_at_once_and_purged_in_batches_leaving_the_audit(
    client, factory, services, gql
):
    # given a company with rows in every tenant table, a reaction waiting on its incident changes,
    # its admin, an MSP admin, and another company with data of its own
    await services.pool.execute("INSERT INTO reactions (name) VALUES ('test-purge') ON CONFLICT DO NOTHING")
    # (a company another test deleted would be purged first, being older: its rows are not this
    # test's to count, so they go now)
    while await company_purge.purge_step(services.pool):
        pass
    try:
        doomed = await factory.company()
        other = await factory.company()
        member = await factory.user(Role.COMPANY_ADMIN, [doomed])
        msp = await factory.user(Role.MSP_ADMIN)
        await populate(client, factory, services, doomed)
        await populate(client, factory, services, other)
        held = await counts(services, doomed.id, others=False)
        assert all(held[t] for t in company_purge.PURGED), held
        others_before = await counts(services, doomed.id, others=True)
        of_doomed = "query($c: ID!) { alerts(companyId: $c, first: 100) { nodes { id } } }"
        seen_before = await gql(of_doomed, {"c": doomed.gid}, token=msp.token)
        assert seen_before["data"]["alerts"]["nodes"] != []

        # when an MSP admin deletes it
        async with event_heard(services, "system:companies"):  # the deletion reaches the key cache
            body = await gql(DELETE, {"i": {"id": doomed.gid}}, token=msp.token)
        assert body["data"]["companyDelete"] == {"deletedCompanyId": doomed.gid, "userErrors": []}

        # then at once: no API surface shows it or its data, and its key no longer authenticates
        assert (await gql(COMPANY, {"id": doomed.gid}, token=msp.token))["data"]["company"] is None
        assert doomed.gid not in {
            n["id"] for n in (await gql(COMPANIES, token=msp.token))["data"]["companies"]["nodes"]
        }
        assert (await gql(COMPANY, {"id": doomed.gid}, token=member.token))["data"]["company"] is None
        assert (await gql(ALERTS, token=member.token))["data"]["alerts"]["nodes"] == []
        assert (await gql(INCIDENTS, token=member.token))["data"]["incidents"]["nodes"] == []
        # (the other tests' alerts share the database: look at this company's alone)
        seen_after = await gql(of_doomed, {"c": doomed.gid}, token=msp.token)
        assert seen_after["data"]["alerts"]["nodes"] == []
        assert (await send(client, doomed)).status_code == 401
        # and nothing can be added to it
        added = await gql(
            "mutation($i: AssetCreateInput!) { assetCreate(input: $i) { userErrors { code } } }",
            {"i": {"companyId": doomed.gid, "name": "late-01"}},
            token=msp.token,
        )
        assert added["data"]["assetCreate"]["userErrors"][0]["code"] == "NOT_FOUND"
        # and the audit log says who deleted which company
        [entry] = await services.pool.fetch(
            "SELECT actor_email, before, at FROM audit_log WHERE action = 'company.delete' AND company_id = $1",
            doomed.id,
        )
        assert entry["actor_email"] == msp.email
        assert orjson.loads(entry["before"])["name"] == doomed.name

        # when the purge runs in small batches, cut off after its first step and started again
        assert await company_purge.purge_step(services.pool, batch=1)
        while await company_purge.purge_step(services.pool, batch=2):
            pass

        # then no tenant table holds a row of the company but the audit log, the company row is gone,
        # and every other company's rows are untouched
        left = await counts(services, doomed.id, others=False)
        assert {t: n for t, n in left.items() if n} == {"audit_log": left["audit_log"]}
        assert await services.pool.fetchval("SELECT count(*) FROM companies WHERE id = $1", doomed.id) == 0
        assert await counts(services, doomed.id, others=True) == others_before
        assert (await gql(INCIDENTS, token=msp.token))["data"]["incidents"]["nodes"]
    finally:
        await services.pool.execute("DELETE FROM reactions WHERE name = 'test-purge'")


async def test_only_msp_admins_delete_companies_and_a_name_is_free_again(client, factory, services, gql):
    # given a company, its admin and an MSP admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    msp = await factory.user(Role.MSP_ADMIN)

    # when its own admin tries to delete it
    refused = await gql(DELETE, {"i": {"id": company.gid}}, token=admin.token)
    # then it is refused and nothing changed
    assert refused["data"]["companyDelete"]["userErrors"][0]["code"] == "PERMISSION_DENIED"
    assert (await send(client, company)).status_code == 202

    # when the MSP admin deletes it twice
    async with event_heard(services, "system:companies"):
        first = await gql(DELETE, {"i": {"id": company.gid}}, token=msp.token)
    assert first["data"]["companyDelete"]["userErrors"] == []
    again = await gql(DELETE, {"i": {"id": company.gid}}, token=msp.token)
    # then the second time it is not found, and its name can be given to a new company at once
    assert again["data"]["companyDelete"]["userErrors"][0]["code"] == "NOT_FOUND"
    reborn = await factory.company(company.name)
    assert reborn.id != company.id
