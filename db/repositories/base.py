"""The one choke point for tenant isolation: every company-scoped statement starts here."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import NotFound, PermissionDenied
from domain.rbac import Permission, Principal

M = TypeVar("M")


def readable_company_ids(principal: Principal) -> list[uuid.UUID] | None:
    """The companies whose rows `principal` may read; None for all of them (MSP admins)."""
    return None if principal.all_companies else list(principal.company_ids)


class ScopedRepository:
    """Base for repositories of tenant-owned rows (`model.company_id`).

    `readable(model)` is the base statement for every read: MSP admins see all companies, others
    only their memberships. Writes call `require(permission, company_id)`; a company the caller cannot
    see answers NotFound, exactly as if it did not exist.
    """

    def __init__(self, session: AsyncSession, principal: Principal | None) -> None:
        self.session = session
        self.principal = principal

    def _principal(self) -> Principal:
        if self.principal is None:
            raise PermissionDenied("authentication required", code="UNAUTHENTICATED")
        return self.principal

    def readable_company_ids(self) -> list[uuid.UUID] | None:
        """The companies whose rows the caller may read; None for all of them (MSP admins)."""
        return readable_company_ids(self._principal())

    def scope(self, stmt: Select[Any], company_column: Any) -> Select[Any]:
        companies = self.readable_company_ids()
        return stmt if companies is None else stmt.where(company_column.in_(companies))

    def readable(self, model: type[M]) -> Select[tuple[M]]:
        return self.scope(select(model), model.company_id)  # type: ignore[attr-defined]

    def in_company(
        self, stmt: Select[Any], column: Any, company_id: uuid.UUID | None, unknown: bool, permission: Permission
    ) -> Select[Any]:
        """Narrow a readable statement to one company the caller named (None: all it may read).

        A company that could not be decoded, or that the caller may not read, gives nothing: exactly
        as a company that does not exist.
        """
        if unknown or (company_id is not None and not self._principal().can(permission, company_id)):
            return stmt.where(false())
        return stmt if company_id is None else stmt.where(column == company_id)

    def require(self, permission: Permission, company_id: uuid.UUID | None, what: str = "company") -> None:
        principal = self._principal()
        if company_id is not None and not principal.can_see(company_id):
            raise NotFound(f"{what} not found", field="id")
        if not principal.can(permission, company_id):
            raise PermissionDenied("you do not have permission to do this")
