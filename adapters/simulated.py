"""The demo mode's executor: a `RemoteExecutor` that runs nothing and reports success after a delay.

Executions of a demo company (`companies.demo`) are stored `simulated` and only this executor takes
them (`db.executor.Executor(simulated=True)`), so a demo remediation goes through the same phases,
timeline entries and incident resolution as a real one, without AWS. The command id carries the time
it was "sent", so any process answers its polls the same way after a restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from domain.ports import CommandState, Invocation, RemoteCommand

PREFIX = "simulated-"
DEFAULT_SECONDS = 1.0


class SimulatedExecutor:
    """One execution's simulated runs on `instance_ids` (the executor makes one per execution step)."""

    def __init__(self, instance_ids: Sequence[str], seconds: float = DEFAULT_SECONDS) -> None:
        self.instance_ids = list(instance_ids)
        self.seconds = seconds

    async def send(self, command: RemoteCommand) -> str:
        return f"{PREFIX}{time.time():.3f}-{uuid.uuid4().hex[:8]}"

    async def invocations(self, command_id: str) -> list[Invocation]:
        sent = float(command_id[len(PREFIX) :].split("-", 1)[0])
        targets = self.instance_ids
        if time.time() - sent < self.seconds:
            return [Invocation(i, CommandState.IN_PROGRESS, "InProgress") for i in targets]
        started = datetime.fromtimestamp(sent, UTC)
        return [
            Invocation(
                i,
                CommandState.SUCCEEDED,
                "Success",
                stdout="simulated by AlertWhisperer's demo mode: nothing ran on the instance",
                started_at=started,
                finished_at=datetime.fromtimestamp(sent + self.seconds, UTC),
            )
            for i in targets
        ]

    async def find_by_comment(self, comment: str) -> list[str]:
        return []  # a simulated command sent twice harms nothing
