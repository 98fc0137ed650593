"""On-call schedules and their shifts, rotation and overrides; the calendar feed's secret.

Who sees what: a company's schedules are read by everyone who may read the company (technicians
too) and written by its admins and MSP admins. MSP-wide schedules (no company; `covers` lists the
companies) are read and written by MSP admins only: a company's people see their effect in
`onCallNow` and in their own calendar feeds, never the schedule itself (it names other companies).

Every change locks its schedule (`FOR UPDATE`), validates the whole schedule as it would be after
the change (`domain.oncall`) and is audited; a refused change writes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.pagination import Page, paginate
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.scope import scope_clause
from db.tables import Company, Membership, OnCallOverride, OnCallRotation, OnCallSchedule, OnCallShift, User
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.ids import uuid7
from domain.oncall import (
    NAME_MAX,
    Override,
    Rotation,
    Schedule,
    WeeklyShift,
    validate_override,
    validate_schedule,
    zone_of,
)
from domain.rbac import Permission, Principal

#: Who may change a company's on-call schedules: its admins (and MSP admins, for every company).
ONCALL_MANAGE = Permission.COMPANY_SETTINGS
ONCALL_READ = Permission.COMPANY_READ
MAX_COVERS = 500
CALENDAR_TOKEN_PREFIX = "cal_"


def calendar_token_hash(token: str) -> str:
    """Feed secrets are high-entropy, so a plain SHA-256 is enough (as for API keys)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class ScheduleDetails:
    """A schedule's rows beside it: shifts, rotation (at most one) and overrides."""

    shifts: list[OnCallShift] = field(default_factory=list)
    rotation: OnCallRotation | None = None
    overrides: list[OnCallOverride] = field(default_factory=list)


def shift_rule(row: OnCallShift) -> WeeklyShift:
    return WeeklyShift(row.user_id, row.weekday, row.start_minute, row.end_minute, id=row.id)


def rotation_rule(row: OnCallRotation) -> Rotation:
    return Rotation(
        tuple(row.members), row.handover_weekday, row.handover_minute, row.length_days, row.start_date
    )


def override_rule(row: OnCallOverride) -> Override:
    return Override(row.user_id, row.starts_at, row.ends_at, covers=row.covers_user_id, id=row.id)


def schedule_rule(schedule: OnCallSchedule, details: ScheduleDetails) -> Schedule:
    return Schedule(
        id=schedule.id,
        timezone=schedule.timezone,
        shifts=tuple(shift_rule(s) for s in details.shifts),
        rotations=(rotation_rule(details.rotation),) if details.rotation is not None else (),
        overrides=tuple(override_rule(o) for o in details.overrides),
    )


def _snapshot(schedule: OnCallSchedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "timezone": schedule.timezone,
        "covers": [str(c) for c in schedule.covers or []],
    }


