"""The signed-in user's notifications and email preferences, and the admins' view of failed emails.

A user reads only their own notifications, and of those only the companies they may still see (one
who left a company no longer reads its incidents through old notifications). Failed emails are read
by whoever manages the company's users (MSP admins, company admins): they fix the address or the
preference.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.tables import Notification, User
from domain.errors import InvalidInput, NotFound
from domain.notifications import check_email_kinds
from domain.rbac import Permission

#: Who reads failed emails: whoever manages the company's users.
FAILED_EMAILS_PERMISSION = Permission.USER_MANAGE
MAX_MARK = 100  # ids per `notificationMarkRead`


class NotificationRepository(ScopedRepository):
    def _readable(self) -> Select[Any]:
        return self.scope(select(Notification), Notification.company_id)

    def _mine(self) -> uuid.UUID:
        principal = self._principal()
        if principal.is_system:
            raise NotFound("notifications belong to people", field="id")
        return principal.user_id

    async def page(self, *, unread_only: bool, first: int | None, after: str | None) -> Page[Notification]:
        """Newest first."""
        stmt = self._readable().where(Notification.user_id == self._mine())
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        return await paginate(
            self.session, stmt, [Notification.created_at, Notification.id], first=first, after=after
        )

    async def get(self, notification_id: int) -> Notification | None:
        if self._principal().is_system:
            return None
        stmt = self._readable().where(
            Notification.user_id == self._mine(), Notification.id == notification_id
        )
        found: Notification | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def unread_count(self) -> int:
        stmt = self.scope(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == self._mine(), Notification.read_at.is_(None)),
            Notification.company_id,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mark_read(self, ids: list[int], now: datetime) -> list[Notification]:
        """Mark the caller's notifications among `ids` read (already read ones keep their time); an id
        that is not the caller's is NotFound, and nothing is marked."""
        if len(ids) > MAX_MARK:
            raise InvalidInput(f"at most {MAX_MARK} ids at a time", field="ids")
        wanted = sorted(set(ids))
        stmt = (
            self._readable()
            .where(Notification.user_id == self._mine(), Notification.id.in_(wanted))
            .with_for_update()
        )
        found = list((await self.session.execute(stmt)).scalars())
        if len(found) != len(wanted):
            raise NotFound("notification not found", field="ids")
        for row in found:
            if row.read_at is None:
                row.read_at = now
        await self.session.flush()
        return sorted(found, key=lambda r: r.id)

    async def mark_all_read(self, now: datetime) -> int:
        """Mark every unread notification of the caller read; how many were."""
        stmt = (
            update(Notification)
            .where(
                Notification.user_id == self._mine(),
                Notification.read_at.is_(None),
                Notification.id.in_(
                    self.scope(select(Notification.id), Notification.company_id).where(
                        Notification.user_id == self._mine(), Notification.read_at.is_(None)
                    )
                ),
            )
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def email_kinds(self) -> list[str] | None:
        stmt = select(User.notification_email_kinds).where(User.id == self._mine())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_email_kinds(self, kinds: list[str], now: datetime) -> list[str]:
        chosen = check_email_kinds(kinds)
        await self.session.execute(
            update(User)
            .where(User.id == self._mine())
            .values(notification_email_kinds=chosen, updated_at=now)
        )
        return chosen

    def can_read_failed_emails(self) -> bool:
        return self._principal().can(FAILED_EMAILS_PERMISSION)

    async def failed_emails(
        self, *, company_id: uuid.UUID | None, unknown_company: bool, first: int | None, after: str | None
    ) -> Page[Notification]:
        """Emails that ended `failed`, newest first, in the companies whose users the caller manages."""
        stmt = self.in_company(
            self.scope(select(Notification), Notification.company_id, FAILED_EMAILS_PERMISSION).where(
                Notification.email_state == "failed"
            ),
            Notification.company_id,
            company_id,
            unknown_company,
            FAILED_EMAILS_PERMISSION,
        )
        return await paginate(
            self.session, stmt, [Notification.created_at, Notification.id], first=first, after=after
        )
