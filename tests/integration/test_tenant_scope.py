"""Every tenant read, through the repositories (ORM) and the raw-SQL readers alike, answers exactly
the rows of `domain.tenancy.tenant_scope`: a company admin of A none of B's, an MSP admin both, and
nobody a deleted company's (but the audit log's, for MSP admins).

The cases run each read path over the same rows; a table with a `company_id` column must have a read
path here or be listed as internal with the reason, so a new tenant table cannot skip scoping.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.executions import ExecutionRequest, enqueue_execution
from db.repositories.alerts import AlertSearch, alert_rows
from db.repositories.demo_runs import DemoRunRepository, demo_run_rows
from db.repositories.executions import ExecutionRepository
from db.repositories.incidents import IncidentSearch, incident_rows
from db.repositories.kpis import KpiReader
from db.repositories.remediation import ApprovalRepository, DecisionRepository
from db.repositories.sla import SlaClockRepository
from db.scope import scope_clause, scope_sql
from db.tables import AuditEntry, Base
from db.uow import UnitOfWork
from domain.aws import AwsAccess, AwsAuthType
from domain.ids import uuid7
from domain.kpis import KpiBucket
from domain.rbac import SYSTEM, Principal, Role
from domain.runbook_library import LIBRARY
from domain.tenancy import TenantScope
from graph.kpis.queries import kpi_scope
from tests import incident_rows as rows
from tests.helpers import Factory, MadeCompany, gid, unique

COMPANIES = ("a", "b", "gone")  # "gone" is deleted, its rows not purged yet


@dataclass
class World:
    made: dict[str, MadeCompany]
    #: table -> company key -> the keys of that company's rows, as the read paths answer them
    rows: dict[str, dict[str, set[Any]]] = field(default_factory=dict)
    members: list[uuid.UUID] = field(default_factory=list)
    #: the asset name of the world's alerts and incidents: a search for it names no company
    marker: str = field(default_factory=lambda: unique("scope"))
    #: an audit entry of no company (an MSP admin's creation)
    msp_entry: int = 0

    def add(self, table: str, company: str, key: Any) -> None:
        self.rows.setdefault(table, {c: set() for c in COMPANIES})[company].add(key)

    def ids(self, table: str) -> list[Any]:
        return sorted(k for keys in self.rows[table].values() for k in keys)

    @property
    def company(self) -> dict[str, uuid.UUID]:
        return {c: m.id for c, m in self.made.items()}

    def companies(self) -> list[uuid.UUID]:
        return [self.made[c].id for c in COMPANIES]


@pytest.fixture(scope="module")
async def world(services: Any) -> World:
    """Companies A, B and a deleted one, each with a row in every tenant table that has a read path."""
    factory = Factory(services)
    made = {c: await factory.company() for c in COMPANIES}
    w = World(made)
    now = datetime.now(UTC)
    for key, company in made.items():
        w.add("companies", key, company.id)
        base = await factory.asset(company)
        w.add("assets", key, base)
        async with factory.uow() as uow:
            dependent = await uow.assets.create(
                company.id, {"name": f"app-{key}-{uuid.uuid4().hex[:6]}"}, [base]
            )
        w.add("assets", key, dependent.id)
        w.add("asset_dependencies", key, (dependent.id, base))
        incident = await rows.incident(services, company.id, asset_name=w.marker)
        w.add("incidents", key, incident)
        await services.pool.execute(
            "INSERT INTO incident_analyses (incident_id, company_id, pattern_type, root_cause, confidence,"
            " explanation, incident_version, analyzed_at) VALUES ($1, $2, 'ISOLATED', 'x', 0.5, 'x', 1, now())",
            incident,
            company.id,
        )
        w.add("incident_analyses", key, incident)
        await services.pool.execute(
            "INSERT INTO incident_llm_analyses (incident_id, company_id, error, incident_version, analyzed_at)"
            " VALUES ($1, $2, 'x', 1, now())",
            incident,
            company.id,
        )
        w.add("incident_llm_analyses", key, incident)
        alert = await rows.alert(services, company.id, incident_id=incident, asset_name=w.marker)
        w.add("alerts", key, alert)
        w.add("incident_events", key, await rows.event(services, company.id, incident, "CREATED", now))
        window = await services.pool.fetchval(
            "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at)"
            " VALUES ($1, $2, 'w', $3, $4) RETURNING id",
            uuid7(),
            company.id,
            now,
            now + timedelta(hours=1),
        )
        w.add("maintenance_windows", key, window)
        alias = await services.pool.fetchval(
            "INSERT INTO signature_aliases (id, company_id, canonical, signatures, problems)"
            " VALUES ($1, $2, 'app_stuck', '{AppStuck}', '{\"app stuck\"}') RETURNING id",
            uuid7(),
            company.id,
        )
        w.add("signature_aliases", key, alias)
        await services.pool.execute(
            "INSERT INTO incident_sla (incident_id, company_id, severity, response_started_at,"
            " resolution_started_at, version) VALUES ($1, $2, 'high', $3, $3, 1)",
            incident,
            company.id,
            now,
        )
        w.add("incident_sla", key, incident)
        sla_event = await services.pool.fetchval(
            "INSERT INTO sla_events (company_id, incident_id, clock, kind, deadline, at)"
            " VALUES ($1, $2, 'response', 'breach', $3, $3) RETURNING id",
            company.id,
            incident,
            now,
        )
        w.add("sla_events", key, sla_event)
        delivery = await services.pool.fetchval(
            "INSERT INTO webhook_delivery_log (company_id, integration, outcome, status, reason, at)"
            " VALUES ($1, 'generic', 'accepted', 202, 'accepted', $2) RETURNING id",
            company.id,
            now,
        )
        w.add("webhook_delivery_log", key, delivery)
        async with factory.uow() as uow:
            await uow.aws.set(company.id, AwsAccess("eu-west-1", AwsAuthType.ROLE, ROLE_ARN, "ext-" + key))
        w.add("company_aws_settings", key, company.id)
        async with factory.uow() as uow:
            runbook, version = await uow.runbooks.create(company.id, replace(LIBRARY[0], name=unique("rb")))
        w.add("runbooks", key, runbook.id)
        w.add("runbook_versions", key, (runbook.id, version.version))
        # A demo company: its run is simulated, so no real executor takes it.
        await services.pool.execute("UPDATE companies SET demo = true WHERE id = $1", company.id)
        request = ExecutionRequest(
            company.id,
            runbook.id,
            version.version,
            ["i-0123456789abcdef0"],
            "AWS-RunShellScript",
            ["true"],
            60,
            "system:test",
            incident_id=incident,
        )
        async with services.pool.acquire() as conn, conn.transaction():
            execution = await enqueue_execution(conn, request, now)
            await conn.execute(
                "INSERT INTO remediation_invocations (execution_id, step, instance_id, company_id, status)"
                " VALUES ($1, 'action', 'i-0123456789abcdef0', $2, 'SUCCEEDED')",
                execution,
                company.id,
            )
        w.add("remediation_executions", key, execution)
        w.add("remediation_invocations", key, execution)
        demo_run = await services.pool.fetchval(
            "INSERT INTO demo_runs (id, company_id, scenario, status, total_steps, api_key_enc, started_by,"
            " next_step_at, started_at) VALUES ($1, $2, 'MIXED', 'FINISHED', 1, '\\x00', 'system:test', $3, $3)"
            " RETURNING id",
            uuid7(),
            company.id,
            now,
        )
        w.add("demo_runs", key, demo_run)
        await services.pool.execute(
            "INSERT INTO incident_decisions (incident_id, company_id, action, approval_required, reason,"
            " priority_score, explanation, decided_at, decided_for_version)"
            " VALUES ($1, $2, 'ESCALATE_TO_TECHNICIAN', false, 'NO_RUNBOOK', 1, 'x', $3, 1)",
            incident,
            company.id,
            now,
        )
        w.add("incident_decisions", key, incident)
        approval = await services.pool.fetchval(
            "INSERT INTO remediation_approvals (id, company_id, incident_id, runbook_id, runbook_version,"
            " instance_ids, requested_by, requested_at, expires_at)"
            " VALUES ($1, $2, $3, $4, 1, '{i-1}', 'system:decisions', $5, $6) RETURNING id",
            uuid7(),
            company.id,
            incident,
            runbook.id,
            now,
            now + timedelta(hours=1),
        )
        w.add("remediation_approvals", key, approval)
        member = await factory.user(Role.TECHNICIAN, [company])
        w.members.append(member.id)
        w.add("memberships", key, (member.id, company.id))
        notification = await services.pool.fetchval(
            "INSERT INTO notifications (company_id, user_id, kind, subject, body, email_state, email_error)"
            " VALUES ($1, $2, 'ASSIGNED', 's', 'b', 'failed', 'AWS_ERROR: refused') RETURNING id",
            company.id,
            member.id,
        )
        w.add("notifications", key, notification)
        await _oncall_rows(services, w, key, company.id, member.id, now)
        await services.pool.execute(
            "INSERT INTO kpi_hourly (company_id, hour, alerts) VALUES ($1, $2, 1)", company.id, KPI_HOUR
        )
        w.add("kpi_hourly", key, company.id)
        await services.pool.execute(
            "INSERT INTO kpi_daily_buckets (company_id, day, resolve_buckets, resolve_bucket_counts)"
            " VALUES ($1, $2, '{36}', '{1}')",
            company.id,
            KPI_DAY,
        )
        w.add("kpi_daily_buckets", key, company.id)
        await services.pool.execute(
            "INSERT INTO patch_states (company_id, instance_id) VALUES ($1, 'i-0123456789abcdef0')",
            company.id,
        )
        w.add("patch_states", key, company.id)
    async with factory.uow() as uow:
        await uow.companies.delete(w.company["gone"])
    # The deleted company's memberships went with it; its other rows wait for the purge.
    w.rows["memberships"]["gone"] = set()
    for key, company_id in w.company.items():
        for entry in await services.pool.fetch("SELECT id FROM audit_log WHERE company_id = $1", company_id):
            w.add("audit_log", key, entry["id"])
    msp = await factory.user(Role.MSP_ADMIN)
    w.msp_entry = await services.pool.fetchval(
        "SELECT id FROM audit_log WHERE entity_id = $1 AND company_id IS NULL", str(msp.id)
    )
    return w


async def _oncall_rows(
    services: Any, w: World, key: str, company_id: uuid.UUID, member: uuid.UUID, now: datetime
) -> None:
    """A company's schedule with a shift, a rotation and an override (stored as the repository stores
    them: each child row carries its schedule's company)."""
    schedule = await services.pool.fetchval(
        "INSERT INTO oncall_schedules (id, company_id, covers, name, timezone)"
        " VALUES ($1, $2, '{}', $3, 'Europe/Berlin') RETURNING id",
        uuid7(),
        company_id,
        unique("oncall"),
    )
    w.add("oncall_schedules", key, schedule)
    shift = await services.pool.fetchval(
        "INSERT INTO oncall_shifts (id, schedule_id, company_id, user_id, weekday, start_minute, end_minute)"
        " VALUES ($1, $2, $3, $4, 0, 480, 960) RETURNING id",
        uuid7(),
        schedule,
        company_id,
        member,
    )
    w.add("oncall_shifts", key, shift)
    rotation = await services.pool.fetchval(
        "INSERT INTO oncall_rotations (id, schedule_id, company_id, members, handover_weekday,"
        " handover_minute, length_days, start_date) VALUES ($1, $2, $3, $4, 0, 540, 7, $5) RETURNING id",
        uuid7(),
        schedule,
        company_id,
        [member],
        now.date(),
    )
    w.add("oncall_rotations", key, rotation)
    override = await services.pool.fetchval(
        "INSERT INTO oncall_overrides (id, schedule_id, company_id, user_id, covers_user_id, starts_at,"
        " ends_at) VALUES ($1, $2, $3, $4, NULL, $5, $6) RETURNING id",
        uuid7(),
        schedule,
        company_id,
        member,
        now + timedelta(days=1),
        now + timedelta(days=1, hours=2),
    )
    w.add("oncall_overrides", key, override)