class OnCallRepository(ScopedRepository):
    def __init__(self, session: AsyncSession, principal: Principal | None, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    # ---- reads ----------------------------------------------------------------------------------

    def _visible(self, column: Any) -> ColumnElement[bool]:
        """A company's rows for those who may read it; MSP-wide rows (no company) for MSP admins."""
        principal = self._principal()
        own = scope_clause(self.tenant_scope(ONCALL_READ), column)
        msp_wide = principal.all_companies and principal.can(ONCALL_READ)
        return or_(own, column.is_(None)) if msp_wide else own

    def _readable(self) -> Select[OnCallSchedule]:
        return select(OnCallSchedule).where(self._visible(OnCallSchedule.company_id))

    async def get(self, schedule_id: uuid.UUID, *, lock: bool = False) -> OnCallSchedule | None:
        stmt = self._readable().where(OnCallSchedule.id == schedule_id)
        if lock:
            stmt = stmt.with_for_update(of=OnCallSchedule)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self, company_id: uuid.UUID | None, *, unknown_company: bool, first: int | None, after: str | None
    ) -> Page[OnCallSchedule]:
        """By name. With a company: its own schedules, and (MSP admins) the MSP-wide ones covering it."""
        stmt = self._readable()
        if unknown_company or (
            company_id is not None and not self.tenant_scope(ONCALL_READ).allows(company_id)
        ):
            stmt = stmt.where(false())
        elif company_id is not None:
            stmt = stmt.where(
                or_(
                    OnCallSchedule.company_id == company_id,
                    and_(OnCallSchedule.company_id.is_(None), OnCallSchedule.covers.contains([company_id])),
                )
            )
        return await paginate(
            self.session,
            stmt,
            [OnCallSchedule.name, OnCallSchedule.id],
            first=first,
            after=after,
            descending=False,
        )

    async def details(
        self,
        schedule_ids: list[uuid.UUID],
        *,
        overrides_from: datetime | None,
        overrides_to: datetime | None = None,
    ) -> dict[uuid.UUID, ScheduleDetails]:
        """The rows of readable schedules (three statements for any number): overrides ending after
        `overrides_from` and starting before `overrides_to` (None: no bound)."""
        out = {i: ScheduleDetails() for i in schedule_ids}
        if not schedule_ids:
            return out
        scoped = self._visible
        shifts = select(OnCallShift).where(
            OnCallShift.schedule_id.in_(schedule_ids), scoped(OnCallShift.company_id)
        )
        for shift in (
            await self.session.execute(
                shifts.order_by(OnCallShift.weekday, OnCallShift.start_minute, OnCallShift.id)
            )
        ).scalars():
            out[shift.schedule_id].shifts.append(shift)
        rotations = select(OnCallRotation).where(
            OnCallRotation.schedule_id.in_(schedule_ids), scoped(OnCallRotation.company_id)
        )
        for rotation in (await self.session.execute(rotations)).scalars():
            out[rotation.schedule_id].rotation = rotation
        overrides = select(OnCallOverride).where(
            OnCallOverride.schedule_id.in_(schedule_ids),
            scoped(OnCallOverride.company_id),
            OnCallOverride.ends_at > overrides_from if overrides_from is not None else true(),
            OnCallOverride.starts_at < overrides_to if overrides_to is not None else true(),
        )
        for override in (
            await self.session.execute(overrides.order_by(OnCallOverride.starts_at, OnCallOverride.id))
        ).scalars():
            out[override.schedule_id].overrides.append(override)
        return out

    async def get_shift(self, shift_id: uuid.UUID) -> OnCallShift | None:
        stmt = select(OnCallShift).where(OnCallShift.id == shift_id, self._visible(OnCallShift.company_id))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_rotation(self, schedule_id: uuid.UUID) -> OnCallRotation | None:
        stmt = select(OnCallRotation).where(
            OnCallRotation.schedule_id == schedule_id, self._visible(OnCallRotation.company_id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_override(self, override_id: uuid.UUID) -> OnCallOverride | None:
        stmt = select(OnCallOverride).where(
            OnCallOverride.id == override_id, self._visible(OnCallOverride.company_id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def users(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
        """The people a readable schedule names (checked when they were put in it), by id."""
        if not user_ids:
            return {}
        rows = await self.session.execute(select(User).where(User.id.in_(sorted(user_ids))))
        return {u.id: u for u in rows.scalars()}

    # ---- writes ---------------------------------------------------------------------------------

    def _require_write(self, company_id: uuid.UUID | None) -> None:
        principal = self._principal()
        if company_id is None:
            if not (principal.all_companies and principal.can(ONCALL_MANAGE)):
                raise PermissionDenied("only MSP admins manage MSP-wide schedules")
            return
        self.require(ONCALL_MANAGE, company_id, what="on-call schedule")

    async def _live_companies(self, ids: list[uuid.UUID], field_name: str) -> None:
        found = set(
            (
                await self.session.execute(
                    select(Company.id).where(Company.id.in_(ids), Company.deleted_at.is_(None))
                )
            ).scalars()
        )
        if set(ids) - found:
            raise NotFound("company not found", field=field_name)

    async def _writable(
        self, schedule_id: uuid.UUID, field_name: str = "scheduleId"
    ) -> tuple[OnCallSchedule, ScheduleDetails]:
        """The schedule, locked against concurrent changes, with its rows, or NotFound/PermissionDenied
        (on `field_name`: the input field that named the schedule)."""
        schedule = await self.get(schedule_id, lock=True)
        if schedule is None:
            raise NotFound("on-call schedule not found", field=field_name)
        self._require_write(schedule.company_id)
        details = (await self.details([schedule.id], overrides_from=None))[schedule.id]
        return schedule, details

    async def _check_people(
        self, schedule: OnCallSchedule, user_ids: list[uuid.UUID], field_name: str
    ) -> None:
        """Everyone named may work for the schedule: an active user who is a member of its company
        (of a company it covers, for MSP-wide ones) or an MSP admin."""
        companies = [schedule.company_id] if schedule.company_id is not None else list(schedule.covers)
        member = select(Membership.user_id).where(
            Membership.user_id == User.id, Membership.company_id.in_(companies)
        )
        rows = await self.session.execute(
            select(User.id, User.is_active).where(
                User.id.in_(user_ids), or_(User.role == "msp_admin", member.exists())
            )
        )
        found = {r.id: r.is_active for r in rows}
        for user_id in user_ids:
            if user_id not in found:
                raise NotFound("user not found", field=field_name)
            if not found[user_id]:
                raise InvalidInput("this person is deactivated", field=field_name)

    async def _touch(self, schedule: OnCallSchedule, action: str, after: dict[str, Any]) -> None:
        await self.session.execute(
            update(OnCallSchedule).where(OnCallSchedule.id == schedule.id).values(updated_at=func.now())
        )
        await self.session.refresh(schedule)
        await self.audit.record(
            action, "oncall_schedule", schedule.id, company_id=schedule.company_id, after=after
        )

    async def create_schedule(
        self, company_id: uuid.UUID | None, covers: list[uuid.UUID], name: str, timezone: str
    ) -> OnCallSchedule:
        self._require_write(company_id)
        if company_id is not None:
            if covers:
                raise InvalidInput("only MSP-wide schedules (no company) cover companies", field="covers")
            await self._live_companies([company_id], "companyId")
        else:
            covers = list(dict.fromkeys(covers))
            if not covers:
                raise InvalidInput("an MSP-wide schedule covers at least one company", field="covers")
            if len(covers) > MAX_COVERS:
                raise InvalidInput(f"at most {MAX_COVERS} companies", field="covers")
            await self._live_companies(covers, "covers")
        row = OnCallSchedule(
            id=uuid7(),
            company_id=company_id,
            covers=covers if company_id is None else [],
            name=_name(name),
            timezone=_zone(timezone),
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        await self.audit.record(
            "oncall_schedule.create", "oncall_schedule", row.id, company_id=company_id, after=_snapshot(row)
        )
        return row

    async def update_schedule(
        self,
        schedule_id: uuid.UUID,
        *,
        name: str | None = None,
        timezone: str | None = None,
        covers: list[uuid.UUID] | None = None,
    ) -> OnCallSchedule:
        schedule, details = await self._writable(schedule_id, "id")
        before = _snapshot(schedule)
        if name is not None:
            schedule.name = _name(name)
        if timezone is not None:
            schedule.timezone = _zone(timezone)
        if covers is not None:
            if schedule.company_id is not None:
                raise InvalidInput("only MSP-wide schedules (no company) cover companies", field="covers")
            covers = list(dict.fromkeys(covers))
            if not covers:
                raise InvalidInput("an MSP-wide schedule covers at least one company", field="covers")
            if len(covers) > MAX_COVERS:
                raise InvalidInput(f"at most {MAX_COVERS} companies", field="covers")
            await self._live_companies(covers, "covers")
            schedule.covers = covers
        validate_schedule(schedule_rule(schedule, details))
        schedule.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(schedule)
        await self.audit.record(
            "oncall_schedule.update",
            "oncall_schedule",
            schedule.id,
            company_id=schedule.company_id,
            before=before,
            after=_snapshot(schedule),
        )
        return schedule

    async def delete_schedule(self, schedule_id: uuid.UUID) -> OnCallSchedule:
        schedule, _ = await self._writable(schedule_id, "id")
        before = _snapshot(schedule)
        await self.session.execute(delete(OnCallSchedule).where(OnCallSchedule.id == schedule.id))
        await self.audit.record(
            "oncall_schedule.delete",
            "oncall_schedule",
            schedule.id,
            company_id=schedule.company_id,
            before=before,
        )
        return schedule

    async def add_shift(
        self, schedule_id: uuid.UUID, user_id: uuid.UUID, weekday: int, start_minute: int, end_minute: int
    ) -> tuple[OnCallSchedule, OnCallShift]:
        schedule, details = await self._writable(schedule_id)
        await self._check_people(schedule, [user_id], "userId")
        row = OnCallShift(
            id=uuid7(),
            schedule_id=schedule.id,
            company_id=schedule.company_id,
            user_id=user_id,
            weekday=weekday,
            start_minute=start_minute,
            end_minute=end_minute,
        )
        details.shifts.append(row)
        validate_schedule(schedule_rule(schedule, details))
        self.session.add(row)
        await self.session.flush()
        await self._touch(schedule, "oncall_shift.add", _shift_snapshot(row))
        return schedule, row

    async def remove_shift(self, shift_id: uuid.UUID) -> OnCallSchedule:
        shift = await self.get_shift(shift_id)
        if shift is None:
            raise NotFound("shift not found", field="id")
        schedule, _ = await self._writable(shift.schedule_id)
        await self.session.execute(delete(OnCallShift).where(OnCallShift.id == shift.id))
        await self._touch(schedule, "oncall_shift.remove", _shift_snapshot(shift))
        return schedule

    async def set_rotation(self, schedule_id: uuid.UUID, rotation: Rotation | None) -> OnCallSchedule:
        """Replace the schedule's rotation (None: remove it)."""
        schedule, details = await self._writable(schedule_id)
        await self.session.execute(delete(OnCallRotation).where(OnCallRotation.schedule_id == schedule.id))
        details.rotation = None
        after: dict[str, Any] = {"rotation": None}
        if rotation is not None:
            details.rotation = OnCallRotation(
                id=uuid7(),
                schedule_id=schedule.id,
                company_id=schedule.company_id,
                members=list(rotation.members),
                handover_weekday=rotation.handover_weekday,
                handover_minute=rotation.handover_minute,
                length_days=rotation.length_days,
                start_date=rotation.start_date,
            )
            validate_schedule(schedule_rule(schedule, details))
            await self._check_people(schedule, list(rotation.members), "members")
            self.session.add(details.rotation)
            await self.session.flush()
            after = {
                "rotation": {
                    "members": [str(m) for m in rotation.members],
                    "handover_weekday": rotation.handover_weekday,
                    "handover_minute": rotation.handover_minute,
                    "length_days": rotation.length_days,
                    "start_date": rotation.start_date.isoformat(),
                }
            }
        await self._touch(schedule, "oncall_rotation.set", after)
        return schedule

    async def create_override(
        self, schedule_id: uuid.UUID, override: Override
    ) -> tuple[OnCallSchedule, OnCallOverride]:
        schedule, details = await self._writable(schedule_id)
        validate_override(schedule_rule(schedule, details), override)
        await self._check_people(schedule, [override.user_id], "userId")
        principal = self._principal()
        row = OnCallOverride(
            id=uuid7(),
            schedule_id=schedule.id,
            company_id=schedule.company_id,
            user_id=override.user_id,
            covers_user_id=override.covers,
            starts_at=override.starts_at,
            ends_at=override.ends_at,
            created_by=None if principal.is_system else principal.user_id,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        await self._touch(schedule, "oncall_override.create", _override_snapshot(row))
        return schedule, row

    async def delete_override(self, override_id: uuid.UUID) -> OnCallSchedule:
        override = await self.get_override(override_id)
        if override is None:
            raise NotFound("override not found", field="id")
        schedule, _ = await self._writable(override.schedule_id)
        await self.session.execute(delete(OnCallOverride).where(OnCallOverride.id == override.id))
        await self._touch(schedule, "oncall_override.delete", _override_snapshot(override))
        return schedule

    # ---- the signed-in user's calendar feed ----------------------------------------------------

    async def calendar_feed_created_at(self) -> datetime | None:
        """When the caller's current feed secret was made (None: the caller has no feed)."""
        principal = self._principal()
        stmt = select(User.calendar_token_created_at).where(
            User.id == principal.user_id, User.calendar_token_hash.is_not(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def rotate_calendar_token(self) -> str:
        """A new feed secret for the caller (the old URL stops working at once); shown only now."""
        principal = self._principal()
        if principal.is_system:
            raise PermissionDenied("only people have calendar feeds")
        token = CALENDAR_TOKEN_PREFIX + secrets.token_urlsafe(32)
        result = await self.session.execute(
            update(User)
            .where(User.id == principal.user_id, User.is_active)
            .values(calendar_token_hash=calendar_token_hash(token), calendar_token_created_at=func.now())
        )
        if not getattr(result, "rowcount", 0):
            raise NotFound("user not found", field="id")
        await self.audit.record("user.calendar_feed_rotate", "user", principal.user_id, company_id=None)
        return token


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"must be 1 to {NAME_MAX} characters", field="name")
    return name


def _zone(name: str) -> str:
    zone_of(name)
    return name


def _shift_snapshot(row: OnCallShift) -> dict[str, Any]:
    return {
        "shift_id": str(row.id),
        "user_id": str(row.user_id),
        "weekday": row.weekday,
        "start_minute": row.start_minute,
        "end_minute": row.end_minute,
    }


def _override_snapshot(row: OnCallOverride) -> dict[str, Any]:
    return {
        "override_id": str(row.id),
        "user_id": str(row.user_id),
        "covers_user_id": str(row.covers_user_id) if row.covers_user_id else None,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
    }
