"""Roles, permissions and the one policy that decides every permission.

The permission matrix in the README is generated from `MATRIX` (see `matrix_markdown`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass


class Role(enum.StrEnum):
    MSP_ADMIN = "msp_admin"
    COMPANY_ADMIN = "company_admin"
    TECHNICIAN = "technician"


class Permission(enum.StrEnum):
    COMPANY_READ = "company:read"
    COMPANY_CREATE = "company:create"
    COMPANY_RENAME = "company:rename"
    COMPANY_DELETE = "company:delete"  # the company and all its data (MSP admins)
    COMPANY_SETTINGS = "company:settings"  # webhook security, rate limit, correlation, SLA
    COMPANY_CREDENTIALS = "company:credentials"  # rotate API key / HMAC secret
    COMPANY_AWS = "company:aws"  # read, set, test and clear the company's AWS access
    ASSET_READ = "asset:read"
    ASSET_WRITE = "asset:write"
    USER_READ = "user:read"
    USER_CREATE_ADMIN = "user:create-company-admin"
    USER_CREATE_TECHNICIAN = "user:create-technician"
    USER_CREATE_MSP_ADMIN = "user:create-msp-admin"
    USER_MANAGE = "user:manage"  # deactivate, reactivate, revoke tokens, lift the sign-in throttle
    AUDIT_READ = "audit:read"
    ALERT_READ = "alert:read"
    ALERT_INGEST = "alert:ingest"
    INCIDENT_READ = "incident:read"
    INCIDENT_WORK = "incident:work"  # acknowledge, resolve, reopen, comment
    INCIDENT_ASSIGN = "incident:assign"  # assign and reassign incidents to technicians
    TECHNICIAN_MANAGE = "technician:manage"  # skills, maximum of incidents, whether they take new ones
    MAINTENANCE_MANAGE = "maintenance:manage"
    RUNBOOK_READ = "runbook:read"  # the company's own runbooks and the global library
    RUNBOOK_WRITE = "runbook:write"  # create, update, archive the company's own runbooks
    RUNBOOK_LIBRARY = "runbook:library"  # the global library, offered to every company (MSP admins)
    REMEDIATION_APPROVE = "remediation:approve"  # approve or reject a runbook run; start one unapproved


_ADMIN_OWN = {
    Permission.COMPANY_READ,
    Permission.COMPANY_SETTINGS,
    Permission.COMPANY_CREDENTIALS,
    Permission.COMPANY_AWS,
    Permission.ASSET_READ,
    Permission.ASSET_WRITE,
    Permission.USER_READ,
    Permission.USER_CREATE_ADMIN,
    Permission.USER_CREATE_TECHNICIAN,
    Permission.USER_MANAGE,
    Permission.AUDIT_READ,
    Permission.ALERT_READ,
    Permission.ALERT_INGEST,
    Permission.INCIDENT_READ,
    Permission.INCIDENT_WORK,
    Permission.INCIDENT_ASSIGN,
    Permission.TECHNICIAN_MANAGE,
    Permission.MAINTENANCE_MANAGE,
    Permission.RUNBOOK_READ,
    Permission.RUNBOOK_WRITE,
    Permission.REMEDIATION_APPROVE,
}
_TECHNICIAN_OWN = {
    Permission.COMPANY_READ,
    Permission.ASSET_READ,
    Permission.USER_READ,
    Permission.ALERT_READ,
    Permission.INCIDENT_READ,
    Permission.INCIDENT_WORK,
    Permission.RUNBOOK_READ,
}

#: Which permissions each role holds. MSP admins hold all of them on every company; the others only
#: on the companies they are members of.
MATRIX: dict[Role, frozenset[Permission]] = {
    Role.MSP_ADMIN: frozenset(Permission),
    Role.COMPANY_ADMIN: frozenset(_ADMIN_OWN),
    Role.TECHNICIAN: frozenset(_TECHNICIAN_OWN),
}

#: Permissions that are not about one company (creating companies, MSP-wide users).
GLOBAL_PERMISSIONS = frozenset(
    {Permission.COMPANY_CREATE, Permission.USER_CREATE_MSP_ADMIN, Permission.RUNBOOK_LIBRARY}
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: from a verified token, never from an argument."""

    user_id: uuid.UUID
    email: str
    role: Role
    company_ids: frozenset[uuid.UUID]

    @property
    def all_companies(self) -> bool:
        return self.role is Role.MSP_ADMIN

    @property
    def is_system(self) -> bool:
        """An automated or operator principal (`system_principal`), not a user."""
        return self.user_id == SYSTEM_USER_ID

    @property
    def actor(self) -> str:
        """How the outbox names this caller: `user:<id>`, or `system:<name>`."""
        return self.email if self.is_system else f"user:{self.user_id}"

    def can_see(self, company_id: uuid.UUID) -> bool:
        return self.all_companies or company_id in self.company_ids

    def can(self, permission: Permission, company_id: uuid.UUID | None = None) -> bool:
        """The one policy: does this caller hold `permission` (on `company_id`, when it is per company)?"""
        if permission not in MATRIX[self.role]:
            return False
        if permission in GLOBAL_PERMISSIONS or company_id is None:
            return permission in GLOBAL_PERMISSIONS or self.all_companies or bool(self.company_ids)
        return self.can_see(company_id)

    def companies_with(self, permission: Permission, candidates: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        return [c for c in candidates if self.can(permission, c)]


def permission_to_create(role: Role) -> Permission:
    """The permission a caller needs to create a user of `role`."""
    return {
        Role.MSP_ADMIN: Permission.USER_CREATE_MSP_ADMIN,
        Role.COMPANY_ADMIN: Permission.USER_CREATE_ADMIN,
        Role.TECHNICIAN: Permission.USER_CREATE_TECHNICIAN,
    }[role]


def may_manage_user(principal: Principal, role: Role, company_ids: Iterable[uuid.UUID]) -> bool:
    """Whether `principal` may deactivate, reactivate, unlock or revoke the tokens of a user of `role`
    working for `company_ids`. MSP admins: anyone. Company admins: company admins and technicians all
    of whose companies they hold `user:manage` on; an account is one for all its companies, so the
    admin of one company cannot shut a person out of another company's work."""
    if principal.all_companies:
        return principal.can(Permission.USER_MANAGE)
    companies = list(company_ids)
    return (
        role is not Role.MSP_ADMIN
        and bool(companies)
        and all(principal.can(Permission.USER_MANAGE, c) for c in companies)
    )


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (pasted into the README)."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |", "|---|" + "---|" * len(roles)]
    for perm in Permission:
        cells = []
        for role in roles:
            if perm not in MATRIX[role]:
                cells.append("—")
            elif role is Role.MSP_ADMIN or perm in GLOBAL_PERMISSIONS:
                cells.append("all companies")
            else:
                cells.append("own companies")
        lines.append(f"| `{perm.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SYSTEM_USER_ID = uuid.UUID(int=0)  # no user has it: user ids are uuid7


def system_principal(name: str) -> Principal:
    """A named automated or operator principal (`system:cli`, `system:correlation`...): MSP-wide, and
    audited under that name (no user id)."""
    return Principal(
        user_id=SYSTEM_USER_ID, email=f"system:{name}", role=Role.MSP_ADMIN, company_ids=frozenset()
    )


#: The principal of operator work with no more specific name (tests, scripts).
SYSTEM = system_principal("operator")
