"""Schemathesis builds queries and mutations from the live schema; none may cause a server error.

It runs against a real server process on a database of its own, signed in as an MSP admin (the
role that reaches every field), and checks both HTTP 5xx and masked internal errors in the body.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from db.engine import asyncpg_dsn
from db.migrate import upgrade_to_head
from graph.schema import build_schema
from tests.helpers import with_database
from tests.live import ROOT, live_servers, server_env

PASSWORD = "fuzz-pass-1234"


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    name = f"aw_fuzz_{uuid.uuid4().hex[:8]}"
    url = with_database(database_url, name)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        upgrade_to_head(url)
        home = tmp_path_factory.mktemp("fuzz")
        env = server_env(url, home)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "graph.cli",
                "user-create",
                "--email",
                "fuzz@example.com",
                "--password",
                PASSWORD,
                "--role",
                "msp_admin",
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "-m", "graph.cli", "seed-demo"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with live_servers(url, home) as [base_url]:
            login = httpx.post(
                base_url + "/graphql",
                json={
                    "query": (
                        'mutation { login(input: {email: "fuzz@example.com", password: "'
                        + PASSWORD
                        + '"}) { token } }'
                    )
                },
            )
            yield base_url, login.json()["data"]["login"]["token"]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_no_generated_operation_causes_a_server_error(fuzz_server):
    # given the live schema, loaded by introspection as an integrator would
    base_url, token = fuzz_server
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.graphql.from_url(base_url + "/graphql", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    root = build_schema()._schema
    expected = {f"Query.{f}" for f in root.query_type.fields} | {
        f"Mutation.{f}" for f in root.mutation_type.fields
    }
    assert {op.label for op in operations} == expected  # every root query and mutation field is fuzzed
    failures: list[str] = []

    def checker(operation):
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            # when a generated operation is sent
            response = case.call(headers=headers, timeout=10)
            # then it never fails with a server error, neither as HTTP 5xx nor as a masked error
            try:
                body = response.json()
            except ValueError:
                body = {}
            messages = [e.get("message", "") for e in body.get("errors") or []]
            if response.status_code >= 500 or "Internal server error" in messages:
                failures.append(
                    f"{operation.label}: {response.status_code} {case.body} -> {response.text[:300]}"
                )

        return check

    for operation in operations:
        checker(operation)()

    assert failures == []