ROLE_ARN = "arn:aws:iam::111122223333:role/AlertWhisperer"
KPI_HOUR = datetime(2026, 1, 5, 10, tzinfo=UTC)
KPI_DAY = datetime(2026, 1, 5, tzinfo=UTC)

Read = Callable[[Any, Principal, World], Awaitable[set[Any]]]


@dataclass(frozen=True)
class TenantRead:
    table: str
    path: str  # "orm" (a repository's statement) or "raw" (SQL text on the raw pool)
    read: Read


async def _in_uow(services: Any, principal: Principal, work: Callable[[UnitOfWork], Awaitable[Any]]) -> Any:
    uow = UnitOfWork(services.sessionmaker, principal, services.cipher, "test")
    async with uow:
        return await work(uow)


def orm(table: str, work: Callable[[UnitOfWork, World], Awaitable[Any]]) -> TenantRead:
    """A read through the caller's repositories; rows are answered by their ids."""

    async def read(services: Any, principal: Principal, w: World) -> set[Any]:
        found = await _in_uow(services, principal, lambda uow: work(uow, w))
        return {getattr(r, "id", r) for r in found}

    return TenantRead(table, "orm", read)


def _ids(rows_: Any) -> set[Any]:
    return {r.id for r in rows_}


async def _each(get: Callable[[Any], Awaitable[Any]], keys: list[Any]) -> set[Any]:
    return {k for k in keys if await get(k) is not None}


