"""The tenant scope: which companies' rows a caller may read.

`tenant_scope` is the one function every tenant read derives its filter from, the repositories'
statements and the raw-SQL readers alike (`db.scope` renders it for each); a decoded global ID is
re-checked with `allows`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from domain.rbac import Permission, Principal


@dataclass(frozen=True, slots=True)
class TenantScope:
    """The companies whose rows may be read: `companies`, or every company when it is None."""

    companies: frozenset[uuid.UUID] | None

    @property
    def every_company(self) -> bool:
        return self.companies is None

    def allows(self, company_id: uuid.UUID) -> bool:
        return self.companies is None or company_id in self.companies

    def within(self, companies: Iterable[uuid.UUID]) -> TenantScope:
        """This scope narrowed to `companies` (a subscription's channels, a filter the caller named)."""
        return TenantScope(frozenset(c for c in companies if self.allows(c)))

    def bind(self) -> list[uuid.UUID] | None:
        """The scope as one bind parameter of raw SQL: the companies, or None for every company."""
        return None if self.companies is None else sorted(self.companies)


def tenant_scope(principal: Principal, permission: Permission | None = None) -> TenantScope:
    """What `principal` may read: every company for MSP admins, its memberships otherwise; with
    `permission`, only the companies where it holds that permission (none, if its role lacks it)."""
    if permission is not None and not principal.can(permission):
        return TenantScope(frozenset())
    if principal.all_companies:
        return TenantScope(None)
    if permission is None:
        return TenantScope(principal.company_ids)
    return TenantScope(frozenset(principal.companies_with(permission, principal.company_ids)))
