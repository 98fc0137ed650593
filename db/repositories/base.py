"""The one choke point for tenant isolation: every company-scoped statement starts here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import Select, false, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import plain_fetch
from db.scope import scope_clause, scope_sql
from domain.errors import NotFound, PermissionDenied
from domain.rbac import Permission, Principal
from domain.tenancy import TenantScope, tenant_scope

M = TypeVar("M")
# Any statement: `Select` is generic over the types of its columns, however many.
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class RawRowsById:
    """Rows of `model` by id for readers on the raw pool (the live subscriptions), in id order.

    One round trip, no ORM session: a subscription delivers an event per change, and an ORM session
    per burst of events (checkout ping, transaction, identity map) was most of its latency and CPU.
    Rows come back as attribute rows shaped like the ORM's; `decode` turns a column's text (JSONB
    arrives as text on the raw pool) into its value. The tenant scope is `readable`'s (the same
    `tenant_scope`, rendered by `db.scope`), within the companies the caller subscribed to.
    """

    def __init__(self, model: Any, decode: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        self._columns = tuple((attr.key, attr.columns[0].name) for attr in sa_inspect(model).column_attrs)
        self._decode = dict(decode or {})
        table = model.__tablename__
        self._sql = (
            f"SELECT {', '.join(name for _, name in self._columns)} FROM {table} "
            f"WHERE id = ANY($1::uuid[]) AND {scope_sql(f'{table}.company_id', 2)} ORDER BY id"
        )

    async def __call__(
        self, pool: Any, principal: Principal, ids: list[uuid.UUID], within: list[uuid.UUID]
    ) -> list[SimpleNamespace]:
        """The rows among `ids` of the companies `within` that `principal` may read."""
        if not ids or not within:
            return []
        scope = tenant_scope(principal).within(within)
        records = await plain_fetch(pool, self._sql, ids, scope.bind())
        decode = self._decode
        return [
            SimpleNamespace(
                **{
                    key: decode[key](r[name]) if key in decode and r[name] is not None else r[name]
                    for key, name in self._columns
                }
            )
            for r in records
        ]


class ScopedRepository:
    """Base for repositories of tenant-owned rows (`model.company_id`).

    `readable(model)` is the base statement for every read: MSP admins see all companies, others
    only their memberships (`domain.tenancy.tenant_scope`, rendered by `db.scope`). Writes call `require(permission, company_id)`; a company the caller cannot
    see answers NotFound, exactly as if it did not exist.
    """

    def __init__(self, session: AsyncSession, principal: Principal | None) -> None:
        self.session = session
        self.principal = principal

    def _principal(self) -> Principal:
        if self.principal is None:
            raise PermissionDenied("authentication required", code="UNAUTHENTICATED")
        return self.principal

    def tenant_scope(self, permission: Permission | None = None) -> TenantScope:
        """The companies whose rows the caller may read (with `permission`, where it holds that)."""
        return tenant_scope(self._principal(), permission)

    def scope(self, stmt: S, company_column: Any, permission: Permission | None = None) -> S:
        return stmt.where(scope_clause(self.tenant_scope(permission), company_column))

    def readable(self, model: type[M], permission: Permission | None = None) -> Select[M]:
        return self.scope(select(model), model.company_id, permission)  # type: ignore[attr-defined]

    def in_company(
        self,
        stmt: Select[Any],
        column: Any,
        company_id: uuid.UUID | None,
        unknown: bool,
        permission: Permission,
    ) -> Select[Any]:
        """Narrow a readable statement to one company the caller named (None: all it may read).

        A company that could not be decoded, or that the caller may not read, gives nothing: exactly
        as a company that does not exist.
        """
        if unknown or (company_id is not None and not self.tenant_scope(permission).allows(company_id)):
            return stmt.where(false())
        return stmt if company_id is None else stmt.where(column == company_id)

    def require(self, permission: Permission, company_id: uuid.UUID | None, what: str = "company") -> None:
        principal = self._principal()
        if company_id is not None and not tenant_scope(principal).allows(company_id):
            raise NotFound(f"{what} not found", field="id")
        if not principal.can(permission, company_id):
            raise PermissionDenied("you do not have permission to do this")
