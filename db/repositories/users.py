"""Users, memberships and sign-in throttling."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, false, func, insert, select
from sqlalchemy.exc import IntegrityError

from db.pagination import Page, paginate
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, LoginFailure, Membership, User
from domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.ids import uuid7
from domain.rbac import Permission, Principal, Role, permission_to_create

THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


def user_snapshot(user: User, company_ids: list[uuid.UUID] | None = None) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "category": user.category,
        "on_call": user.on_call,
        "is_active": user.is_active,
    }
    if company_ids is not None:
        snap["company_ids"] = sorted(str(c) for c in company_ids)
    return snap


async def load_principal(session: Any, user_id: uuid.UUID) -> Principal | None:
    """The principal for a verified token's subject (None when the user is gone or inactive)."""
    row = (
        await session.execute(
            select(
                User.id, User.email, User.role, func.array_remove(func.array_agg(Membership.company_id), None)
            )
            .outerjoin(Membership, Membership.user_id == User.id)
            .where(User.id == user_id, User.is_active)
            .group_by(User.id)
        )
    ).one_or_none()
    if row is None:
        return None
    return Principal(user_id=row[0], email=row[1], role=Role(row[2]), company_ids=frozenset(row[3] or ()))


class LoginThrottle:
    """After 5 failures for one email within 15 minutes, sign-ins for it are refused until the window passes."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def blocked(self, email: str) -> bool:
        stmt = select(func.count()).where(
            LoginFailure.email == email.lower(), LoginFailure.at > func.now() - THROTTLE_WINDOW
        )
        return int((await self.session.execute(stmt)).scalar_one()) >= THROTTLE_FAILURES

    async def record_failure(self, email: str) -> None:
        await self.session.execute(insert(LoginFailure).values(email=email.lower()))

    async def clear(self, email: str) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.email == email.lower()))


class UserRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(func.lower(User.email) == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_id_unscoped(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    def _visible(self) -> Any:
        """Users the caller may read: everyone for MSP admins; else users sharing one of its companies."""
        principal = self._principal()
        stmt = select(User)
        if not self.tenant_scope().every_company:
            shared = self.scope(select(Membership.user_id), Membership.company_id)
            stmt = stmt.where(User.id.in_(shared) | (User.id == principal.user_id))
        return stmt

    async def get(self, user_id: uuid.UUID) -> User | None:
        return (await self.session.execute(self._visible().where(User.id == user_id))).scalar_one_or_none()

    async def get_many(self, ids: list[uuid.UUID]) -> list[User]:
        return list((await self.session.execute(self._visible().where(User.id.in_(ids)))).scalars())

    async def company_ids_of(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        stmt = self.scope(select(Membership.user_id, Membership.company_id), Membership.company_id).where(
            Membership.user_id.in_(user_ids)
        )
        out: dict[uuid.UUID, list[uuid.UUID]] = {u: [] for u in user_ids}
        for uid, cid in (await self.session.execute(stmt)).all():
            out[uid].append(cid)
        return out

    async def page(
        self,
        *,
        first: int | None,
        after: str | None,
        role: Role | None = None,
        category: str | None = None,
        company_id: uuid.UUID | None = None,
        active_only: bool = False,
    ) -> Page[User]:
        principal = self._principal()
        stmt = self._visible()
        if company_id is not None:
            if not principal.can(Permission.USER_READ, company_id):
                # Another tenant's company filters like a company that does not exist: to nothing.
                stmt = stmt.where(false())
            stmt = stmt.where(
                User.id.in_(select(Membership.user_id).where(Membership.company_id == company_id))
            )
        if role is not None:
            stmt = stmt.where(User.role == role.value)
        if category:
            stmt = stmt.where(func.lower(User.category) == category.lower())
        if active_only:
            stmt = stmt.where(User.is_active)
        return await paginate(
            self.session, stmt, [User.email, User.id], first=first, after=after, descending=False
        )

    async def authorize_create(self, role: Role, company_ids: list[uuid.UUID]) -> None:
        """Refuse a user the caller may not create: unknown or foreign companies are NotFound, a role
        above the caller's PermissionDenied. Checked before anything else about the new user."""
        principal = self._principal()
        needed = permission_to_create(role)
        if role is Role.MSP_ADMIN:
            if not principal.can(needed):
                raise PermissionDenied("you do not have permission to create this role", field="role")
            if company_ids:
                raise InvalidInput("MSP admins see every company; give no companies", field="companyIds")
            return
        visible = set(
            (
                await self.session.execute(
                    self.scope(select(Company.id), Company.id).where(Company.id.in_(company_ids))
                )
            ).scalars()
        )
        if visible != set(company_ids):
            raise NotFound("company not found", field="companyIds")
        if not principal.can(needed) or not all(principal.can(needed, c) for c in company_ids):
            raise PermissionDenied("you do not have permission to create this role", field="role")
        if not company_ids:
            raise InvalidInput("a company admin or technician needs at least one company", field="companyIds")

    async def create(
        self,
        *,
        email: str,
        name: str,
        password_hash: str,
        role: Role,
        company_ids: list[uuid.UUID],
        category: str | None = None,
        on_call: bool = False,
        audit: bool = True,
    ) -> User:
        company_ids = list(dict.fromkeys(company_ids))
        if self.principal is not None:
            await self.authorize_create(role, company_ids)
        elif role is Role.MSP_ADMIN and company_ids:
            raise InvalidInput("MSP admins see every company; give no companies", field="companyIds")
        user = User(
            id=uuid7(),
            email=email,
            name=name,
            password_hash=password_hash,
            role=role.value,
            category=category,
            on_call=on_call,
        )
        self.session.add(user)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
                if company_ids:
                    await self.session.execute(
                        insert(Membership), [{"user_id": user.id, "company_id": c} for c in company_ids]
                    )
        except IntegrityError as exc:
            if "memberships" in str(exc.orig):
                raise NotFound("company not found", field="companyIds") from exc
            raise Conflict("a user with this email already exists", field="email", code="DUPLICATE") from exc
        await self.session.refresh(user)
        if audit:
            # One entry per company, so each company's admins see who joined their company.
            for cid in company_ids or [None]:
                await self.audit.record(
                    "user.create", "user", user.id, company_id=cid, after=user_snapshot(user, company_ids)
                )
        return user

    async def update_self(self, user: User, changes: dict[str, Any], action: str) -> User:
        principal = self._principal()
        if user.id != principal.user_id:
            raise PermissionDenied("you can only change your own profile")
        before = user_snapshot(user)
        for key, value in changes.items():
            setattr(user, key, value)
        user.updated_at = func.now()
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("a user with this email already exists", field="email", code="DUPLICATE") from exc
        await self.session.refresh(user)
        after = user_snapshot(user)
        if action == "user.password_change":
            before, after = {"password": "***"}, {"password": "changed"}
        await self.audit.record(action, "user", user.id, company_id=None, before=before, after=after)
        return user

    async def require_user(self, user_id: uuid.UUID) -> User:
        user = await self.get(user_id)
        if user is None:
            raise NotFound("user not found", field="id")
        return user
