"""The `DemoRun` type: one demo scenario run on a company and how far it got."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from graph.core import to_global_id
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.platform.types import Company, company_type

if TYPE_CHECKING:  # GraphQL enums built at run time (`mirror`): plain enums to the type checker
    from domain.demo import DemoScenario, DemoStatus
else:
    from graph.enums import DemoScenario, DemoStatus


@strawberry.type(description="A demo scenario run on a company: its alerts go through the real webhooks.")
class DemoRun:
    id: strawberry.ID = strawberry.field(description="Global ID of the run.")
    scenario: DemoScenario = strawberry.field(description="What the run plays.")
    status: DemoStatus = strawberry.field(description="Running, stopped or finished.")
    step: int = strawberry.field(description="Steps sent so far.")
    total_steps: int = strawberry.field(description="Steps of the scenario.")
    alerts_sent: int = strawberry.field(description="Alerts the webhooks accepted from this run so far.")
    message: str = strawberry.field(description="What the last step did (or why the run stopped).")
    started_at: datetime = strawberry.field(description="When the run started.")
    finished_at: datetime | None = strawberry.field(description="When it finished or was stopped.")
    loop: bool = strawberry.field(
        description="Whether the scenario plays again when it ends (`serve --demo`): each pass is a run of "
        "its own, started a few steps' time after the last one finished."
    )
    cycle: int = strawberry.field(
        description="Which pass of a looping scenario this run is (1 for the first; each pass plays a "
        "different variant of the scenario)."
    )
    _company_id: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    @strawberry.field(description="The company the run plays on.")
    async def company(self, info: strawberry.Info) -> Company:
        row = await (await loaders_for(info, self._loaders)).company.load(self._company_id)
        return company_type(row)


def demo_run_type(row: Any, loaders: IncidentLoaders | None = None) -> DemoRun:
    return DemoRun(
        id=to_global_id("DemoRun", row.id),
        scenario=DemoScenario(row.scenario),
        status=DemoStatus(row.status),
        step=row.step,
        total_steps=row.total_steps,
        alerts_sent=row.alerts_sent,
        message=row.message,
        started_at=row.started_at,
        finished_at=row.finished_at,
        loop=row.loop,
        cycle=row.cycle,
        _company_id=row.company_id,
        _loaders=loaders,
    )
