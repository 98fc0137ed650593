"""Users, memberships and sign-in throttling."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, false, func, insert, select
from sqlalchemy.exc import IntegrityError

from db.events import BusEvent
from db.pagination import Page, paginate
from db.publishing import publish
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, LoginFailure, Membership, User
from domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.ids import uuid7
from domain.rbac import Permission, Principal, Role, may_manage_user, permission_to_create

THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
SOURCE_LENGTH = 64  # login_failures.source


def access_topic(user_id: uuid.UUID) -> str:
    """The event announcing that a user's tokens stopped working (deactivated, revoked): every
    process closes that user's websockets when it hears it."""
    return f"user:{user_id}:access"


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


@dataclass(frozen=True, slots=True)
class Account:
    """A token's subject as the database has it now: who they are, and whether tokens still work."""

    principal: Principal
    active: bool
    token_generation: int


async def load_account(session: Any, user_id: uuid.UUID) -> Account | None:
    """The account behind a verified token's subject (None when there is no such user). One query, the
    one every authenticated request makes anyway: it also answers deactivation and revocation."""
    row = (
        await session.execute(
            select(
                User.id,
                User.email,
                User.role,
                User.is_active,
                User.token_generation,
                func.array_remove(func.array_agg(Membership.company_id), None),
            )
            .outerjoin(Membership, Membership.user_id == User.id)
            .where(User.id == user_id)
            .group_by(User.id)
        )
    ).one_or_none()
    if row is None:
        return None
    principal = Principal(
        user_id=row[0], email=row[1], role=Role(row[2]), company_ids=frozenset(row[5] or ())
    )
    return Account(principal=principal, active=bool(row[3]), token_generation=int(row[4]))


async def load_principal(session: Any, user_id: uuid.UUID) -> Principal | None:
    """The principal of an active user (None when the user is gone or inactive)."""
    account = await load_account(session, user_id)
    return account.principal if account is not None and account.active else None


class LoginThrottle:
    """After 5 failures for one email from one source (the client's address) within 15 minutes,
    sign-ins for that email from that source are refused until the window passes. Other sources are
    not affected: a stranger's guesses never lock the owner out (`userUnlock` clears every source)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def blocked(self, email: str, source: str) -> bool:
        stmt = select(func.count()).where(
            LoginFailure.email == email.lower(),
            LoginFailure.source == source,
            LoginFailure.at > func.now() - THROTTLE_WINDOW,
        )
        return int((await self.session.execute(stmt)).scalar_one()) >= THROTTLE_FAILURES

    async def record_failure(self, email: str, source: str) -> None:
        await self.session.execute(insert(LoginFailure).values(email=email.lower(), source=source))

    async def clear(self, email: str, source: str | None = None) -> int:
        """Forget the failures of `email` from `source` (from every source when None); how many."""
        stmt = delete(LoginFailure).where(LoginFailure.email == email.lower())
        if source is not None:
            stmt = stmt.where(LoginFailure.source == source)
        return int((await self.session.execute(stmt)).rowcount or 0)


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
            # any of a technician's skills (migration 0029 carried the single category into them)
            stmt = stmt.where(User.skills.contains([category]))
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
            # A technician created with the single (deprecated) category has it as their one skill.
            skills=[category] if category else [],
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
            entries: Sequence[uuid.UUID | None] = company_ids or [None]
            for cid in entries:
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

    async def member_company_ids(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Every company the user works for (not only those the caller sees)."""
        stmt = (
            select(Membership.company_id).where(Membership.user_id == user_id).order_by(Membership.company_id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def require_manageable(self, user_id: uuid.UUID) -> tuple[User, list[uuid.UUID]]:
        """The user (locked for update) and all their companies, if the caller may manage them: a user
        the caller cannot see is NotFound, one it sees but may not manage PermissionDenied."""
        principal = self._principal()
        user = (
            await self.session.execute(self._visible().where(User.id == user_id).with_for_update())
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("user not found", field="id")
        company_ids = await self.member_company_ids(user.id)
        if not may_manage_user(principal, Role(user.role), company_ids):
            raise PermissionDenied("you do not have permission to do this", field="id")
        return user, company_ids

    async def _audit_each_company(
        self,
        action: str,
        user: User,
        company_ids: list[uuid.UUID],
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        # One entry per company, so each company's admins see what happened to their people.
        entries: Sequence[uuid.UUID | None] = company_ids or [None]
        for cid in entries:
            await self.audit.record(action, "user", user.id, company_id=cid, before=before, after=after)

    async def set_active(self, user_id: uuid.UUID, active: bool) -> User:
        """Deactivate or reactivate a user. Deactivating also revokes their tokens, so a reactivated
        user signs in again instead of finding their old tokens working once more. Idempotent: a user
        already in that state is answered as is, with no audit entry."""
        user, company_ids = await self.require_manageable(user_id)
        if not active and user.id == self._principal().user_id:
            raise PermissionDenied("you cannot deactivate your own account", field="id")
        if user.is_active == active:
            return user
        before = user_snapshot(user, company_ids)
        user.is_active = active
        if not active:
            user.token_generation += 1  # the row is locked: no concurrent change is lost
        user.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(user)
        await self._audit_each_company(
            "user.reactivate" if active else "user.deactivate",
            user,
            company_ids,
            before,
            user_snapshot(user, company_ids),
        )
        if not active:
            # Every process closes the user's open websockets when it hears this, once it commits
            # (HTTP needs no event: each request reads the user).
            await publish(self.session, BusEvent(access_topic(user.id), kind="deactivated"))
        return user

    async def revoke_tokens(self, user_id: uuid.UUID) -> User:
        """Every token of the user issued until now stops working (they sign in again for a new one)."""
        user, company_ids = await self.require_manageable(user_id)
        user.token_generation += 1  # the row is locked: no concurrent change is lost
        user.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(user)
        await self._audit_each_company("user.revoke_tokens", user, company_ids, None, {"tokens": "revoked"})
        await publish(self.session, BusEvent(access_topic(user.id), kind="revoked"))
        return user

    async def unlock(self, user_id: uuid.UUID, throttle: LoginThrottle) -> User:
        """Clear the user's failed sign-ins from every source, lifting any throttle at once."""
        user, company_ids = await self.require_manageable(user_id)
        cleared = await throttle.clear(user.email)
        await self._audit_each_company(
            "user.unlock", user, company_ids, None, {"failed_sign_ins_cleared": cleared}
        )
        return user
