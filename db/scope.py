"""The tenant scope (`domain.tenancy.TenantScope`) rendered for SQL: as an SQLAlchemy clause on a
company column for the repositories, and as a raw-SQL fragment with its bind parameter for the readers
on the raw pool. Both say the same thing, so both paths of a tenant read answer the same rows (the
isolation tests run each case through both):

- the scope's companies, or every company;
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
        return true() if keep_deleted else deleted
    if not scope.companies:
        return false()
    return and_(column.in_(sorted(scope.companies)), deleted)


def scope_sql(scope: TenantScope, column: str, param: int, *, keep_deleted: bool = False) -> tuple[str, Any]:
    """(`column` is in `scope`, as SQL with the placeholder `$param`; that parameter's value).

    The SQL depends only on `column` and `param`, never on the scope, so a statement built with it
    is prepared once for every caller.
    """
    every, listed = f"${param}::uuid[] IS NULL", f"{column} = ANY(${param}::uuid[])"
    deleted = (
        f"NOT EXISTS (SELECT 1 FROM companies deleted_company WHERE deleted_company.id = {column}"
        " AND deleted_company.deleted_at IS NOT NULL)"
    )
    if keep_deleted:
        return f"({every} OR ({listed} AND {deleted}))", scope.bind()
    return f"({every} OR {listed}) AND {deleted}", scope.bind()
