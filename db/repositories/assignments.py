"""People's work on incidents beyond status changes: assigning and reassigning (admins), commenting
(whoever works incidents), and technicians' profiles (skills, time zone, maximum, taking new ones).

Assignment goes through the one assignment writer (`db.assignment.assign_to`) on the unit of work's
connection, so a hand-made choice is written, announced and notified exactly as an automatic one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from db.assignment import Assigned, assign_to
from db.incident_writer import add_timeline, announce
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.repositories.incidents import check_note
from db.tables import Incident, Membership, User
from domain.assignment import check_max_concurrent, check_skills, check_timezone
from domain.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from domain.incidents import IncidentEventKind, IncidentStatus
from domain.rbac import Permission, Role, may_manage_user

COMMENT_MAX = 4000


class AssignmentRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def _raw(self) -> Any:
        raw = await (await self.session.connection()).get_raw_connection()
        return raw.driver_connection

    async def _incident(self, incident_id: uuid.UUID, permission: Permission) -> Incident:
        stmt = self.scope(select(Incident), Incident.company_id).where(Incident.id == incident_id)
        incident: Incident | None = (await self.session.execute(stmt.with_for_update())).scalar_one_or_none()
        if incident is None:
            raise NotFound("incident not found", field="id")
        self.require(permission, incident.company_id, what="incident")
        return incident

    async def assign(
        self, incident_id: uuid.UUID, user_id: uuid.UUID, note: str | None, now: datetime, *, reassign: bool
    ) -> tuple[Incident, Assigned]:
        note = check_note(note)
        incident = await self._incident(incident_id, Permission.INCIDENT_ASSIGN)
        if incident.status == IncidentStatus.RESOLVED.value:
            raise InvalidTransition("a resolved incident needs nobody; reopen it first", field="id")
        if reassign and incident.assigned_to is None:
            raise InvalidTransition("the incident is not assigned yet: use incidentAssign", field="id")
        if not reassign and incident.assigned_to is not None:
            raise Conflict("the incident is already assigned: use incidentReassign", field="id")
        if incident.assigned_to == user_id:
            raise Conflict("the incident is already assigned to them", field="userId")
        technician = await self._technician_of(user_id, incident.company_id)
        principal = self._principal()
        previous = incident.assigned_to
        assigned = await assign_to(
            await self._raw(),
            incident_id,
            technician.id,
            technician.name,
            now,
            principal.actor,
            None if principal.is_system else principal.user_id,
            note,
        )
        await self.audit.record(
            "incident.reassign" if reassign else "incident.assign",
            "incident",
            incident_id,
            company_id=incident.company_id,
            before={"assigned_to": str(previous) if previous else None},
            after={"assigned_to": str(technician.id), "note": note},
        )
        refreshed = await self.session.get(Incident, incident_id, populate_existing=True)
        assert refreshed is not None
        return refreshed, assigned

    async def _technician_of(self, user_id: uuid.UUID, company_id: uuid.UUID) -> User:
        user = await self.session.get(User, user_id)
        member = await self.session.scalar(
            select(Membership.user_id).where(
                Membership.user_id == user_id, Membership.company_id == company_id
            )
        )
        if user is None or member is None:
            raise InvalidInput("is not a technician of this incident's company", field="userId")
        if user.role != Role.TECHNICIAN.value:
            raise InvalidInput("is not a technician: incidents are assigned to technicians", field="userId")
        if not user.is_active:
            raise InvalidInput("is deactivated", field="userId")
        if not user.assignable:
            raise InvalidInput("is not taking incidents (not assignable)", field="userId")
        return user

    async def comment(self, incident_id: uuid.UUID, body: str, now: datetime) -> Incident:
        body = (body or "").strip()
        if not body:
            raise InvalidInput("must not be empty", field="body")
        if len(body) > COMMENT_MAX:
            raise InvalidInput(f"must be at most {COMMENT_MAX} characters", field="body")
        incident = await self._incident(incident_id, Permission.INCIDENT_WORK)
        principal = self._principal()
        conn = await self._raw()
        await add_timeline(
            conn,
            incident.company_id,
            incident_id,
            IncidentEventKind.COMMENT,
            now,
            {"body": body} if not principal.is_system else {"body": body, "actor": principal.actor},
            actor_id=None if principal.is_system else principal.user_id,
        )
        await announce(conn, incident.company_id, incident_id)
        await self.audit.record(
            "incident.comment", "incident", incident_id, company_id=incident.company_id, after={"body": body}
        )
        return incident

    # ---- technician profiles --------------------------------------------------------------------

    async def update_technician(self, user_id: uuid.UUID, changes: dict[str, Any], now: datetime) -> User:
        """Change a technician's profile. Admins who manage the technician (as for `userDeactivate`)
        change anything; technicians change their own time zone only."""
        principal = self._principal()
        user = await self.session.get(User, user_id, with_for_update=True)
        companies = list(
            (
                await self.session.execute(select(Membership.company_id).where(Membership.user_id == user_id))
            ).scalars()
        )
        if user is None or not (principal.all_companies or any(principal.can_see(c) for c in companies)):
            raise NotFound("user not found", field="id")
        if user.role != Role.TECHNICIAN.value:
            raise InvalidInput("is not a technician", field="id")
        own = principal.user_id == user_id
        managed = may_manage_user(principal, Role.TECHNICIAN, companies) and all(
            principal.can(Permission.TECHNICIAN_MANAGE, c) for c in companies
        )
        if not managed and not (own and set(changes) <= {"timezone"}):
            raise PermissionDenied(
                "only the technician's admins change skills, maximum and availability; technicians their time zone"
            )
        checked: dict[str, Any] = {}
        if "skills" in changes:
            checked["skills"] = check_skills(changes["skills"])
        if "timezone" in changes:
            checked["timezone"] = check_timezone(changes["timezone"])
        if "max_concurrent_incidents" in changes:
            checked["max_concurrent_incidents"] = check_max_concurrent(changes["max_concurrent_incidents"])
        if "assignable" in changes:
            checked["assignable"] = bool(changes["assignable"])
        before = {k: getattr(user, k) for k in checked}
        for key, value in checked.items():
            setattr(user, key, value)
        if "skills" in checked:
            # The deprecated single category follows the first skill, for clients still reading it.
            user.category = checked["skills"][0] if checked["skills"] else None
        user.updated_at = now
        await self.session.flush()
        targets: list[uuid.UUID | None] = list(companies) or [None]
        for company_id in targets:
            await self.audit.record(
                "technician.update", "user", user.id, company_id=company_id, before=before, after=checked
            )
        return user
