"""`tenant_scope`: the companies a caller may read, the one source of every tenant filter."""

from __future__ import annotations

import uuid

from domain.rbac import SYSTEM, Permission, Principal, Role
from domain.tenancy import TenantScope, tenant_scope

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _principal(role: Role, *companies: uuid.UUID) -> Principal:
    return Principal(uuid.uuid4(), "p@example.com", role, frozenset(companies))


def test_an_msp_admin_reads_every_company_and_binds_none():
    scope = tenant_scope(_principal(Role.MSP_ADMIN))

    assert scope == TenantScope(None)
    assert scope.allows(A)
    assert scope.allows(B)
    assert scope.bind() is None
    assert tenant_scope(SYSTEM, Permission.AUDIT_READ).every_company


def test_a_member_reads_its_companies_only():
    scope = tenant_scope(_principal(Role.TECHNICIAN, A, B))

    assert scope.companies == {A, B}
    assert scope.allows(A)
    assert not scope.allows(C)
    assert scope.bind() == sorted([A, B])


def test_a_permission_its_role_lacks_leaves_no_company():
    technician = _principal(Role.TECHNICIAN, A)

    assert tenant_scope(technician, Permission.AUDIT_READ) == TenantScope(frozenset())
    assert tenant_scope(technician, Permission.AUDIT_READ).bind() == []
    assert tenant_scope(_principal(Role.COMPANY_ADMIN, A), Permission.AUDIT_READ).companies == {A}


def test_within_narrows_to_the_named_companies_the_scope_allows():
    member = tenant_scope(_principal(Role.COMPANY_ADMIN, A))
    everyone = tenant_scope(_principal(Role.MSP_ADMIN))

    assert member.within([A, B]).companies == {A}
    assert everyone.within([B, C]).companies == {B, C}
    assert everyone.within([]).companies == frozenset()