async def _pages(page: Callable[..., Awaitable[Any]], w: World) -> set[Any]:
    """The rows of each company's page (a full run holds other tests' rows: ask per company)."""
    out: set[Any] = set()
    for company_id in w.companies():
        out |= _ids((await page(company_id)).items)
    return out


async def _searched(uow: UnitOfWork, w: World, what: str) -> set[Any]:
    """A page of alerts or incidents that names no company, only the world's marker."""
    if what == "alerts":
        return _ids((await uow.alerts.page(AlertSearch(text=w.marker), first=100, after=None)).items)
    if what == "incidents":
        page = await uow.incidents.page(IncidentSearch(text=w.marker), first=100, after=None)
        return _ids(page.items)
    scored = await uow.incidents.page_by_priority(
        IncidentSearch(text=w.marker), first=100, after=None, now=datetime.now(UTC)
    )
    return {i.incident.id for i in scored.items}


async def _dependencies(uow: UnitOfWork, w: World) -> set[Any]:
    found = await uow.assets.dependencies([a for a, _ in w.ids("asset_dependencies")])
    return {(a, d) for a, deps in found.items() for d in deps}


async def _by_priority(uow: UnitOfWork, w: World) -> set[Any]:
    out: set[Any] = set()
    for company_id in w.companies():
        page = await uow.incidents.page_by_priority(
            IncidentSearch(company_id=company_id), first=100, after=None, now=datetime.now(UTC)
        )
        out |= {i.incident.id for i in page.items}
    return out


