"""Demo mode: `demoStart`, `demoStop`, `demoRun` and `demoProgress` (merged into the root types).

A run plays a scenario's alerts through the real webhooks (`db.demo`, stepped by the `demo` worker
loop). Company admins of a demo company and MSP admins start and stop runs; whoever reads the company
reads its runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from db import demo as demo_db
from db.repositories.demo_runs import DemoRunRepository, demo_run_rows
from domain.demo import DemoScenario as DomainScenario
from domain.errors import DomainError, NotFound, PermissionDenied
from domain.rbac import Permission
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    from_global_id,
    mutate,
    now,
    require_principal,
    user_error,
)
from graph.demo import ensure_demo_assets
from graph.demo_mode.types import DemoRun, demo_run_type
from graph.enums import DemoErrorCode, DemoScenario
from graph.incidents.loaders import event_loaders
from graph.incidents.queries import decode_id
from graph.incidents.subscriptions import _companies, _topics
from graph.remediation.approvals import raw_connection


@strawberry.type(description="Why a demo mutation could not be applied; nothing was changed.")
class DemoError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase path), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: DemoErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.input(description="Which company plays which scenario.")
class DemoStartInput:
    company_id: strawberry.ID = strawberry.field(description="Global ID of a demo company.")
    scenario: DemoScenario = strawberry.field(description="The scenario to play.")


@strawberry.input(description="Whose demo run to stop.")
class DemoStopInput:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company.")


@strawberry.type(description="Result of `demoStart`.")
class DemoStartPayload:
    demo: DemoRun | None = strawberry.field(default=None, description="The run, RUNNING.")
    user_errors: list[DemoError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.type(description="Result of `demoStop`.")
class DemoStopPayload:
    demo: DemoRun | None = strawberry.field(default=None, description="The run, STOPPED.")
    user_errors: list[DemoError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _error(exc: DomainError) -> DemoError:
    error: DemoError = user_error(exc, DemoErrorCode, DemoError)
    return error


async def _company_to_run(uow: Any, company_id_input: str) -> Any:
    company_id = from_global_id(company_id_input, "Company", field="companyId")
    company = await uow.companies.get(company_id)
    if company is None:
        raise NotFound("company not found", field="companyId")
    if not uow.principal.can(Permission.COMPANY_SETTINGS, company_id):
        raise PermissionDenied("only the company's admins and MSP admins run demos", field="companyId")
    return company


async def demo_start(
    info: strawberry.Info,
    input: Annotated[DemoStartInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> DemoStartPayload:
    services = info.context.services

    async def work(uow: Any) -> dict[str, Any]:
        company = await _company_to_run(uow, input.company_id)
        if not company.demo:
            raise demo_db.NotDemoCompany(
                "only demo companies take demo runs (their alerts are made up and their remediations "
                "simulated): `alertwhisperer seed-demo` makes them",
                field="companyId",
            )
        await ensure_demo_assets(uow, company.id)
        conn = await raw_connection(uow)
        key = await demo_db.reusable_key(conn, company.id, services.cipher.decrypt)
        if key is None:
            # The database keeps only hashes of keys: the run gets a key of its own, and the old one
            # keeps working through the rotation's grace period.
            _, credentials = await uow.companies.rotate_api_key(company.id)
            await uow.session.flush()
            key = services.cipher.encrypt(credentials.api_key)
        run = await demo_db.start_run(
            conn,
            company_id=company.id,
            scenario=DomainScenario(input.scenario.value),
            api_key_enc=key,
            started_by=uow.principal.actor,
            now=now(info),
        )
        return {"demo": demo_run_type(run)}

    return await mutate(info, work, DemoStartPayload, _error)


async def demo_stop(
    info: strawberry.Info,
    input: Annotated[DemoStopInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> DemoStopPayload:
    async def work(uow: Any) -> dict[str, Any]:
        company = await _company_to_run(uow, input.company_id)
        conn = await raw_connection(uow)
        run = await demo_db.stop_run(conn, company.id, now(info), uow.principal.actor)
        if run is None:
            raise DomainError("the company has no demo run under way", field="companyId", code="NOT_RUNNING")
        return {"demo": demo_run_type(run)}

    return await mutate(info, work, DemoStopPayload, _error)


async def demo_run(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")],
) -> DemoRun | None:
    require_principal(info)
    key, unknown = decode_id(company_id, "Company")
    if key is None or unknown:
        return None
    uow = await info.context.read()
    if await uow.companies.get(key) is None:
        return None
    latest = await DemoRunRepository(uow.session, uow.principal).latest(key)
    return None if latest is None else demo_run_type(latest)


async def demo_progress(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")],
) -> AsyncGenerator[DemoRun, None]:
    topics = await _topics(info, company_id, demo_db.DEMO_TOPIC, Permission.COMPANY_READ)
    companies = _companies(topics)
    principal = require_principal(info)
    pool = info.context.services.pool
    async with info.context.services.bus.subscribe(topics) as sub:
        while True:
            event = await sub.queue.get()
            try:
                run_id = uuid.UUID(str(event.id))
            except ValueError:
                continue
            info.context.event_started()
            try:
                rows = await demo_run_rows(pool, principal, [run_id], companies)
                async with event_loaders(info.context) as loaders:
                    for row in rows:
                        yield demo_run_type(row, loaders)
            finally:
                await info.context.event_finished()


@strawberry.type
class DemoQuery:
    demo_run: DemoRun | None = strawberry.field(
        resolver=demo_run,
        description="The company's demo run under way, else its last one (null: none, or not your company).",
    )


@strawberry.type
class DemoMutation:
    demo_start: DemoStartPayload = strawberry.mutation(
        resolver=demo_start,
        description="Start a demo scenario on a demo company: its company admins and MSP admins. Alerts "
        "arrive through the company's real webhooks over the next minutes; remediations are simulated.",
    )
    demo_stop: DemoStopPayload = strawberry.mutation(
        resolver=demo_stop,
        description="Stop the company's demo run under way (what it sent stays: incidents go on).",
    )


@strawberry.type
class DemoSubscription:
    demo_progress: DemoRun = strawberry.subscription(  # type: ignore[assignment]
        resolver=demo_progress,
        description="The company's demo run after each step, start and stop, from whichever process ran it.",
    )
