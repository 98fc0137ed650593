"""Root query resolvers of the on-call area."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from db import tables
from db.oncall import on_call_user_ids
from db.repositories.oncall import ONCALL_READ
from db.repositories.oncall import schedule_rule as rule_of
from domain.alerts import Category
from domain.oncall import shifts_between, validate_range
from graph.core import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, connection, require_principal
from graph.enums import Category as SkillCategory
from graph.incidents.queries import decode_id
from graph.oncall.types import (
    CalendarFeed,
    OnCallInterval,
    OnCallSchedule,
    interval_type,
    oncall_repository,
    schedule_types,
)
from graph.platform.types import User, user_type


def has_skill(user: tables.User, category: Category) -> bool:
    """Whether `user` works on `category` (the one place `onCallNow` asks it)."""
    return category.value in (user.skills or [])


async def on_call_schedules(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="Only this company's schedules (global ID), and for MSP admins the MSP-wide ones "
            "covering it; omit for every schedule you may see."
        ),
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[OnCallSchedule]:
    require_principal(info)
    company, unknown = decode_id(company_id, "Company")
    repo = await oncall_repository(info)
    page = await repo.page(company, unknown_company=unknown, first=first, after=after)
    built = {s._row.id: s for s in await schedule_types(repo, page.items, info.context.services.clock.now())}
    return connection(page, lambda row: built[row.id])


async def on_call_schedule(
    info: strawberry.Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="Schedule global ID.")],
) -> OnCallSchedule | None:
    require_principal(info)
    key, unknown = decode_id(id, "OnCallSchedule")
    if key is None or unknown:
        return None
    repo = await oncall_repository(info)
    row = await repo.get(key)
    if row is None:
        return None
    (built,) = await schedule_types(repo, [row], info.context.services.clock.now())
    return built


async def on_call_now(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")],
    category: Annotated[
        SkillCategory | None,
        strawberry.argument(
            description="Only technicians with this skill (the enum every other skill field uses)."
        ),
    ] = None,
) -> list[User]:
    require_principal(info)
    skill = Category(category.value) if category is not None else None
    company, unknown = decode_id(company_id, "Company")
    repo = await oncall_repository(info)
    if company is None or unknown or not repo.tenant_scope(ONCALL_READ).allows(company):
        return []
    async with info.context.services.pool.acquire() as conn:
        ids = await on_call_user_ids(conn, company, info.context.services.clock.now())
    users = (await repo.users(ids)).values()
    return [
        user_type(u)
        for u in sorted(users, key=lambda u: (u.name, u.id))
        if skill is None or has_skill(u, skill)
    ]


async def on_call_shifts(
    info: strawberry.Info,
    schedule_id: Annotated[strawberry.ID, strawberry.argument(description="Schedule global ID.")],
    from_: Annotated[
        datetime, strawberry.argument(name="from", description="Start of the range (with an offset).")
    ],
    to: Annotated[datetime, strawberry.argument(description="End of the range, at most 63 days later.")],
) -> list[OnCallInterval]:
    require_principal(info)
    validate_range(from_, to)
    key, unknown = decode_id(schedule_id, "OnCallSchedule")
    repo = await oncall_repository(info)
    row = None if key is None or unknown else await repo.get(key)
    if row is None:
        return []
    details = (await repo.details([row.id], overrides_from=from_, overrides_to=to))[row.id]
    intervals = shifts_between(rule_of(row, details), from_, to)
    people: set[uuid.UUID] = {i.user_id for i in intervals} | {i.covers for i in intervals if i.covers}
    users = await repo.users(people)
    return [interval_type(i, users) for i in intervals if i.user_id in users]


async def calendar_feed(info: strawberry.Info) -> CalendarFeed:
    require_principal(info)
    repo = await oncall_repository(info)
    created = await repo.calendar_feed_created_at()
    return CalendarFeed(enabled=created is not None, created_at=created)
