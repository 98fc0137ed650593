"""`node(id:)`: resolve any global ID through the caller's scoped repositories."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.core import parse_global_id, require_principal


async def resolve_node(info: strawberry.Info, global_id: str) -> Any:
    from graph.platform.types import asset_type, company_type, user_type

    require_principal(info)
    kind, raw = parse_global_id(global_id)
    import uuid

    try:
        key = uuid.UUID(raw)
    except ValueError:
        return None
    uow = await info.context.read()
    resolvers = {
        "Company": (uow.companies.get, company_type),
        "Asset": (uow.assets.get, asset_type),
        "User": (uow.users.get, user_type),
    }
    resolvers.update(getattr(uow, "node_resolvers", lambda: {})())
    entry = resolvers.get(kind)
    if entry is None:
        return None
    row = await entry[0](key)
    return entry[1](row) if row is not None else None
