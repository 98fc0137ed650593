"""`incidentAssign`, `incidentReassign` (admins) and `incidentComment` (whoever works incidents)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graph.core import INPUT_DESCRIPTION, from_global_id, mutate, now
from graph.incidents.mutations import IncidentPayload
from graph.incidents.types import incident_type


@strawberry.input(description="Give an incident to a technician of its company.")
class IncidentAssignInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    user_id: strawberry.ID = strawberry.field(
        description="Global ID of an active technician of the incident's company."
    )
    note: str | None = strawberry.field(
        default=None, description="Why them, for the timeline (at most 2000 characters)."
    )


@strawberry.input(description="Add a comment to an incident's timeline.")
class IncidentCommentInput:
    id: strawberry.ID = strawberry.field(description="Incident global ID.")
    body: str = strawberry.field(description="The comment (1-4000 characters).")


async def _assign(info: strawberry.Info, input: IncidentAssignInput, reassign: bool) -> IncidentPayload:
    async def work(uow: Any) -> dict[str, Any]:
        incident_id = from_global_id(input.id, "Incident")
        user_id = from_global_id(input.user_id, "User", field="userId")
        row, _ = await uow.assignments.assign(incident_id, user_id, input.note, now(info), reassign=reassign)
        return {"incident": incident_type(row)}

    return await mutate(info, work, IncidentPayload)


async def incident_assign(
    info: strawberry.Info,
    input: Annotated[IncidentAssignInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> IncidentPayload:
    return await _assign(info, input, reassign=False)


async def incident_reassign(
    info: strawberry.Info,
    input: Annotated[IncidentAssignInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> IncidentPayload:
    return await _assign(info, input, reassign=True)


async def incident_comment(
    info: strawberry.Info,
    input: Annotated[IncidentCommentInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> IncidentPayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.assignments.comment(from_global_id(input.id, "Incident"), input.body, now(info))
        return {"incident": incident_type(row)}

    return await mutate(info, work, IncidentPayload)