async def _timelines(uow: UnitOfWork, w: World) -> set[Any]:
    pages = await uow.incidents.first_timelines(w.ids("incidents"), first=100)
    return {e.id for page in pages.values() for e in page.items}


async def _first_alerts(uow: UnitOfWork, w: World) -> set[Any]:
    pages = await uow.alerts.first_for_incidents(w.ids("incidents"), first=100)
    return {a.id for page in pages.values() for a in page.items}


async def _memberships(uow: UnitOfWork, w: World) -> set[Any]:
    found = await uow.users.company_ids_of(w.members)
    return {(u, c) for u, companies in found.items() for c in companies}


async def _runbook_pages(uow: UnitOfWork, w: World) -> set[Any]:
    # Each company's list holds the global library too: only the world's own rows are counted.
    out: set[Any] = set()
    for company_id in [None, *w.companies()]:
        out |= _ids((await uow.runbooks.page(company_id=company_id, first=100, after=None)).items)
    return out & set(w.ids("runbooks"))


async def _runbook_candidates(uow: UnitOfWork, w: World) -> set[Any]:
    out: set[Any] = set()
    for company_id in w.companies():
        out |= _ids(await uow.runbooks.candidates(company_id))
    return out & set(w.ids("runbooks"))


async def _runbook_versions(uow: UnitOfWork, w: World) -> set[Any]:
    found = await uow.runbooks.versions([r for r, _ in w.ids("runbook_versions")])
    return {(v.runbook_id, v.version) for versions in found.values() for v in versions}


async def _analysed(uow: UnitOfWork, w: World) -> set[Any]:
    return {a.incident_id for a in await uow.analyses.for_incidents(w.ids("incident_analyses"))}


def _executions(uow: UnitOfWork) -> ExecutionRepository:
    return ExecutionRepository(uow.session, uow.principal)


async def _execution_pages(uow: UnitOfWork, w: World) -> set[Any]:
    out: set[Any] = set()
    for company_id in [None, *w.companies()]:
        out |= _ids((await _executions(uow).page(company_id=company_id, first=100, after=None)).items)
    return out & set(w.ids("remediation_executions"))


async def _incident_executions(uow: UnitOfWork, w: World) -> set[Any]:
    found = await _executions(uow).for_incidents(w.ids("incidents"), 100)
    return {e.id for executions in found.values() for e in executions}


async def _invocations(uow: UnitOfWork, w: World) -> set[Any]:
    found = await _executions(uow).invocations(w.ids("remediation_executions"))
    return {i.execution_id for invocations in found.values() for i in invocations}


async def _llm_analysed(uow: UnitOfWork, w: World) -> set[Any]:
    return {a.incident_id for a in await uow.analyses.llm_for_incidents(w.ids("incident_llm_analyses"))}


async def _decisions(uow: UnitOfWork, w: World) -> set[Any]:
    found = await DecisionRepository(uow.session, uow.principal).for_incidents(w.ids("incident_decisions"))
    return {d.incident_id for d in found}


