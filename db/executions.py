"""Starting a remediation: the execution record, committed before anything is sent.

Whoever starts a run (a decision, an approval, `runbookExecute`) calls `enqueue_execution` in its own
transaction; the executor loop picks the row up once that commits (woken by EXECUTIONS_TOPIC, and by
its poll), sends the command and follows it to its end. One approval starts at most one execution
(the unique `approval_id`), so an approval handled twice never sends a command twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from db.events import BusEvent

if TYPE_CHECKING:
    from db.pool import Conn

# What the executor loop listens to: an execution is due.
EXECUTIONS_TOPIC = "system:executions"


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """One run of one runbook version, with its commands already rendered
    (`domain.runbooks.render`) for the platform's document."""

    company_id: uuid.UUID
    runbook_id: uuid.UUID
    runbook_version: int
    instance_ids: Sequence[str]
    document: str  # AWS-RunShellScript / AWS-RunPowerShellScript
    commands: Sequence[str]
    timeout_seconds: int
    started_by: str  # `user:<id>` or `system:<name>`
    health_check: str | None = None
    incident_id: uuid.UUID | None = None
    approval_id: uuid.UUID | None = None
    asset_ids: Sequence[uuid.UUID] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)


INSERT = """
INSERT INTO remediation_executions (
    id, company_id, incident_id, runbook_id, runbook_version, approval_id, asset_ids, instance_ids,
    parameters, document, commands, health_check, timeout_seconds, started_by, simulated,
    next_check_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14,
        -- a demo company's runs are simulated, whoever starts them, and no other company's are
        coalesce((SELECT demo FROM companies WHERE id = $2), false), $15, $15, $15)
ON CONFLICT (approval_id) DO NOTHING
RETURNING id
"""
NOTIFY = "SELECT pg_notify('aw_events', $1)"


async def enqueue_execution(conn: Conn, request: ExecutionRequest, now: datetime) -> uuid.UUID | None:
    """Store the execution as PENDING (phase `send`) in the caller's transaction; its id, or None when
    its approval already started one."""
    execution_id = uuid.uuid4()
    stored: uuid.UUID | None = await conn.fetchval(
        INSERT,
        execution_id,
        request.company_id,
        request.incident_id,
        request.runbook_id,
        request.runbook_version,
        request.approval_id,
        list(request.asset_ids),
        list(request.instance_ids),
        orjson.dumps(dict(request.parameters)).decode(),
        request.document,
        list(request.commands),
        request.health_check,
        request.timeout_seconds,
        request.started_by,
        now,
    )
    if stored is None:
        return None
    await conn.execute(NOTIFY, BusEvent(EXECUTIONS_TOPIC, kind="due", id=str(stored)).to_json())
    return stored
