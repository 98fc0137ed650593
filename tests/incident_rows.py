"""Test rows for the incident area, inserted directly (as the correlation worker would have stored them)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from db.tables import Alert, AuditEntry, Incident, IncidentEvent, MaintenanceWindow
from domain.ids import uuid7


async def incident(services: Any, company_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    now = datetime.now(UTC)
    row = {
        "id": uuid7(),
        "company_id": company_id,
        "correlation_key": f"k-{uuid.uuid4().hex[:8]}",
        "asset_id": None,
        "asset_name": "web-01",
        "signature": "HighCPU",
        "status": "NEW",
        "severity": "high",
        "category": "Server",
        "alert_count": 1,
        "duplicate_count": 0,
        "tool_sources": ["generic"],
        "active_fingerprints": [],
        "flap_times": [],
        "first_alert_at": now,
        "last_alert_at": now,
        "created_at": now,
        "updated_at": now,
    } | fields
    async with services.sessionmaker() as session, session.begin():
        await session.execute(insert(Incident).values(**row))
    return row["id"]


async def alert(services: Any, company_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    now = datetime.now(UTC)
    row = {
        "id": uuid7(),
        "company_id": company_id,
        "asset_name": "web-01",
        "signature": "HighCPU",
        "severity": "high",
        "severity_raw": "high",
        "message": "CPU above 90%",
        "tool": "generic",
        "category": "Server",
        "fingerprint": f"generic:{uuid.uuid4().hex[:8]}",
        "status": "firing",
        "event_time": now,
        "received_at": now,
        "tags": {},
        "raw": {"asset_name": "web-01"},
        "correlated_at": now,
    } | fields
    async with services.sessionmaker() as session, session.begin():
        await session.execute(insert(Alert).values(**row))
    return row["id"]


async def event(
    services: Any, company_id: uuid.UUID, incident_id: uuid.UUID, kind: str, at: datetime, **fields: Any
) -> int:
    async with services.sessionmaker() as session, session.begin():
        result = await session.execute(
            insert(IncidentEvent)
            .values(company_id=company_id, incident_id=incident_id, kind=kind, at=at, **fields)
            .returning(IncidentEvent.id)
        )
        return int(result.scalar_one())


async def get(services: Any, model: Any, key: Any) -> Any:
    async with services.sessionmaker() as session:
        return await session.get(model, key)


async def timeline(services: Any, incident_id: uuid.UUID) -> list[IncidentEvent]:
    async with services.sessionmaker() as session:
        stmt = (
            select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id)
        )
        return list((await session.execute(stmt)).scalars())


async def alerts_of(services: Any, company_id: uuid.UUID) -> list[Alert]:
    async with services.sessionmaker() as session:
        stmt = select(Alert).where(Alert.company_id == company_id).order_by(Alert.id)
        return list((await session.execute(stmt)).scalars())


async def windows_of(services: Any, company_id: uuid.UUID) -> list[MaintenanceWindow]:
    async with services.sessionmaker() as session:
        stmt = select(MaintenanceWindow).where(MaintenanceWindow.company_id == company_id)
        return list((await session.execute(stmt)).scalars())


async def audit_actions(services: Any, entity_id: Any) -> list[tuple[str, str | None]]:
    async with services.sessionmaker() as session:
        stmt = (
            select(AuditEntry.action, AuditEntry.actor_email)
            .where(AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in (await session.execute(stmt)).all()]


async def db_now(services: Any) -> datetime:
    async with services.sessionmaker() as session:
        return (await session.execute(select(func.now()))).scalar_one()


def uuid_of(global_id: str) -> uuid.UUID:
    """The UUID inside a global ID (`Type:uuid`, base64url)."""
    text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return uuid.UUID(text.split(":", 1)[1])