def _approvals(uow: UnitOfWork) -> ApprovalRepository:
    return ApprovalRepository(uow.session, uow.principal)


async def _sla_clocks(uow: UnitOfWork, w: World) -> set[Any]:
    found = await SlaClockRepository(uow.session, uow.principal).clocks(w.ids("incident_sla"))
    return {c.incident_id for c in found}


async def _oncall_details(uow: UnitOfWork, w: World, part: str) -> set[Any]:
    """One kind of child row of every schedule of the world, read with their schedules."""
    found = await uow.oncall.details(w.ids("oncall_schedules"), overrides_from=None)
    if part == "rotations":
        return {d.rotation.id for d in found.values() if d.rotation is not None}
    return {row.id for d in found.values() for row in getattr(d, part)}


async def _oncall_rotations(uow: UnitOfWork, w: World) -> set[Any]:
    out = set()
    for schedule in w.ids("oncall_schedules"):
        rotation = await uow.oncall.get_rotation(schedule)
        if rotation is not None:
            out.add(rotation.id)
    return out


async def _latest_demo_runs(uow: UnitOfWork, w: World) -> set[Any]:
    found = [await DemoRunRepository(uow.session, uow.principal).latest(c) for c in w.companies()]
    return {r.id for r in found if r is not None}


async def _kpi_companies(reader: KpiReader, w: World) -> set[Any]:
    """The companies whose hour a one-company series of each shows (the totals' company filter)."""
    found = set()
    for company_id in w.companies():
        if any(s.alerts for _, s in await reader.series([company_id], *KPI_RANGE, KpiBucket.HOUR)):
            found.add(company_id)
    return found


def raw(table: str, reader: Any) -> TenantRead:
    async def read(services: Any, principal: Principal, w: World) -> set[Any]:
        # Within every company of the world, as a subscription opened before the deletion asked.
        return _ids(await reader(services.pool, principal, w.ids(table), w.companies()))

    return TenantRead(table, "raw", read)


def kpis(table: str, read_of: Callable[[KpiReader, World], Awaitable[Any]]) -> TenantRead:
    """A read of the KPI readers (raw SQL, `kpis`/`kpisUpdated`), in the caller's KPI scope; rows are
    answered by their company."""

    async def read(services: Any, principal: Principal, w: World) -> set[Any]:
        return set(await read_of(KpiReader(services.pool, kpi_scope(principal)), w))

    return TenantRead(table, "kpis", read)


KPI_RANGE = (KPI_HOUR, KPI_HOUR + timedelta(hours=1))

