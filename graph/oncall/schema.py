"""Root fields of the on-call area (merged into the schema's Query and Mutation)."""

from __future__ import annotations

import strawberry

from graph.core import Connection
from graph.oncall import mutations, queries
from graph.oncall.types import CalendarFeed, OnCallInterval, OnCallSchedule
from graph.platform.types import User


@strawberry.type
class OnCallQuery:
    on_call_schedules: Connection[OnCallSchedule] = strawberry.field(
        resolver=queries.on_call_schedules,
        description="On-call schedules you may see, by name: your companies' (MSP admins: every company's "
        "and the MSP-wide ones).",
    )
    on_call_schedule: OnCallSchedule | None = strawberry.field(
        resolver=queries.on_call_schedule,
        description="One schedule by global ID (null if it does not exist or is not yours).",
    )
    on_call_now: list[User] = strawberry.field(
        resolver=queries.on_call_now,
        description="The active people on call for a company now: its schedules and the MSP-wide ones "
        "covering it, overrides applied; by name (empty for a company that is not yours).",
    )
    on_call_shifts: list[OnCallInterval] = strawberry.field(
        resolver=queries.on_call_shifts,
        description="A schedule's concrete on-call intervals overlapping a range (at most 63 days), "
        "overrides applied, by start.",
    )
    calendar_feed: CalendarFeed = strawberry.field(
        resolver=queries.calendar_feed,
        description="Your iCalendar feed of on-call shifts (its URL is shown by `calendarFeedRotate`).",
    )


@strawberry.type
class OnCallMutation:
    on_call_schedule_create: mutations.OnCallSchedulePayload = strawberry.mutation(
        resolver=mutations.on_call_schedule_create,
        description="Create a schedule: company admins for their companies, MSP admins for any company or "
        "MSP-wide.",
    )
    on_call_schedule_update: mutations.OnCallSchedulePayload = strawberry.mutation(
        resolver=mutations.on_call_schedule_update,
        description="Rename a schedule, move its time zone or change the companies an MSP-wide one covers.",
    )
    on_call_schedule_delete: mutations.OnCallScheduleDeletePayload = strawberry.mutation(
        resolver=mutations.on_call_schedule_delete,
        description="Delete a schedule with its shifts, rotation and overrides.",
    )
    on_call_shift_add: mutations.OnCallShiftAddPayload = strawberry.mutation(
        resolver=mutations.on_call_shift_add,
        description="Add a weekly shift (no overlap with another shift of the same person).",
    )
    on_call_shift_remove: mutations.OnCallSchedulePayload = strawberry.mutation(
        resolver=mutations.on_call_shift_remove, description="Remove a weekly shift."
    )
    on_call_rotation_set: mutations.OnCallSchedulePayload = strawberry.mutation(
        resolver=mutations.on_call_rotation_set,
        description="Set (or, with no members, remove) the schedule's rotation.",
    )
    on_call_override_create: mutations.OnCallOverrideCreatePayload = strawberry.mutation(
        resolver=mutations.on_call_override_create,
        description="Put someone on call for a while, in place of someone in the schedule or as well.",
    )
    on_call_override_delete: mutations.OnCallSchedulePayload = strawberry.mutation(
        resolver=mutations.on_call_override_delete, description="Delete an override."
    )
    calendar_feed_rotate: mutations.CalendarFeedRotatePayload = strawberry.mutation(
        resolver=mutations.calendar_feed_rotate,
        description="Make a new secret URL for your calendar feed (shown once); the previous one stops "
        "working.",
    )
