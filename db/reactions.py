"""Reactions: consumers of the incident change outbox (`incident_changes`), each change handled once in
effect by each reaction, whatever the number of worker processes.

A registered reaction gets every change committed after it registered in its own inbox
(`reaction_inbox`, filled by a statement trigger in the change's transaction). A runner claims a few
inbox rows with `FOR UPDATE SKIP LOCKED` and handles each in a savepoint of the claiming transaction:
on success the row is deleted in that transaction, so the handler's own database writes and the
delivery commit together (a crash before commit leaves the row to be claimed again). Side effects
outside the database (mail, SSM) must be idempotent on (reaction, change id), which the handler gets.
A failed attempt is retried after a growing back-off; after `max_attempts` the row stays `dead` with
its error, visible on `/readyz`, until `requeue_dead` puts it back.

A reaction may also handle a whole claimed batch at once (`BatchReaction.handle_batch`: a few
statements for the batch instead of a few per change, and one delete of the inbox rows). The batch
runs in one savepoint; if it raises, its writes are rolled back and its changes are handled one by
one, each in its own savepoint as above, so one failing change fails alone, as it always did.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

if TYPE_CHECKING:
    from db.pool import Conn

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 600.0
MAX_ATTEMPTS = 8
# What the outbox trigger (migration 0013) sends on the event bus when it filled an inbox.
REACTIONS_TOPIC = "system:reactions"


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One row of the outbox, as a reaction receives it."""

    id: int
    company_id: uuid.UUID
    incident_id: uuid.UUID
    version: int
    kind: str
    before_status: str | None
    after_status: str
    before_severity: str | None
    after_severity: str
    actor: str
    at: datetime
    attempt: int  # 1 on the first try


class Reaction(Protocol):
    """What a runner drives. `handle` runs inside the claiming transaction (on `conn`); raising makes
    the attempt fail, with its writes rolled back."""

    name: str

    async def handle(self, conn: Conn, change: IncidentChange) -> None: ...


class BatchReaction(Reaction, Protocol):
    """A reaction that handles a claimed batch in one go. `handle_batch` must leave the database as
    `handle` called on each change in order would (the changes of one incident in version order; a
    change may see the writes of the ones before it), and returns the changes it left for `handle`,
    each then handled in a transaction of its own after this batch commits (the LLM reaction's model
    calls: one per claim)."""

    async def handle_batch(
        self, conn: Conn, changes: Sequence[IncidentChange]
    ) -> Sequence[IncidentChange]: ...


def batch_handler(
    reaction: Reaction,
) -> Callable[[Conn, Sequence[IncidentChange]], Awaitable[Sequence[IncidentChange]]] | None:
    """The reaction's `handle_batch`, unless a subclass overrides `handle` below it (a test or a bench
    wrapping `handle`): then every change goes through that `handle`, as the subclass expects."""
    found: Any = getattr(reaction, "handle_batch", None)
    if found is None:
        return None
    mro = type(reaction).__mro__
    batch_owner = next(k for k in mro if "handle_batch" in vars(k))
    handle_owner = next(k for k in mro if "handle" in vars(k))
    if not issubclass(batch_owner, handle_owner):
        return None
    handler: Callable[[Conn, Sequence[IncidentChange]], Awaitable[Sequence[IncidentChange]]] = found
    return handler


@dataclass(frozen=True, slots=True)
class ReactionBacklog:
    name: str
    pending: int
    dead: int
    oldest_pending_seconds: float | None


