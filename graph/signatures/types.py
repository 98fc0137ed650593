"""The signature alias type: one company rule that some signatures are one problem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from db import tables
from graph.core import Node, to_global_id
from graph.incidents.loaders import IncidentLoaders, loaders_for
from graph.platform.types import Company, User, company_type, user_type


@strawberry.type(
    description="A company's rule that some signatures are one problem: their alerts on one asset are one "
    "incident, correlated under `canonical`."
)
class SignatureAlias(Node):
    canonical: str = strawberry.field(
        description="The folded signature the group's alerts are correlated by (e.g. `disk_full`)."
    )
    signatures: list[str] = strawberry.field(description="The signatures of the group, as given.")
    created_at: datetime = strawberry.field(description="When the group was created.")
    _row: strawberry.Private[Any]
    _loaders: strawberry.Private[IncidentLoaders | None] = None

    @strawberry.field(description="The company the group belongs to.")
    async def company(self, info: strawberry.Info) -> Company | None:
        row = await (await loaders_for(info, self._loaders)).company.load(self._row.company_id)
        return company_type(row) if row else None

    @strawberry.field(description="Who created it (null for the system, or a user you may not see).")
    async def created_by(self, info: strawberry.Info) -> User | None:
        if self._row.created_by is None:
            return None
        row = await (await loaders_for(info, self._loaders)).user.load(self._row.created_by)
        return user_type(row) if row else None


def signature_alias_type(
    row: tables.SignatureAlias, loaders: IncidentLoaders | None = None
) -> SignatureAlias:
    return SignatureAlias(
        id=to_global_id("SignatureAlias", row.id),
        canonical=row.canonical,
        signatures=list(row.signatures),
        created_at=row.created_at,
        _row=row,
        _loaders=loaders,
    )
