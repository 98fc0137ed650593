"""Root query resolvers of the remediation area."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import InvalidInput
from graph.core import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, connection, require_principal
from graph.incidents.queries import decode_id
from graph.remediation.types import (
    Platform,
    Runbook,
    RunbookCategory,
    RunbookRisk,
    runbook_repository,
    runbook_type,
)


@strawberry.input(description="Narrow `runbooks`; every field given must hold.")
class RunbookFilter:
    category: RunbookCategory | None = strawberry.field(default=None, description="Only this category.")
    risk: RunbookRisk | None = strawberry.field(default=None, description="Only this risk.")
    platform: Platform | None = strawberry.field(default=None, description="Only this platform.")
    text: str | None = strawberry.field(
        default=None, description="Text in the name, description or signatures (case-insensitive)."
    )
    include_archived: bool = strawberry.field(default=False, description="Include archived runbooks.")


async def runbooks(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="Only the runbooks this company can use: its own and the global library (global "
            "ID); omit for every runbook you may see."
        ),
    ] = None,
    filter: Annotated[RunbookFilter | None, strawberry.argument(description="Narrow the list.")] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Runbook]:
    require_principal(info)
    company, unknown = decode_id(company_id, "Company")
    f = filter or RunbookFilter()
    if f.text is not None and len(f.text) > 200:
        raise InvalidInput("must be at most 200 characters", field="filter.text")
    repo = await runbook_repository(info)
    page = await repo.page(
        company_id=company,
        unknown_company=unknown,
        category=f.category.name if f.category else None,
        risk=f.risk.name if f.risk else None,
        platform=f.platform.name if f.platform else None,
        text=f.text,
        include_archived=f.include_archived,
        first=first,
        after=after,
    )
    versions = await repo.current_versions(page.items)
    return connection(page, lambda r: runbook_type(r, versions[r.id]))


async def runbook(
    info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Runbook global ID.")]
) -> Runbook | None:
    require_principal(info)
    key, unknown = decode_id(id, "Runbook")
    if key is None or unknown:
        return None
    repo = await runbook_repository(info)
    found = await repo.get_current(key)
    return runbook_type(*found) if found else None
