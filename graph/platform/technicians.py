"""`technicianUpdate`: a technician's skills, time zone, maximum of open incidents, and whether they
take new ones (admins who manage them; technicians their own time zone)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graph.core import INPUT_DESCRIPTION, USER_ERRORS_DESCRIPTION, UserError, from_global_id, mutate, now
from graph.enums import Category
from graph.platform.types import User, user_type


@strawberry.input(description="Technician profile fields to change; omitted fields stay as they are.")
class TechnicianUpdateInput:
    id: strawberry.ID = strawberry.field(description="The technician's global ID.")
    skills: list[Category] | None = strawberry.field(
        default=None, description="The alert categories they handle; may be empty."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA time zone, e.g. Europe/Berlin.")
    max_concurrent_incidents: int | None = strawberry.field(
        default=None, description="Open incidents they take at most (1-100); assignment skips them at it."
    )
    assignable: bool | None = strawberry.field(
        default=None, description="Whether they take new incidents (false: on leave, training...)."
    )


@strawberry.type(description="Result of `technicianUpdate`.")
class TechnicianUpdatePayload:
    user: User | None = strawberry.field(default=None, description="The technician after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def technician_update(
    info: strawberry.Info,
    input: Annotated[TechnicianUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> TechnicianUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if input.skills is not None:
            changes["skills"] = [s.value for s in input.skills]
        if input.timezone is not None:
            changes["timezone"] = input.timezone
        if input.max_concurrent_incidents is not None:
            changes["max_concurrent_incidents"] = input.max_concurrent_incidents
        if input.assignable is not None:
            changes["assignable"] = input.assignable
        user_id = from_global_id(input.id, "User")
        row = await uow.assignments.update_technician(user_id, changes, now(info))
        return {"user": user_type(row)}

    return await mutate(info, work, TechnicianUpdatePayload)
