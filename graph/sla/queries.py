"""Root query resolvers of the SLA area."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db.repositories.sla import SlaPolicyRepository
from graph.core import require_principal
from graph.incidents.queries import decode_id
from graph.sla.types import SlaPolicy, sla_policy_type


async def sla_policy(
    info: strawberry.Info,
    company_id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")],
) -> SlaPolicy | None:
    require_principal(info)
    key, unknown = decode_id(company_id, "Company")
    if key is None or unknown:
        return None
    uow = await info.context.read()
    policy = await SlaPolicyRepository(uow.session, uow.principal, uow.audit).get(key)
    return None if policy is None else sla_policy_type(key, policy)
