"""Demo runs within the caller's tenant scope: `demoRun` reads through the repository, `demoProgress`
re-reads each announced run on the raw pool (`demo_run_rows`)."""

from __future__ import annotations

import uuid

from sqlalchemy import case

from db.repositories.base import RawRowsById, ScopedRepository
from db.tables import DemoRun

demo_run_rows = RawRowsById(DemoRun)


class DemoRunRepository(ScopedRepository):
    async def get_many(self, ids: list[uuid.UUID]) -> list[DemoRun]:
        rows = await self.session.execute(self.readable(DemoRun).where(DemoRun.id.in_(ids)))
        return list(rows.scalars())

    async def latest(self, company_id: uuid.UUID) -> DemoRun | None:
        """The company's run under way, else its last one."""
        stmt = (
            self.readable(DemoRun)
            .where(DemoRun.company_id == company_id)
            .order_by(
                case((DemoRun.status == "RUNNING", 0), else_=1), DemoRun.started_at.desc(), DemoRun.id.desc()
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