READS: dict[str, TenantRead] = {
    "companies.get_many": orm("companies", lambda uow, w: uow.companies.get_many(w.ids("companies"))),
    "companies.get": orm("companies", lambda uow, w: _each(uow.companies.get, w.ids("companies"))),
    "assets.get_many": orm("assets", lambda uow, w: uow.assets.get_many(w.ids("assets"))),
    "assets.dependencies": orm("asset_dependencies", _dependencies),
    "alerts.get": orm("alerts", lambda uow, w: _each(uow.alerts.get, w.ids("alerts"))),
    "alerts.page": orm(
        "alerts",
        lambda uow, w: _pages(
            lambda c: uow.alerts.page(AlertSearch(company_id=c), first=100, after=None),
            w,
        ),
    ),
    "alerts.page (no company named)": orm("alerts", lambda uow, w: _searched(uow, w, "alerts")),
    "alerts.first_for_incidents": orm("alerts", _first_alerts),
    "alert_rows (alertReceived)": raw("alerts", alert_rows),
    "incidents.get_many": orm("incidents", lambda uow, w: uow.incidents.get_many(w.ids("incidents"))),
    "incidents.page": orm(
        "incidents",
        lambda uow, w: _pages(
            lambda c: uow.incidents.page(IncidentSearch(company_id=c), first=100, after=None),
            w,
        ),
    ),
    "incidents.page (no company named)": orm("incidents", lambda uow, w: _searched(uow, w, "incidents")),
    "incidents.page_by_priority": orm("incidents", _by_priority),
    "incidents.page_by_priority (no company named)": orm(
        "incidents", lambda uow, w: _searched(uow, w, "priority")
    ),
    "incident_rows (incidentChanged)": raw("incidents", incident_rows),
    "incidents.get_event": orm(
        "incident_events",
        lambda uow, w: _each(uow.incidents.get_event, w.ids("incident_events")),
    ),
    "incidents.first_timelines": orm("incident_events", _timelines),
    "maintenance.get": orm(
        "maintenance_windows",
        lambda uow, w: _each(uow.maintenance.get, w.ids("maintenance_windows")),
    ),
    "maintenance.page": orm(
        "maintenance_windows",
        lambda uow, w: _pages(lambda c: uow.maintenance.page(c, first=100, after=None), w),
    ),
    "signature_aliases.get": orm(
        "signature_aliases",
        lambda uow, w: _each(uow.signature_aliases.get, w.ids("signature_aliases")),
    ),
    "signature_aliases.page": orm(
        "signature_aliases",
        lambda uow, w: _pages(lambda c: uow.signature_aliases.page(c, first=100, after=None), w),
    ),
    "audit.get": orm("audit_log", lambda uow, w: _each(uow.audit.get, w.ids("audit_log"))),
    "audit.page": orm(
        "audit_log", lambda uow, w: _pages(lambda c: uow.audit.page(first=100, after=None, company_id=c), w)
    ),
    "deliveries.page": orm(
        "webhook_delivery_log",
        lambda uow, w: _pages(lambda c: uow.deliveries.page(first=100, after=None, company_id=c), w),
    ),
    "users.company_ids_of": orm("memberships", _memberships),
    "aws.get": orm("company_aws_settings", lambda uow, w: _each(uow.aws.get, w.ids("company_aws_settings"))),
    "runbooks.get": orm("runbooks", lambda uow, w: _each(uow.runbooks.get, w.ids("runbooks"))),
    "runbooks.page": orm("runbooks", _runbook_pages),
    "runbooks.candidates": orm("runbooks", _runbook_candidates),
    "runbooks.versions": orm("runbook_versions", _runbook_versions),
    "analyses.llm_for_incidents": orm(
        "incident_llm_analyses",
        lambda uow, w: _llm_analysed(uow, w),
    ),
    "analyses.for_incidents": orm(
        "incident_analyses",
        lambda uow, w: _analysed(uow, w),
    ),
    "notifications.failed_emails": orm(
        "notifications",
        lambda uow, w: _pages(
            lambda c: uow.notifications.failed_emails(
                company_id=c, unknown_company=False, first=100, after=None
            ),
            w,
        ),
    ),
    "executions.get": orm(
        "remediation_executions",
        lambda uow, w: _each(_executions(uow).get, w.ids("remediation_executions")),
    ),
    "executions.page": orm("remediation_executions", _execution_pages),
    "demo_runs.get_many": orm(
        "demo_runs", lambda uow, w: DemoRunRepository(uow.session, uow.principal).get_many(w.ids("demo_runs"))
    ),
    "demo_runs.latest": orm("demo_runs", _latest_demo_runs),
    "demo_run_rows (demoProgress)": raw("demo_runs", demo_run_rows),
    "executions.for_incidents": orm("remediation_executions", _incident_executions),
    "executions.invocations": orm("remediation_invocations", _invocations),
    "decisions.for_incidents": orm("incident_decisions", _decisions),
    "approvals.get": orm(
        "remediation_approvals", lambda uow, w: _each(_approvals(uow).get, w.ids("remediation_approvals"))
    ),
    "approvals.get_many": orm(
        "remediation_approvals", lambda uow, w: _approvals(uow).get_many(w.ids("remediation_approvals"))
    ),
    "approvals.page": orm(
        "remediation_approvals",
        lambda uow, w: _pages(lambda c: _approvals(uow).page(c, first=100, after=None), w),
    ),
    "sla.clocks (incident.sla)": orm("incident_sla", _sla_clocks),
    "kpis.by_company (kpis)": kpis("kpi_hourly", lambda r, w: r.by_company(w.companies(), *KPI_RANGE)),
    "kpis.series (kpis)": kpis(
        "kpi_hourly",
        lambda r, w: _kpi_companies(r, w),
    ),
    "kpis.resolve_buckets (kpis)": kpis(
        "kpi_daily_buckets",
        lambda r, w: r.resolve_buckets(w.companies(), KPI_DAY, KPI_DAY + timedelta(days=1)),
    ),
    "kpis.patch_figures (kpis)": kpis(
        "patch_states", lambda r, w: r.patch_figures(w.companies(), *KPI_RANGE)
    ),
    "sla.events (slaBreached)": orm(
        "sla_events",
        lambda uow, w: SlaClockRepository(uow.session, uow.principal).events(w.ids("sla_events")),
    ),
    "oncall.get": orm("oncall_schedules", lambda uow, w: _each(uow.oncall.get, w.ids("oncall_schedules"))),
    "oncall.get (locked, as writes read)": orm(
        "oncall_schedules",
        lambda uow, w: _each(lambda k: uow.oncall.get(k, lock=True), w.ids("oncall_schedules")),
    ),
    "oncall.page": orm(
        "oncall_schedules",
        lambda uow, w: _pages(lambda c: uow.oncall.page(c, unknown_company=False, first=100, after=None), w),
    ),
    "oncall.details (shifts)": orm("oncall_shifts", lambda uow, w: _oncall_details(uow, w, "shifts")),
    "oncall.get_shift": orm(
        "oncall_shifts", lambda uow, w: _each(uow.oncall.get_shift, w.ids("oncall_shifts"))
    ),
    "oncall.details (rotations)": orm(
        "oncall_rotations", lambda uow, w: _oncall_details(uow, w, "rotations")
    ),
    "oncall.get_rotation": orm("oncall_rotations", _oncall_rotations),
    "oncall.details (overrides)": orm(
        "oncall_overrides", lambda uow, w: _oncall_details(uow, w, "overrides")
    ),
    "oncall.get_override": orm(
        "oncall_overrides", lambda uow, w: _each(uow.oncall.get_override, w.ids("oncall_overrides"))
    ),
}

