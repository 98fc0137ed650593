"""The tenant scope (`domain.tenancy.TenantScope`) rendered for SQL: as an SQLAlchemy clause on a
company column for the repositories, and as a raw-SQL fragment for the readers on the raw pool, whose
one bind parameter is `TenantScope.bind()`. Both say the same thing, so both paths of a tenant read
answer the same rows (the isolation tests run each case through both):

- the scope's companies, or every company (not a row of no company);
- never a deleted company's rows: they stay until the purge has removed them, and nobody sees them
  meanwhile, not even a caller whose principal still lists the company (a websocket opened before
  the deletion). The audit log outlives them (`keep_deleted`): MSP admins read a deleted company's
  entries there, and its entries of no company.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, select, true

from db.tables import Company
from domain.tenancy import TenantScope


def scope_clause(scope: TenantScope, column: Any, *, keep_deleted: bool = False) -> ColumnElement[bool]:
    """`column` (a company id) is in `scope`."""
    deleted = column.not_in(select(Company.id).where(Company.deleted_at.is_not(None)))
    if scope.companies is None:
        # A row of no company (`NOT IN` alone would keep it while no company is deleted) is no tenant's.
        return true() if keep_deleted else and_(column.is_not(None), deleted)
    if not scope.companies:
        return false()
    return and_(column.in_(sorted(scope.companies)), deleted)


def scope_sql(column: str, param: int, *, keep_deleted: bool = False) -> str:
    """`column` is in the scope bound to the placeholder `$param` (its value: `TenantScope.bind()`).

    The SQL depends only on `column` and `param`, never on the scope, so a statement built with it
    is prepared once for every caller.
    """
    every, listed = f"${param}::uuid[] IS NULL", f"{column} = ANY(${param}::uuid[])"
    companies = f"({every} AND {column} IS NOT NULL OR {listed})"
    deleted = (
        f"NOT EXISTS (SELECT 1 FROM companies deleted_company WHERE deleted_company.id = {column}"
        " AND deleted_company.deleted_at IS NOT NULL)"
    )
    if keep_deleted:
        return f"({every} OR ({listed} AND {deleted}))"
    return f"{companies} AND {deleted}"
