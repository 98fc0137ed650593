"""`node(id:)`: resolve any global ID through the caller's scoped repositories."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from graph.core import parse_global_id, require_principal

#: Node types keyed by an integer (identity column) rather than a UUID.
INTEGER_KEYED = frozenset({"AuditEntry", "IncidentEvent", "Notification"})


def _key(kind: str, raw: str) -> uuid.UUID | int | None:
    if kind in INTEGER_KEYED:
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _oncall_resolvers(
    info: strawberry.Info, uow: Any
) -> dict[str, tuple[Callable[[Any], Awaitable[Any]], Callable[[Any], Any]]]:
    """A schedule, shift or override readable by the caller, built with the people it names."""
    from graph.oncall.types import override_type, schedule_types, shift_type

    repo = uow.oncall

    async def schedule(key: uuid.UUID) -> Any:
        row = await repo.get(key)
        if row is None:
            return None
        (built,) = await schedule_types(repo, [row], info.context.services.clock.now())
        return built

    async def shift(key: uuid.UUID) -> Any:
        row = await repo.get_shift(key)
        return None if row is None else shift_type(row, await repo.users({row.user_id}))

    async def override(key: uuid.UUID) -> Any:
        row = await repo.get_override(key)
        if row is None:
            return None
        people = {row.user_id} | ({row.covers_user_id} if row.covers_user_id is not None else set())
        return override_type(row, await repo.users(people))

    def built(found: Any) -> Any:
        return found

    return {
        "OnCallSchedule": (schedule, built),
        "OnCallShift": (shift, built),
        "OnCallOverride": (override, built),
    }


async def resolve_node(info: strawberry.Info, global_id: str) -> Any:
    from db.repositories.remediation import ApprovalRepository
    from graph.incidents.types import alert_type, incident_event_type, incident_type, maintenance_window_type
    from graph.notifications.types import notification_type
    from graph.platform.types import asset_type, audit_type, company_type, user_type
    from graph.remediation.approvals import approval_type
    from graph.remediation.executions import execution_by_id, execution_type
    from graph.remediation.types import runbook_type
    from graph.signatures.types import signature_alias_type

    require_principal(info)
    kind, raw = parse_global_id(global_id)
    key = _key(kind, raw)
    if key is None:
        return None
    uow = await info.context.read()
    resolvers: dict[str, tuple[Callable[[Any], Awaitable[Any]], Callable[[Any], Any]]] = {
        "Company": (uow.companies.get, company_type),
        "Asset": (uow.assets.get, asset_type),
        "User": (uow.users.get, user_type),
        # Scoped like `auditLog`: company admins see their companies' entries, technicians none.
        "AuditEntry": (uow.audit.get, audit_type),
        "Alert": (uow.alerts.get, alert_type),
        "Incident": (uow.incidents.get, incident_type),
        "IncidentEvent": (uow.incidents.get_event, incident_event_type),
        "MaintenanceWindow": (uow.maintenance.get, maintenance_window_type),
        "SignatureAlias": (uow.signature_aliases.get, signature_alias_type),
        "Runbook": (uow.runbooks.get_current, lambda found: runbook_type(*found)),
        # Only your own (an MSP admin's node(id:) of someone else's notification is null too).
        "Notification": (uow.notifications.get, notification_type),
        "Execution": (execution_by_id(uow), execution_type),
        "RemediationApproval": (ApprovalRepository(uow.session, uow.principal).get, approval_type),
    }
    resolvers.update(_oncall_resolvers(info, uow))
    entry = resolvers.get(kind)
    if entry is None:
        return None
    row = await entry[0](key)
    return entry[1](row) if row is not None else None