#: Tables with a `company_id` that no caller reads, and why.
INTERNAL: dict[str, str] = {
    "incident_changes": "the outbox: read by the reactions, which are system principals",
    "reaction_inbox": "the reactions' claims: read by the workers only",
    "webhook_deliveries": "webhook replay records: read by the ingest path of the company the API key names",
    "rate_limit_buckets": "ingest rate limits: read by the ingest path of the company the API key names",
    "correlation_quarantine": "the correlation worker's bookkeeping and /readyz (operators)",
    "llm_usage": "the LLM reaction's budget; analysisSettings reads one company's after checking company:settings",
    "llm_cache": "LLM answers by prompt content: read by the LLM reaction only",
    "kpi_dirty_hours": "the KPI rollup's marks of hours to recompute: read by the workers only",
    "patch_refreshes": "when the patch job last read a company's SSM patch states: read by the workers only",
}

#: Who may read each table beyond the plain scope: the audit log, the deliveries, the AWS settings and failed
#: notification emails need a permission technicians lack, and the audit log keeps a deleted company's entries (for MSP admins).
NEEDS_PERMISSION = {"audit_log", "webhook_delivery_log", "company_aws_settings", "notifications"}
KEEPS_DELETED = {"audit_log"}


def _principal(role: Role, *companies: uuid.UUID) -> Principal:
    return Principal(uuid7(), f"{role.value}@example.com", role, frozenset(companies))


def callers(w: World) -> dict[str, Principal]:
    a, gone = w.company["a"], w.company["gone"]
    return {
        "company admin of A": _principal(Role.COMPANY_ADMIN, a),
        "technician of A": _principal(Role.TECHNICIAN, a),
        # A principal read before the deletion (a websocket's) still lists the deleted company.
        "company admin of A and the deleted company": _principal(Role.COMPANY_ADMIN, a, gone),
        "MSP admin": SYSTEM,
    }


def expected(w: World, table: str, caller: str) -> set[Any]:
    """The rows of `table` the caller sees: A's; B's too for MSP admins; nothing of the deleted one."""
    if caller == "MSP admin":
        seen = ["a", "b", "gone"] if table in KEEPS_DELETED else ["a", "b"]
    elif caller == "technician of A" and table in NEEDS_PERMISSION:
        seen = []
    else:
        seen = ["a"]
    return set().union(*(w.rows[table][c] for c in seen))


CALLERS = ("company admin of A", "technician of A", "company admin of A and the deleted company", "MSP admin")
CASES = [(name, caller) for name in READS for caller in CALLERS]


