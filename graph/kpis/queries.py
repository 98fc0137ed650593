"""`kpis`: a company's figures (or every company's, for MSP admins) over whole UTC hours, read from
the hourly rollups in a few statements whatever the number of alerts behind them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry

from db.repositories.kpis import KpiReader
from domain import kpis as rules
from domain.errors import NotFound, PermissionDenied
from domain.rbac import Permission, Principal
from domain.tenancy import TenantScope, tenant_scope
from graph.core import require_principal
from graph.incidents.queries import decode_id
from graph.kpis.types import KpiFigures, Kpis, kpis_type
from graph.platform.types import company_type


def kpi_scope(principal: Principal) -> TenantScope:
    """Whose KPIs a caller reads: those of the companies where it may read incidents."""
    return tenant_scope(principal, Permission.INCIDENT_READ)


async def company_of(uow: Any, scope: TenantScope, company_id: str) -> Any:
    """The company row a `companyId` names, if the caller may read its KPIs; NotFound otherwise (the
    same answer for another tenant's company as for none, so nothing tells them apart)."""
    key, unknown = decode_id(company_id, "Company")
    row = None if key is None or unknown or not scope.allows(key) else await uow.companies.get(key)
    if row is None:
        raise NotFound("company not found", field="companyId")
    return row


async def figures_of(
    reader: KpiReader, company_ids: list[uuid.UUID], start: datetime, end: datetime, several: bool = False
) -> tuple[KpiFigures, dict[uuid.UUID, KpiFigures] | None]:
    """The range's figures over `company_ids`, and (`several`) per company."""
    # One after the other: each takes a millisecond or so, and side by side they would hold up to
    # four of the pool's connections per request.
    totals = await reader.totals(company_ids, start, end)
    buckets = await reader.resolve_buckets(company_ids, start, end)
    patches = await reader.patch_figures(company_ids, start, end)
    per_company = await reader.by_company(company_ids, start, end) if several else {}
    merged: dict[int, int] = {}
    for counts in buckets.values():
        for bucket, n in counts.items():
            merged[bucket] = merged.get(bucket, 0) + n
    overall = KpiFigures(totals, rules.p90_from_buckets(merged), rules.combine_patch(patches.values()))
    if not several:
        return overall, None
    rows = {
        c: KpiFigures(
            per_company.get(c, rules.KpiSums()),
            rules.p90_from_buckets(buckets.get(c, {})),
            patches.get(c, rules.NO_PATCH_FIGURE),
        )
        for c in company_ids
    }
    return overall, rows


async def kpis(
    info: strawberry.Info,
    *,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Company global ID; MSP admins may omit it for all companies."),
    ] = None,
    from_: Annotated[
        datetime,
        strawberry.argument(name="from", description="Start of the range (rounded down to the UTC hour)."),
    ],
    to: Annotated[
        datetime,
        strawberry.argument(
            description="End of the range, exclusive (rounded up to the UTC hour); at most 400 days after `from`."
        ),
    ],
) -> Kpis:
    principal = require_principal(info)
    start, end = rules.kpi_range(from_, to)
    scope = kpi_scope(principal)
    uow = await info.context.read()
    if company_id is None:
        if not principal.all_companies:
            raise PermissionDenied("only MSP admins may omit companyId", field="companyId")
        rows = sorted(await uow.companies.get_many(await uow.companies.visible_ids()), key=lambda r: r.name)
        company = None
    else:
        company = await company_of(uow, scope, company_id)
        rows = [company]
    ids = [r.id for r in rows]
    reader = KpiReader(info.context.services.pool, scope)
    overall, per_company = await figures_of(reader, ids, start, end, several=company is None)
    companies = [
        kpis_type(reader, company_type(r), [r.id], start, end, per_company[r.id])
        for r in rows
        if per_company is not None
    ]
    return kpis_type(
        reader, None if company is None else company_type(company), ids, start, end, overall, companies
    )
