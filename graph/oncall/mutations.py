"""On-call mutations: schedules, their shifts, rotation and overrides, and the calendar feed URL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import strawberry

from domain.errors import InvalidInput
from domain.oncall import MAX_ROTATION_DAYS, Override, Rotation, parse_clock, zone_of
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    UserError,
    from_global_id,
    mutate,
    to_global_id,
)
from graph.oncall.types import (
    OnCallOverride,
    OnCallSchedule,
    OnCallShift,
    RotationUnit,
    override_type,
    schedule_types,
    shift_type,
)
from graph.sla.types import Weekday

FEED_PATH = "/api/schedules/{token}.ics"


#: A schedule's day numbers (0 = Monday), as the domain and the tables count them.
WEEKDAY_NUMBER = {day: number for number, day in enumerate(Weekday)}


async def _built(uow: Any, info: strawberry.Info, schedule: Any) -> OnCallSchedule:
    (built,) = await schedule_types(uow.oncall, [schedule], info.context.services.clock.now())
    return built


# ---- schedules ----------------------------------------------------------------------------------


@strawberry.input(description="A new schedule: a company's own, or (MSP admins) an MSP-wide one.")
class OnCallScheduleCreateInput:
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the owning company; omit for an MSP-wide schedule."
    )
    covers: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="The companies an MSP-wide schedule covers (at least one)."
    )
    name: str = strawberry.field(description="1 to 120 characters.")
    time_zone: str = strawberry.field(description="IANA time zone, such as Europe/Berlin.")


@strawberry.type(description="Result of a mutation that changes a schedule.")
class OnCallSchedulePayload:
    schedule: OnCallSchedule | None = strawberry.field(default=None, description="The schedule as changed.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _companies(ids: list[strawberry.ID]) -> list[Any]:
    return [from_global_id(c, "Company", field="covers") for c in ids]


async def on_call_schedule_create(
    info: strawberry.Info,
    input: Annotated[OnCallScheduleCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallSchedulePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company = (
            None
            if input.company_id is None
            else from_global_id(input.company_id, "Company", field="companyId")
        )
        row = await uow.oncall.create_schedule(company, _companies(input.covers), input.name, input.time_zone)
        return {"schedule": await _built(uow, info, row)}

    return await mutate(info, work, OnCallSchedulePayload)


@strawberry.input(description="Schedule fields to change; omitted fields stay as they are.")
class OnCallScheduleUpdateInput:
    id: strawberry.ID = strawberry.field(description="Schedule global ID.")
    name: str | None = strawberry.field(default=None, description="New name.")
    time_zone: str | None = strawberry.field(
        default=None, description="New IANA time zone (shifts keep their local times)."
    )
    covers: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replacement companies covered (MSP-wide schedules only)."
    )


async def on_call_schedule_update(
    info: strawberry.Info,
    input: Annotated[OnCallScheduleUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallSchedulePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.oncall.update_schedule(
            from_global_id(input.id, "OnCallSchedule"),
            name=input.name,
            timezone=input.time_zone,
            covers=None if input.covers is None else _companies(input.covers),
        )
        return {"schedule": await _built(uow, info, row)}

    return await mutate(info, work, OnCallSchedulePayload)


@strawberry.input(description="Which schedule to delete (with its shifts, rotation and overrides).")
class OnCallScheduleDeleteInput:
    id: strawberry.ID = strawberry.field(description="Schedule global ID.")


@strawberry.type(description="Result of `onCallScheduleDelete`.")
class OnCallScheduleDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The deleted schedule's ID."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def on_call_schedule_delete(
    info: strawberry.Info,
    input: Annotated[OnCallScheduleDeleteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallScheduleDeletePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.oncall.delete_schedule(from_global_id(input.id, "OnCallSchedule"))
        return {"deleted_id": to_global_id("OnCallSchedule", row.id)}

    return await mutate(info, work, OnCallScheduleDeletePayload)


# ---- shifts -------------------------------------------------------------------------------------


@strawberry.input(description="A weekly shift to add.")
class OnCallShiftAddInput:
    schedule_id: strawberry.ID = strawberry.field(description="Schedule global ID.")
    user_id: strawberry.ID = strawberry.field(
        description="Who is on call: an active member of the schedule's company, or an MSP admin."
    )
    weekday: Weekday = strawberry.field(description="The day it starts.")
    start_time: str = strawberry.field(description="Start, HH:MM local.")
    end_time: str = strawberry.field(
        description="End, HH:MM local; at or before the start: the next day (00:00 or 24:00: midnight)."
    )


@strawberry.type(description="Result of `onCallShiftAdd`.")
class OnCallShiftAddPayload:
    shift: OnCallShift | None = strawberry.field(default=None, description="The new shift.")
    schedule: OnCallSchedule | None = strawberry.field(default=None, description="The schedule as changed.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def on_call_shift_add(
    info: strawberry.Info,
    input: Annotated[OnCallShiftAddInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallShiftAddPayload:
    async def work(uow: Any) -> dict[str, Any]:
        schedule_id = from_global_id(input.schedule_id, "OnCallSchedule", field="scheduleId")
        user_id = from_global_id(input.user_id, "User", field="userId")
        start = parse_clock(input.start_time, "startTime")
        end = parse_clock(input.end_time, "endTime", end=True)
        schedule, row = await uow.oncall.add_shift(
            schedule_id, user_id, WEEKDAY_NUMBER[input.weekday], start, end
        )
        built = await _built(uow, info, schedule)
        users = {row.user_id: (await uow.oncall.users({row.user_id}))[row.user_id]}
        return {"shift": shift_type(row, users), "schedule": built}

    return await mutate(info, work, OnCallShiftAddPayload)


@strawberry.input(description="Which shift to remove.")
class OnCallShiftRemoveInput:
    id: strawberry.ID = strawberry.field(description="Shift global ID.")


async def on_call_shift_remove(
    info: strawberry.Info,
    input: Annotated[OnCallShiftRemoveInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallSchedulePayload:
    async def work(uow: Any) -> dict[str, Any]:
        schedule = await uow.oncall.remove_shift(from_global_id(input.id, "OnCallShift"))
        return {"schedule": await _built(uow, info, schedule)}

    return await mutate(info, work, OnCallSchedulePayload)


# ---- the rotation -------------------------------------------------------------------------------


@strawberry.input(description="The schedule's rotation, replacing any it has; no members removes it.")
class OnCallRotationSetInput:
    schedule_id: strawberry.ID = strawberry.field(description="Schedule global ID.")
    members: list[strawberry.ID] = strawberry.field(
        description="User global IDs in turn order (at most 50, each once); empty: no rotation."
    )
    handover_weekday: Weekday = strawberry.field(default=Weekday.MONDAY, description="Weekday of handovers.")
    handover_time: str = strawberry.field(default="09:00", description="Time of handovers, HH:MM local.")
    length: int = strawberry.field(default=1, description="How long one turn lasts, in `unit`s.")
    unit: RotationUnit = strawberry.field(default=RotationUnit.WEEKS, description="The unit of `length`.")
    start_date: date | None = strawberry.field(
        default=None,
        description="The first handover is the first `handoverWeekday` on or after this date; omit for "
        "today (in the schedule's time zone).",
    )


async def on_call_rotation_set(
    info: strawberry.Info,
    input: Annotated[OnCallRotationSetInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallSchedulePayload:
    async def work(uow: Any) -> dict[str, Any]:
        schedule_id = from_global_id(input.schedule_id, "OnCallSchedule", field="scheduleId")
        rotation = None
        if input.members:
            members = tuple(from_global_id(m, "User", field="members") for m in input.members)
            days = input.length * (7 if input.unit is RotationUnit.WEEKS else 1)
            if not 1 <= input.length or days > MAX_ROTATION_DAYS:
                raise InvalidInput(f"a turn lasts 1 day to {MAX_ROTATION_DAYS // 7} weeks", field="length")
            start = input.start_date
            if start is None:
                schedule = await uow.oncall.get(schedule_id)
                zone = zone_of(schedule.timezone) if schedule is not None else UTC
                start = info.context.services.clock.now().astimezone(zone).date()
            rotation = Rotation(
                members,
                WEEKDAY_NUMBER[input.handover_weekday],
                parse_clock(input.handover_time, "handoverTime"),
                days,
                start,
            )
        schedule = await uow.oncall.set_rotation(schedule_id, rotation)
        return {"schedule": await _built(uow, info, schedule)}

    return await mutate(info, work, OnCallSchedulePayload)


# ---- overrides ----------------------------------------------------------------------------------


@strawberry.input(description='A one-off override: "Dana covers Sam on 24 Dec 18:00-08:00".')
class OnCallOverrideCreateInput:
    schedule_id: strawberry.ID = strawberry.field(description="Schedule global ID.")
    user_id: strawberry.ID = strawberry.field(description="Who is on call (User global ID).")
    covers_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose shifts and turns give way (someone in the schedule); omit: nobody's."
    )
    starts_at: datetime = strawberry.field(description="Start, with an offset.")
    ends_at: datetime = strawberry.field(description="End, with an offset: after the start, within 62 days.")


@strawberry.type(description="Result of `onCallOverrideCreate`.")
class OnCallOverrideCreatePayload:
    override: OnCallOverride | None = strawberry.field(default=None, description="The new override.")
    schedule: OnCallSchedule | None = strawberry.field(default=None, description="The schedule as changed.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def on_call_override_create(
    info: strawberry.Info,
    input: Annotated[OnCallOverrideCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallOverrideCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        schedule_id = from_global_id(input.schedule_id, "OnCallSchedule", field="scheduleId")
        override = Override(
            from_global_id(input.user_id, "User", field="userId"),
            input.starts_at,
            input.ends_at,
            covers=None
            if input.covers_user_id is None
            else from_global_id(input.covers_user_id, "User", field="coversUserId"),
        )
        schedule, row = await uow.oncall.create_override(schedule_id, override)
        people = {row.user_id} | ({row.covers_user_id} if row.covers_user_id else set())
        return {
            "override": override_type(row, await uow.oncall.users(people)),
            "schedule": await _built(uow, info, schedule),
        }

    return await mutate(info, work, OnCallOverrideCreatePayload)


@strawberry.input(description="Which override to delete.")
class OnCallOverrideDeleteInput:
    id: strawberry.ID = strawberry.field(description="Override global ID.")


async def on_call_override_delete(
    info: strawberry.Info,
    input: Annotated[OnCallOverrideDeleteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> OnCallSchedulePayload:
    async def work(uow: Any) -> dict[str, Any]:
        schedule = await uow.oncall.delete_override(from_global_id(input.id, "OnCallOverride"))
        return {"schedule": await _built(uow, info, schedule)}

    return await mutate(info, work, OnCallSchedulePayload)


# ---- the calendar feed --------------------------------------------------------------------------


@strawberry.type(description="Result of `calendarFeedRotate`.")
class CalendarFeedRotatePayload:
    url: str | None = strawberry.field(
        default=None,
        description="Your new secret feed URL, shown only now (subscribe to it in your calendar); the "
        "previous one stops working.",
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def calendar_feed_rotate(info: strawberry.Info) -> CalendarFeedRotatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        token = await uow.oncall.rotate_calendar_token()
        return {"url": feed_url(info, token)}

    return await mutate(info, work, CalendarFeedRotatePayload)


def feed_url(info: strawberry.Info, token: str) -> str:
    path = FEED_PATH.format(token=token)
    base = getattr(info.context.services.settings, "public_url", None)
    if base:
        return str(base).rstrip("/") + path
    request = info.context.request
    return str(request.base_url).rstrip("/") + path if request is not None else path