@pytest.mark.parametrize(("name", "caller"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
async def test_every_tenant_read_answers_the_callers_scope(services, world, name, caller):
    # given companies A, B and a deleted one, each with a row in every tenant table
    read = READS[name]

    # when the caller reads all of them through this path
    seen = await read.read(services, callers(world)[caller], world)

    # then it gets exactly the rows of its scope
    assert seen == expected(world, read.table, caller)


@pytest.mark.parametrize("table", sorted({r.table for r in READS.values() if r.path == "raw"}))
async def test_raw_and_orm_reads_of_a_table_agree_for_every_caller(services, world, table):
    # given a table read both through a repository and through raw SQL
    paths = {name: r for name, r in READS.items() if r.table == table}
    assert {r.path for r in paths.values()} == {"orm", "raw"}

    for caller, principal in callers(world).items():
        # when each caller reads the table's rows through every path
        answers = {name: await r.read(services, principal, world) for name, r in paths.items()}

        # then every path answers the same rows
        assert len({frozenset(a) for a in answers.values()}) == 1, (caller, answers)


SCOPES = {
    "every company": lambda w: TenantScope(None),
    "A and the deleted company": lambda w: TenantScope(frozenset({w.company["a"], w.company["gone"]})),
    "no company": lambda w: TenantScope(frozenset()),
}


@pytest.mark.parametrize("keep_deleted", [False, True])
@pytest.mark.parametrize("scope_name", list(SCOPES))
async def test_the_clause_and_the_raw_fragment_select_the_same_rows(
    services, world, scope_name, keep_deleted
):
    # given audit entries of A, B, the deleted company and of no company, and a scope
    scope = SCOPES[scope_name](world)
    ids = [*world.ids("audit_log"), world.msp_entry]

    # when they are filtered by the scope's SQLAlchemy clause and by its raw-SQL fragment
    async with services.sessionmaker() as session:
        stmt = select(AuditEntry.id).where(
            AuditEntry.id.in_(ids), scope_clause(scope, AuditEntry.company_id, keep_deleted=keep_deleted)
        )
        by_clause = set((await session.execute(stmt)).scalars())
    fragment = scope_sql("audit_log.company_id", 2, keep_deleted=keep_deleted)
    by_fragment = {
        r["id"]
        for r in await services.pool.fetch(
            f"SELECT id FROM audit_log WHERE id = ANY($1::bigint[]) AND {fragment}", ids, scope.bind()
        )
    }

    # then both give the scope's rows: never the deleted company's, unless kept for every company
    rows_of = world.rows["audit_log"]
    want = {
        "every company": rows_of["a"]
        | rows_of["b"]
        | (rows_of["gone"] | {world.msp_entry} if keep_deleted else set()),
        "A and the deleted company": rows_of["a"],
        "no company": set(),
    }[scope_name]
    assert by_clause == by_fragment == want


def test_every_tenant_table_has_a_scoped_read_or_is_internal():
    # given every table of db.tables with a company_id column (a new one is included by itself)
    tenant_tables = {t.name for t in Base.metadata.sorted_tables if "company_id" in t.c}
    read = {r.table for r in READS.values()}

    # then each is read through a scoped path tested above, or named internal with its reason
    # (companies are scoped by their own id, not a company_id)
    assert not read & set(INTERNAL)
    assert tenant_tables == (read - {"companies"}) | set(INTERNAL)
    assert all(reason.strip() for reason in INTERNAL.values())


async def test_node_answers_null_for_another_companys_ids_and_an_msp_admin_reads_both(gql, world, factory):
    # given a company admin of A, an MSP admin, and a global ID of every node kind in A, B and the
    # deleted company
    admin = await factory.user(Role.COMPANY_ADMIN, [world.made["a"]])
    msp = await factory.user(Role.MSP_ADMIN)
    kinds = {
        "Company": "companies",
        "Asset": "assets",
        "Alert": "alerts",
        "Incident": "incidents",
        "IncidentEvent": "incident_events",
        "MaintenanceWindow": "maintenance_windows",
        "SignatureAlias": "signature_aliases",
        "AuditEntry": "audit_log",
        "Runbook": "runbooks",
        "Execution": "remediation_executions",
        "RemediationApproval": "remediation_approvals",
        "OnCallSchedule": "oncall_schedules",
        "OnCallShift": "oncall_shifts",
        "OnCallOverride": "oncall_overrides",
    }

    def of(*companies: str, kinds_: Any = None) -> set[tuple[str, Any]]:
        return {
            (kind, key)
            for kind, table in kinds.items()
            if kinds_ is None or kind in kinds_
            for c in companies
            for key in world.rows[table][c]
        }

    async def visible(token: str) -> set[tuple[str, Any]]:
        out = set()
        for kind, key in of(*COMPANIES):
            body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": gid(kind, key)}, token=token)
            assert "errors" not in body, body
            if body["data"]["node"] is not None:
                assert body["data"]["node"] == {"id": gid(kind, key)}
                out.add((kind, key))
        return out

    # when each asks node(id:) for each of them
    # then the admin reads A's and nothing of B's or the deleted company's; the MSP admin reads A's
    # and B's, and of the deleted company only its audit entries
    assert await visible(admin.token) == of("a")
    assert await visible(msp.token) == of("a", "b") | of("gone", kinds_={"AuditEntry"})
