"""Ports: what the incident lifecycle needs from the outside world, as Protocols the adapters implement.

The rules in `domain/` and the reactions in `db/` depend on these shapes only; `graph/services.py`
composes the real adapters (boto3 for SSM, SES and Bedrock; Gemini as the analyser's fallback) or,
in tests, moto-backed ones. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import uuid

    from domain.ingest import AlertBatch, StoredAlerts


class Clock(Protocol):
    """The time rules are evaluated at (SLA clocks, decay, retries): injectable so tests set it."""

    def now(self) -> datetime: ...


# ---- remote execution (AWS Systems Manager Run Command) ---------------------------------------------


class CommandState(enum.StrEnum):
    """Where a remote command stands; the last four are final."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self not in (CommandState.PENDING, CommandState.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class RemoteCommand:
    """A runbook step to run on one or more instances: an SSM document (`AWS-RunShellScript`,
    `AWS-RunPowerShellScript`) with its commands.

    `comment` names the execution: after a crash between sending and storing the command id, the
    command is found again through it (`RemoteExecutor.find_by_comment`) instead of being sent twice.
    """

    instance_ids: Sequence[str]
    document: str
    commands: Sequence[str]
    comment: str
    timeout_seconds: int = 600


@dataclass(frozen=True, slots=True)
class Invocation:
    """One instance's run of a command: its state, the provider's own status word, bounded output."""

    instance_id: str
    state: CommandState
    status_detail: str
    stdout: str = ""
    stderr: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RemoteExecutor(Protocol):
    """Runs commands on a company's instances (AWS Systems Manager Run Command).

    Provider errors arrive as `domain.aws.AwsError` with a code (access denied, throttled...).
    """

    async def send(self, command: RemoteCommand) -> str:
        """Start the command; its id."""
        ...

    async def invocations(self, command_id: str) -> list[Invocation]:
        """Each targeted instance's invocation so far (an instance not reached yet is PENDING)."""
        ...

    async def find_by_comment(self, comment: str) -> list[str]:
        """Ids of the commands sent with exactly this comment, newest first."""
        ...


# ---- notifications (AWS SES) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    # Same key, same message: a retried notification is not sent twice where the mailer can tell.
    idempotency_key: str = ""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Send the message; the provider's message id."""
        ...


# ---- analysis (AWS Bedrock, Gemini fallback) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LlmReply:
    """A model's answer: its text (validated by `domain.llm.parse_answer`) and what it cost."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = ""


class LlmError(Exception):
    """The provider refused, failed or timed out; `reason` is short and safe to store."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Analyser(Protocol):
    """An LLM behind one shape: a system text and a prompt in, a reply out (or LlmError)."""

    source: str  # "BEDROCK" or "GEMINI", as `incident.analysis.source` names it
    model: str

    async def complete(self, system: str, prompt: str, seconds: float) -> LlmReply: ...


# ---- alert ingest (the rate limit and the group-commit store, both in PostgreSQL) ------------------


@dataclass(frozen=True, slots=True)
class RateDecision:
    """`allowed`, or when to retry; `too_large` when the request can never fit (more alerts than the
    burst), so no retry time would ever be honoured."""

    allowed: bool
    retry_after: int = 0
    too_large: bool = False


class RateLimit(Protocol):
    async def acquire(self, company_id: uuid.UUID, n: int, rate: float, burst: int) -> RateDecision:
        """Charge `n` tokens (one per alert) or none; raises ServiceUnavailable when it cannot tell."""
        ...


class AlertStore(Protocol):
    async def store(self, batch: AlertBatch) -> StoredAlerts:
        """Commit the batch (or find it is a repeat of its delivery id) before returning; raises
        DeliveryReused, ReplayedSignature, or ServiceUnavailable when nothing could be committed."""
        ...