CLAIM = """
SELECT c.id, c.company_id, c.incident_id, c.version, c.kind, c.before_status, c.after_status,
       c.before_severity, c.after_severity, c.actor, c.at, x.attempts
FROM reaction_inbox x JOIN incident_changes c ON c.id = x.change_id
WHERE x.reaction = $1 AND x.state = 'pending' AND x.available_at <= $2
ORDER BY x.available_at, x.change_id
LIMIT $3
FOR UPDATE OF x SKIP LOCKED
"""
DONE = "DELETE FROM reaction_inbox WHERE reaction = $1 AND change_id = $2"
DONE_MANY = "DELETE FROM reaction_inbox WHERE reaction = $1 AND change_id = ANY($2::bigint[])"
# A change a batch left for `handle`, claimed again in a transaction of its own.
CLAIM_ONE = """
SELECT c.id, c.company_id, c.incident_id, c.version, c.kind, c.before_status, c.after_status,
       c.before_severity, c.after_severity, c.actor, c.at, x.attempts
FROM reaction_inbox x JOIN incident_changes c ON c.id = x.change_id
WHERE x.reaction = $1 AND x.change_id = $2 AND x.state = 'pending' AND x.available_at <= $3
FOR UPDATE OF x SKIP LOCKED
"""
FAILED = """
UPDATE reaction_inbox SET attempts = attempts + 1, error = $3, available_at = $4,
       state = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END
WHERE reaction = $1 AND change_id = $2
"""
BACKLOG = """
SELECT r.name,
       count(*) FILTER (WHERE x.state = 'pending') AS pending,
       count(*) FILTER (WHERE x.state = 'dead') AS dead,
       extract(epoch FROM $1 - min(c.at) FILTER (WHERE x.state = 'pending')) AS oldest
FROM reactions r
LEFT JOIN reaction_inbox x ON x.reaction = r.name
LEFT JOIN incident_changes c ON c.id = x.change_id
GROUP BY r.name ORDER BY r.name
"""


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 5 s, 10 s, 20 s … up to 10 minutes."""
    return timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


class ReactionRunner:
    def __init__(
        self, pool: asyncpg.Pool, reaction: Reaction, batch: int = 20, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        self.pool = pool
        self.reaction = reaction
        self.batch = batch
        self.max_attempts = max_attempts

    async def register(self) -> None:
        """Start receiving changes (those committed from now on), only those of the statuses the
        reaction names in `after_statuses` / `before_statuses` if it names any; idempotent."""
        after = getattr(self.reaction, "after_statuses", None)
        before = getattr(self.reaction, "before_statuses", None)
        await self.pool.execute(
            "INSERT INTO reactions (name, after_statuses, before_statuses) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET after_statuses = EXCLUDED.after_statuses, "
            "before_statuses = EXCLUDED.before_statuses",
            self.reaction.name,
            list(after) if after is not None else None,
            list(before) if before is not None else None,
        )

    async def run_once(self, now: datetime | None = None) -> int:
        """Handle up to `batch` due changes; the number claimed (handled or failed)."""
        now = now or datetime.now(UTC)
        name = self.reaction.name
        batch = batch_handler(self.reaction)
        left: list[IncidentChange] = []
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                claimed = [_change(r) for r in await conn.fetch(CLAIM, name, now, self.batch)]
                # Handled in incident id order (each incident's changes in version order), so a
                # batch locks its incidents in the order the correlation worker does
                # (`LATEST_INCIDENTS`): the two wait for each other instead of deadlocking.
                changes = sorted(claimed, key=lambda c: (c.incident_id, c.version))
                if batch is None:
                    for change in changes:
                        await self._one(conn, change, now, self.reaction.handle)
                elif changes:
                    left = await self._batch(conn, changes, now, batch)
            for change in left:
                async with conn.transaction():
                    row = await conn.fetchrow(CLAIM_ONE, name, change.id, now)
                    if row is not None:  # else another runner took it meanwhile
                        await self._one(conn, _change(row), now, self.reaction.handle)
            return len(changes)

    async def _batch(
        self,
        conn: Conn,
        changes: list[IncidentChange],
        now: datetime,
        batch: Callable[[Conn, Sequence[IncidentChange]], Awaitable[Sequence[IncidentChange]]],
    ) -> list[IncidentChange]:
        """The batch in one savepoint; the changes it left for `handle`."""
        try:
            async with conn.transaction():
                left = list(await batch(conn, changes))
                skipped = {c.id for c in left}
                done = [c.id for c in changes if c.id not in skipped]
                if done:
                    await conn.execute(DONE_MANY, self.reaction.name, done)
                return left
        except Exception:
            log.warning(
                "reaction batch failed; handling its changes one by one",
                exc_info=True,
                extra={"reaction": self.reaction.name, "changes": len(changes)},
            )
        left = []
        for change in changes:

            async def one(conn: Conn, change: IncidentChange) -> None:
                left.extend(await batch(conn, [change]))

            await self._one(conn, change, now, one, done=lambda c: c not in left)
        return left

    async def _one(
        self,
        conn: Conn,
        change: IncidentChange,
        now: datetime,
        handle: Callable[[Conn, IncidentChange], Awaitable[None]],
        done: Callable[[IncidentChange], bool] = lambda c: True,
    ) -> None:
        """One change in a savepoint: handled and deleted, or its failure recorded."""
        name = self.reaction.name
        try:
            async with conn.transaction():
                await handle(conn, change)
                if done(change):
                    await conn.execute(DONE, name, change.id)
        except Exception as exc:
            attempts = change.attempt
            dead = attempts >= self.max_attempts
            log.log(
                logging.ERROR if dead else logging.WARNING,
                "reaction failed" + (" for the last time; the change is dead-lettered" if dead else ""),
                exc_info=True,
                extra={"reaction": name, "change_id": change.id, "attempts": attempts},
            )
            await conn.execute(
                FAILED,
                name,
                change.id,
                f"{type(exc).__name__}: {exc}"[:2000],
                now + retry_delay(attempts),
                self.max_attempts,
            )


def _change(r: Any) -> IncidentChange:
    return IncidentChange(
        id=r["id"],
        company_id=r["company_id"],
        incident_id=r["incident_id"],
        version=r["version"],
        kind=r["kind"],
        before_status=r["before_status"],
        after_status=r["after_status"],
        before_severity=r["before_severity"],
        after_severity=r["after_severity"],
        actor=r["actor"],
        at=r["at"],
        attempt=r["attempts"] + 1,
    )


async def backlog(conn: Conn | asyncpg.Pool, now: datetime | None = None) -> list[ReactionBacklog]:
    """Per registered reaction: changes waiting, dead-lettered, and the age of the oldest waiting."""
    rows = await conn.fetch(BACKLOG, now or datetime.now(UTC))
    return [
        ReactionBacklog(
            r["name"], r["pending"], r["dead"], None if r["oldest"] is None else float(r["oldest"])
        )
        for r in rows
    ]


async def requeue_dead(pool: asyncpg.Pool, reaction: str) -> int:
    """Give a reaction's dead-lettered changes a fresh set of attempts (after the cause was fixed)."""
    status = await pool.execute(
        "UPDATE reaction_inbox SET state = 'pending', attempts = 0, available_at = now() "
        "WHERE reaction = $1 AND state = 'dead'",
        reaction,
    )
    return int(status.split()[-1])
