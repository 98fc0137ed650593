"""Migration 0018: the company-wide HMAC switch becomes a per-integration setting, and back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from alembic import command
from alembic.config import Config

from db.engine import asyncpg_dsn
from db.migrate import alembic_config
from domain.alerts import Tool
from tests.helpers import with_database


async def _run(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@contextmanager
def _scratch_database(database_url: str) -> Iterator[tuple[str, Config]]:
    name = f"aw_signing_{uuid.uuid4().hex[:8]}"
    asyncio.run(_run(database_url, f'CREATE DATABASE "{name}"'))
    url = with_database(database_url, name)
    try:
        yield url, alembic_config(url)
    finally:
        asyncio.run(_run(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_company_wide_switch_becomes_signing_on_every_integration_and_back(database_url):
    # given a database before 0018 (at 0017) with a company that had HMAC on and one that had it off
    with _scratch_database(database_url) as (url, cfg):
        command.upgrade(cfg, "0017")
        for name, enabled in (("signs", True), ("does not sign", False)):
            asyncio.run(
                _run(
                    url,
                    "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc, hmac_enabled)"
                    " VALUES ($1, $2, $3, 'aw_x…', '\\x00', $4)",
                    uuid.uuid4(),
                    name,
                    uuid.uuid4().hex,
                    enabled,
                )
            )

        # when it is migrated to head
        command.upgrade(cfg, "head")

        # then the first requires signed requests on every integration, as before, and the other on none
        rows = asyncio.run(_run(url, "SELECT name, signed_integrations FROM companies"))
        signed = {r["name"]: set(r["signed_integrations"]) for r in rows}
        assert signed == {"signs": {t.value for t in Tool}, "does not sign": set()}

        # and a downgrade turns the switch back on only where some integration required signing
        command.downgrade(cfg, "0017")
        rows = asyncio.run(_run(url, "SELECT name, hmac_enabled FROM companies"))
        assert {r["name"]: r["hmac_enabled"] for r in rows} == {"signs": True, "does not sign": False}
