"""Remediation executions and their per-instance invocations, read within the caller's tenant scope
(written only by `db.executions.enqueue_execution` and the executor loop, `db.executor`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from db.pagination import Page, paginate
from db.repositories.base import ScopedRepository
from db.scope import scope_clause
from db.tables import RemediationExecution, RemediationInvocation
from domain.rbac import Permission

#: Executions one `incident.executions` read returns at most.
MAX_PER_INCIDENT = 100


class ExecutionRepository(ScopedRepository):
    """Executions are read by whoever may read the company's incidents."""

    def _readable(self) -> Any:
        return self.readable(RemediationExecution, Permission.INCIDENT_READ)

    async def get(self, execution_id: uuid.UUID) -> RemediationExecution | None:
        stmt = self._readable().where(RemediationExecution.id == execution_id)
        row: RemediationExecution | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def get_many(self, ids: list[uuid.UUID]) -> list[RemediationExecution]:
        stmt = self._readable().where(RemediationExecution.id.in_(ids))
        return list((await self.session.execute(stmt)).scalars())

    async def page(
        self,
        *,
        company_id: uuid.UUID | None,
        unknown_company: bool = False,
        status: str | None = None,
        incident_id: uuid.UUID | None = None,
        runbook_id: uuid.UUID | None = None,
        first: int | None,
        after: str | None,
    ) -> Page[RemediationExecution]:
        """Executions newest first, narrowed by company, status, incident and runbook."""
        stmt = self.in_company(
            self._readable(),
            RemediationExecution.company_id,
            company_id,
            unknown_company,
            Permission.INCIDENT_READ,
        )
        if status is not None:
            stmt = stmt.where(RemediationExecution.status == status)
        if incident_id is not None:
            stmt = stmt.where(RemediationExecution.incident_id == incident_id)
        if runbook_id is not None:
            stmt = stmt.where(RemediationExecution.runbook_id == runbook_id)
        return await paginate(
            self.session,
            stmt,
            [RemediationExecution.created_at, RemediationExecution.id],
            first=first,
            after=after,
            descending=True,
        )

    async def for_incidents(
        self, incident_ids: list[uuid.UUID], first: int
    ) -> dict[uuid.UUID, list[RemediationExecution]]:
        """Each incident's `first` newest executions, in one statement."""
        ranked = (
            select(
                RemediationExecution.id,
                func.row_number()
                .over(
                    partition_by=RemediationExecution.incident_id,
                    order_by=(RemediationExecution.created_at.desc(), RemediationExecution.id.desc()),
                )
                .label("rank"),
            )
            .where(
                RemediationExecution.incident_id.in_(incident_ids),
                scope_clause(self.tenant_scope(Permission.INCIDENT_READ), RemediationExecution.company_id),
            )
            .subquery()
        )
        stmt = (
            select(RemediationExecution)
            .join(ranked, ranked.c.id == RemediationExecution.id)
            .where(ranked.c.rank <= min(first, MAX_PER_INCIDENT))
            .order_by(RemediationExecution.created_at.desc(), RemediationExecution.id.desc())
        )
        found: dict[uuid.UUID, list[RemediationExecution]] = {i: [] for i in incident_ids}
        for row in (await self.session.execute(stmt)).scalars():
            assert row.incident_id is not None
            found[row.incident_id].append(row)
        return found

    async def invocations(
        self, execution_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[RemediationInvocation]]:
        """Each execution's invocations: the action's, then the health check's, by instance."""
        stmt = (
            select(RemediationInvocation)
            .where(
                RemediationInvocation.execution_id.in_(execution_ids),
                scope_clause(self.tenant_scope(Permission.INCIDENT_READ), RemediationInvocation.company_id),
            )
            .order_by(RemediationInvocation.step, RemediationInvocation.instance_id)
        )
        found: dict[uuid.UUID, list[RemediationInvocation]] = {i: [] for i in execution_ids}
        for row in (await self.session.execute(stmt)).scalars():
            found[row.execution_id].append(row)
        return found
