"""`serve --demo` / `seed-demo` print the demo's credentials, its API keys included, on every start."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import asyncpg

from adapters.crypto import api_key_hash
from db.engine import asyncpg_dsn
from graph.demo import COMPANIES
from tests.live import ROOT, scratch_database, server_env

KEY_LINE = re.compile(r"^  API key for (.+?): (\S+)$", re.M)


def _seed(url: str, home) -> str:  # noqa: ANN001
    done = subprocess.run(
        [sys.executable, "-m", "graph.cli", "seed-demo"],
        env=server_env(url, home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _stored_hashes(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {
            r["name"]: r["api_key_hash"] for r in await conn.fetch("SELECT name, api_key_hash FROM companies")
        }
    finally:
        await conn.close()


async def _loop_settings(url: str) -> dict[str, tuple[int, int, int]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT name, flap_window_minutes, approval_expiry_minutes, auto_resolve_minutes FROM companies"
        )
        return {r["name"]: tuple(r.values())[1:] for r in rows}
    finally:
        await conn.close()


def test_a_restarted_demo_prints_the_same_working_api_keys_again(database_url, tmp_path):
    with scratch_database(database_url) as url:
        # given the demo seeded once (its first start)
        first = dict(KEY_LINE.findall(_seed(url, tmp_path)))

        # when it starts again on the same database and home
        again = _seed(url, tmp_path)

        # then every demo company's key is printed again, the same, and it is the key the database knows
        assert sorted(first) == sorted(COMPANIES)
        assert dict(KEY_LINE.findall(again)) == first
        hashes = asyncio.run(_stored_hashes(url))
        assert {name: api_key_hash(key) for name, key in first.items()} == {n: hashes[n] for n in first}
        # and the file that keeps them is readable by its owner only
        assert (tmp_path / "demo-api-keys.json").stat().st_mode & 0o077 == 0
        # and the company the demo loops on has the settings of an unattended loop, the others the defaults
        assert asyncio.run(_loop_settings(url)) == {
            "Acme Retail": (5, 10, 10),
            "Globex Health": (30, 60, 60),
            "Initech Finance": (30, 60, 60),
        }


def test_a_rotated_demo_key_is_reported_not_printed(database_url, tmp_path):
    with scratch_database(database_url) as url:
        # given the demo seeded, then one company's key rotated (the database no longer knows it)
        first = dict(KEY_LINE.findall(_seed(url, tmp_path)))

        async def rotate() -> None:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                await conn.execute(
                    "UPDATE companies SET api_key_hash = $1, approval_expiry_minutes = 30 "
                    "WHERE name = 'Acme Retail'",
                    "0" * 64,
                )
            finally:
                await conn.close()

        asyncio.run(rotate())

        # when the demo starts again
        again = _seed(url, tmp_path)

        # then the stale key is not printed, the others are, and the output says how to get a new one
        keys = dict(KEY_LINE.findall(again))
        assert "Acme Retail" not in keys
        assert keys == {k: v for k, v in first.items() if k != "Acme Retail"}
        assert "API key for Acme Retail: rotated since the demo made it" in again
        assert "companyApiKeyRotate" in again
        # and the approval expiry someone set on the loop's company is kept
        assert asyncio.run(_loop_settings(url))["Acme Retail"] == (5, 30, 10)
