"""Test helpers that create real rows through the repositories (as the system principal)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapters.crypto import hash_password
from db.engine import asyncpg_dsn, create_pool
from db.migrate import upgrade_to_head
from db.uow import UnitOfWork
from domain.rbac import SYSTEM, Role

PASSWORD = "correct-horse-42"
EVENT_TIMEOUT_SECONDS = 10.0  # a bound for a broken test, never a wait: events arrive in milliseconds


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead (same server, user and options)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@asynccontextmanager
async def fresh_database(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A new database beside the test one, migrated to head, as a fresh install has it (dropped after):
    the hot pool the application would open on it."""
    name = unique("aw_fresh").replace("-", "_")
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = with_database(database_url, name)
            await asyncio.to_thread(upgrade_to_head, url)
            pool = await create_pool(url, min_size=1, max_size=2)
            try:
                yield pool
            finally:
                await pool.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def event_heard(services: Any, topic_name: str) -> AsyncIterator[None]:
    """Runs the block, then waits until this process's event bus has delivered an event on
    `topic_name`: the bus runs its in-process hooks (the webhook key cache, the worker's wake-up) before
    it hands the event to subscribers, so they have seen it too."""
    async with services.bus.subscribe({topic_name}) as sub:
        yield
        async with asyncio.timeout(EVENT_TIMEOUT_SECONDS):
            await sub.queue.get()


def gid(type_name: str, id_: Any) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{id_}".encode()).decode().rstrip("=")


@dataclass
class MadeCompany:
    id: uuid.UUID
    gid: str
    name: str
    api_key: str
    hmac_secret: str


@dataclass
class MadeUser:
    id: uuid.UUID
    email: str
    role: Role
    token: str


class Factory:
    def __init__(self, services: Any) -> None:
        self.services = services

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.services.sessionmaker, SYSTEM, self.services.cipher, "test")

    async def company(self, name: str | None = None, **settings: Any) -> MadeCompany:
        async with self.uow() as uow:
            row, creds = await uow.companies.create(name or unique("Company"))
            if settings:
                await uow.companies.update_settings(row.id, "test.settings", **settings)
        return MadeCompany(
            row.id, gid("Company", row.id), row.name, creds.api_key or "", creds.hmac_secret or ""
        )

    async def user(
        self,
        role: Role,
        companies: list[MadeCompany] | None = None,
        *,
        category: str | None = None,
        email: str | None = None,
        password: str = PASSWORD,
        on_call: bool = False,
    ) -> MadeUser:
        email = email or f"{unique(role.value)}@example.com"
        async with self.uow() as uow:
            row = await uow.users.create(
                email=email,
                name=email.split("@")[0],
                password_hash=hash_password(password, 4),
                role=role,
                company_ids=[c.id for c in companies or []],
                category=category,
                on_call=on_call,
            )
        token = self.services.tokens.issue(row.id, row.role)
        return MadeUser(row.id, row.email, role, token)

    async def asset(self, company: MadeCompany, name: str | None = None, **fields: Any) -> uuid.UUID:
        async with self.uow() as uow:
            row = await uow.assets.create(company.id, {"name": name or unique("asset"), **fields}, [])
        return row.id


def sample(name: str, **labels: str) -> float:
    """A sample of this process's metrics registry (0 while the series does not exist yet)."""
    from adapters.metrics import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def registered_reactions(
    pool: asyncpg.Pool, *reactions: Any, batch: int = 100
) -> AsyncIterator[list[Any]]:
    """Runners of the reactions, registered on this database for a test or a module only (unregistered
    after, inbox and all, so the other tests' changes do not pile up for them)."""
    from db.reactions import ReactionRunner

    runners = [ReactionRunner(pool, r, batch=batch) for r in reactions]
    for runner in runners:
        await runner.register()
    try:
        yield runners
    finally:
        for runner in runners:
            name = runner.reaction.name
            await pool.execute("DELETE FROM reaction_inbox WHERE reaction = $1", name)
            await pool.execute("DELETE FROM reactions WHERE name = $1", name)
