"""Every fenced block of README.md and docs/**/*.md runs against a real server, so a doc cannot drift
from the code: one test per block, named `<file>:<line>` after its opening fence.

The server is what `make serve` runs (its recipe, read with `make -n serve`), started once for the
module on a database of its own with `DATABASE_URL` set and a free port, and stopped after. Blocks
are run as written, with these stand-ins replaced (the conventions the docs may rely on; what is not
run is marked in the markdown, see `tests/docs_blocks.py`):

| in a block | becomes |
|---|---|
| `http://127.0.0.1:8000`, `https://alertwhisperer.example.com`, `https://<your-alertwhisperer>` | the server's base URL |
| `aw_...`, `<api key printed at start>`, `$AW_API_KEY` / `$API_KEY` / `API_KEY` (python) | a demo company's webhook API key (of a company with HMAC on when the block uses its secret) |
| `$AW_HMAC_SECRET` / `$HMAC_SECRET` / `SECRET` (python) | that company's HMAC secret |
| `<token>`, `<jwt>`, `$TOKEN` | the demo MSP admin's token (or the `run-as` user's); GraphQL blocks are sent with it |
| `<company id>` | a company made for the block (so deleting it harms no other block) |
| `<incident id>` | an incident the demo company's webhook and the correlation worker just opened |
| `<demo company id>` | the global ID of the demo company `make serve` plays its demo on (Acme Retail) |
| `<user id>` | a technician made for the block, in a company of its own (so deactivating them harms no other block) |

- shell blocks run in bash (`set -euo pipefail`) with the project's bin directory on `PATH` (so
  `alertwhisperer …` is the CLI), `DATABASE_URL` and `ALERTWHISPERER_HOME` of the server; `curl`
  fails on an HTTP error (as with `--fail`) unless an output block follows, which its standard output
  must match (as JSON when it is JSON). A block of `make <target>` lines is not run (`make
  serve` would not return, `make test` is this suite): each target's recipe must exist and name
  programs that exist, and `serve`'s recipe is the server these tests run.
- GraphQL blocks: each operation is sent on its own; it must answer no `errors` and empty
  `userErrors`, or, when an output block follows, that answer. A subscription must deliver an event
  (a probe published for the demo company).
- JSON blocks (their `run-env` values put in for the tool's `$VARIABLES`) are posted to the first
  `POST /api/webhooks/<tool>` the page names and must be answered 202 with `alert_ids` that
  `node(id:)` finds, or the output block below them.
- Python blocks run with the project's interpreter.
- A monitoring tool's block (`<!-- run-by: TOOL -->`) runs as that tool runs it (`TOOL_RUNNERS`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import websockets
from graphql import OperationDefinitionNode, OperationType, parse

from db.engine import asyncpg_dsn
from db.events import CHANNEL, topic
from db.sla import SLA_TOPIC
from graph.core import parse_global_id
from graph.demo import DEMO_PASSWORD, KEYS_FILE
from tests.docs_blocks import RUNNABLE, Block, all_blocks, answer_matches
from tests.helpers import EVENT_TIMEOUT_SECONDS, gid
from tests.live import ROOT, free_port, scratch_database, server_env

BLOCKS = [b for b in all_blocks() if not b.illustrative]
DEMO_ADMIN = "admin@msp.example"
DEMO_COMPANY = "Acme Retail"
BASE_URLS = ("http://127.0.0.1:8000", "https://alertwhisperer.example.com", "https://<your-alertwhisperer>")
KEY_PLACEHOLDERS = ("<api key printed at start>", "aw_...")
WEBHOOK_PATH = re.compile(r"POST \S*?(/api/webhooks/[a-z]+)\b")
MAKE_LINE = re.compile(r"^make\s+(?P<target>[\w-]+)\s*(#.*)?$")
CURL_SHIM = """#!/usr/bin/env bash
# curl as the docs use it, but an HTTP error fails the block (unless the block already says --fail)
extra=(--fail-with-body)
[ -n "${{DOCS_CURL_AS_WRITTEN:-}}" ] && extra=()
for a in "$@"; do
  case "$a" in --fail|--fail-with-body) extra=();; --*) ;; -*f*) extra=();; esac
done
exec {curl} "${{extra[@]}}" "$@"
"""


@dataclass
class DocsServer:
    url: str
    database_url: str
    home: Path
    recipe: str
    proc: subprocess.Popen[bytes]
    token: str = ""
    cache: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return server_env(self.database_url, self.home) | {"ALERTWHISPERER_WORKERS": "process"}

    def demo_key(self) -> str:
        return str(json.loads((self.home / KEYS_FILE).read_text())[DEMO_COMPANY])


def _serve_recipe() -> str:
    """The command `make serve` runs (without its install step)."""
    done = subprocess.run(
        ["make", "-s", "-n", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    [line] = [x for x in done.stdout.splitlines() if " serve " in x]
    return line.strip()


@pytest.fixture(scope="module")
def docs_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsServer]:
    recipe = _serve_recipe()
    home = tmp_path_factory.mktemp("docs-home")
    with scratch_database(database_url) as url:
        port = free_port()
        server = DocsServer(f"http://127.0.0.1:{port}", url, home, recipe, proc=None)  # type: ignore[arg-type]
        log = (home / "serve.log").open("wb")
        server.proc = subprocess.Popen(
            ["bash", "-c", "exec " + recipe],
            cwd=ROOT,
            env=server.env() | {"HOST": "127.0.0.1", "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(server)
            server.token = _login(server)
            yield server
        finally:
            server.proc.terminate()
            try:
                server.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
            log.close()


def _wait_healthy(server: DocsServer) -> None:
    import time

    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                "`make serve`'s command did not start:\n" + (server.home / "serve.log").read_text()
            )
        time.sleep(0.1)


def _graphql(
    server: DocsServer, query: str, token: str | None = None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _login(server: DocsServer) -> str:
    body = _graphql(
        server,
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
        variables={"e": DEMO_ADMIN, "p": DEMO_PASSWORD},
    )
    return str(body["data"]["login"]["token"])


def _token(server: DocsServer, block: Block) -> str:
    """The token a block runs with: the demo MSP admin's, or its `run-as` user's ("" for anonymous)."""
    if block.run_as is None:
        return server.token
    if block.run_as == "anonymous":
        return ""
    if block.run_as not in server.cache:
        body = _graphql(
            server,
            "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
            variables={"e": block.run_as, "p": DEMO_PASSWORD},
        )
        assert body["data"]["login"]["token"], f"{block.id}: run-as {block.run_as}: {body}"
        server.cache[block.run_as] = body["data"]["login"]["token"]
    return str(server.cache[block.run_as])


def _signed_company(server: DocsServer) -> tuple[str, str]:
    """(API key, HMAC secret) of a company that requires signed webhooks."""
    if "signed" not in server.cache:
        made = _graphql(
            server,
            f'mutation {{ companyCreate(input: {{name: "Docs Signed {uuid.uuid4().hex[:8]}"}}) '
            "{ company { id } apiKey hmacSecret userErrors { message } } }",
            server.token,
        )["data"]["companyCreate"]
        assert made["userErrors"] == [], made
        turned_on = _graphql(
            server,
            f'mutation {{ companyWebhookSecurityUpdate(input: {{id: "{made["company"]["id"]}", hmacEnabled: true}}) '
            "{ userErrors { message } } }",
            server.token,
        )["data"]["companyWebhookSecurityUpdate"]
        assert turned_on["userErrors"] == [], turned_on
        server.cache["signed"] = (made["apiKey"], made["hmacSecret"])
    return server.cache["signed"]  # type: ignore[no-any-return]


def _fresh_user(server: DocsServer) -> str:
    """A new technician's global ID, in a company made for them."""
    email = f"docs-{uuid.uuid4().hex[:8]}@example.com"
    made = _graphql(
        server,
        f'mutation {{ userCreate(input: {{email: "{email}", name: "Docs Technician", '
        f'password: "docs-pass-123", role: TECHNICIAN, companyIds: ["{_fresh_company(server)}"]}}) '
        "{ user { id } userErrors { message } } }",
        server.token,
    )["data"]["userCreate"]
    assert made["userErrors"] == [], made
    return str(made["user"]["id"])


def _fresh_company(server: DocsServer, key: bool = False) -> str:
    """A new company's global ID (or, with `key`, its webhook API key)."""
    made = _graphql(
        server,
        f'mutation {{ companyCreate(input: {{name: "Docs {uuid.uuid4().hex[:8]}"}}) '
        "{ company { id } apiKey userErrors { message } } }",
        server.token,
    )["data"]["companyCreate"]
    assert made["userErrors"] == [], made
    return str(made["apiKey"] if key else made["company"]["id"])


@asynccontextmanager
async def _listening(server: DocsServer) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The server's events, heard straight from PostgreSQL (LISTEN is in place once this is entered)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    conn = await asyncpg.connect(asyncpg_dsn(server.database_url))
    try:
        await conn.add_listener(CHANNEL, lambda *args: queue.put_nowait(orjson.loads(args[3])))
        yield queue
    finally:
        await conn.close()


async def _demo_company_id(server: DocsServer) -> uuid.UUID:
    conn = await asyncpg.connect(asyncpg_dsn(server.database_url))
    try:
        return uuid.UUID(str(await conn.fetchval("SELECT id FROM companies WHERE name = $1", DEMO_COMPANY)))
    finally:
        await conn.close()


async def _fresh_incident(server: DocsServer) -> str:
    """An incident opened the way the docs describe: a webhook alert, correlated by the worker."""
    company_id = await _demo_company_id(server)
    async with _listening(server) as events, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        resp = await client.post(
            "/api/webhooks/alerts",
            headers={"x-api-key": server.demo_key()},
            json={
                "asset_name": "docs-01",
                "signature": f"docs_{uuid.uuid4().hex[:8]}",
                "severity": "high",
                "message": "opened for a doc example",
            },
        )
        assert resp.status_code == 202, resp.text
        [alert_id] = resp.json()["alert_ids"]
        async with asyncio.timeout(EVENT_TIMEOUT_SECONDS * 3):
            while True:
                event = await events.get()
                if event.get("topic") != topic(company_id, "incidents"):
                    continue
                found = _graphql(
                    server,
                    f'{{ node(id: "{alert_id}") {{ ... on Alert {{ incident {{ id }} }} }} }}',
                    server.token,
                )["data"]["node"]["incident"]
                if found:
                    server.cache["incident"] = found["id"]
                    return str(found["id"])


async def _fill(text: str, block: Block, server: DocsServer) -> str:
    """The block with the stand-ins of the module docstring replaced."""
    for base in BASE_URLS:
        text = text.replace(base, server.url)
    key = _signed_company(server)[0] if _uses_secret(block) else server.demo_key()
    for placeholder in KEY_PLACEHOLDERS:
        text = text.replace(placeholder, key)
    for placeholder in ("<token>", "<jwt>"):
        text = text.replace(placeholder, _token(server, block))
    while "<company id>" in text:
        text = text.replace("<company id>", _fresh_company(server), 1)
    while "<user id>" in text:
        text = text.replace("<user id>", _fresh_user(server), 1)
    if "<incident id>" in text:
        text = text.replace("<incident id>", await _fresh_incident(server))
    if "<demo company id>" in text:
        text = text.replace("<demo company id>", gid("Company", await _demo_company_id(server)))
    return text


def _uses_secret(block: Block) -> bool:
    pattern = r"\b(AW_)?HMAC_SECRET\b|\bSECRET\b"
    return any(re.search(pattern, text) for text in (block.text, *block.env.values()))


# ---- runners, one per language -----------------------------------------------------------------


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _check_make_targets(block: Block, server: DocsServer) -> None:
    for line in block.text.splitlines():
        target = MAKE_LINE.match(line.strip())
        assert target, f"{block.id}: a block of make targets holds only `make <target>` lines: {line!r}"
        done = subprocess.run(
            ["make", "-s", "-n", target["target"]], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, f"make {target['target']}: {done.stderr}"
        for command in filter(None, (c.strip() for c in done.stdout.splitlines())):
            program = command.split()[0]
            assert (ROOT / program).exists() or shutil.which(program), (
                f"make {target['target']} runs {program}"
            )
        if target["target"] == "serve":
            # the server every other block runs against is this recipe; it answers its liveness check
            assert any(c.strip() == server.recipe for c in done.stdout.splitlines())
            resp = httpx.get(server.url + "/healthz", timeout=5)
            assert (resp.status_code, resp.json()) == (200, {"status": "ok"})
            # and it printed the demo's credentials, the API keys included (the quickstart says so)
            printed = (server.home / "serve.log").read_text()
            assert f"{DEMO_ADMIN}" in printed
            assert f"password: {DEMO_PASSWORD}" in printed
            assert f"API key for {DEMO_COMPANY}: {server.demo_key()}" in printed


def _shims(server: DocsServer) -> Path:
    shims = server.home / "shims"
    if not shims.exists():
        shims.mkdir()
        curl = shutil.which("curl")
        assert curl, "the docs' curl examples need curl"
        (shims / "curl").write_text(CURL_SHIM.format(curl=curl))
        if not shutil.which("uuidgen"):  # util-linux's; the docs' readers have it, this machine may not
            (shims / "uuidgen").write_text(
                f"#!/bin/sh\nexec {sys.executable} -c 'import uuid; print(uuid.uuid4())'\n"
            )
        for shim in shims.iterdir():
            shim.chmod(0o755)
    return shims


async def _run_shell(block: Block, server: DocsServer) -> None:
    lines = [x for x in block.text.splitlines() if x.strip() and not x.strip().startswith("#")]
    if any(MAKE_LINE.match(x.strip()) for x in lines):
        _check_make_targets(block, server)
        return
    script = server.home / f"block-{block.line}.sh"
    script.write_text(await _fill(block.text, block, server))
    key, secret = _signed_company(server) if _uses_secret(block) else (server.demo_key(), "")
    env = server.env() | {
        "PATH": f"{_shims(server)}:{_bin_dir()}:{os.environ['PATH']}",
        "AW_API_KEY": key,
        "API_KEY": key,
        "AW_HMAC_SECRET": secret,
        "HMAC_SECRET": secret,
        "TOKEN": _token(server, block),
    }
    if block.output is not None:
        env["DOCS_CURL_AS_WRITTEN"] = "1"
    for name, value in block.env.items():
        env[name] = await _fill(value, block, server)
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", str(script)],
        cwd=server.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.id} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    if block.output is not None:
        _assert_output(block, done.stdout)


def _assert_output(block: Block, stdout: str) -> None:
    assert block.output is not None
    try:
        shown = json.loads(block.output)
    except ValueError:
        assert stdout.strip() == block.output.strip(), f"{block.id}: printed\n{stdout}"
        return
    _assert_matches(block, json.loads(stdout), shown)


async def _run_python(block: Block, server: DocsServer) -> None:
    key, secret = _signed_company(server) if _uses_secret(block) else (server.demo_key(), "")
    prelude = f"API_KEY = {key!r}\nSECRET = {secret!r}\nTOKEN = {_token(server, block)!r}\n"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", prelude + await _fill(block.text, block, server)],
        cwd=server.home,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.id} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    if block.output is not None:
        _assert_output(block, done.stdout)


async def _run_json(block: Block, server: DocsServer) -> None:
    body = await _fill(block.text, block, server)
    for name, value in block.env.items():
        expanded = json.dumps(await _fill(value, block, server))[1:-1]
        body = re.sub(rf"\${name}\b", lambda _, e=expanded: e, body)
    await _post_to_page_webhook(block, server, body)


async def _post_to_page_webhook(block: Block, server: DocsServer, body: str) -> None:
    page = (ROOT / block.path).read_text()
    path = WEBHOOK_PATH.search(page)
    assert path, (
        f"{block.id}: a JSON example is posted to the webhook its page names; {block.path} names none"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        resp = await client.post(
            path[1],
            content=body,
            headers={"content-type": "application/json", "x-api-key": server.demo_key()},
        )
    answer = resp.json()
    if block.output is not None:
        _assert_matches(block, answer, json.loads(block.output))
        return
    assert resp.status_code == 202, f"{block.id}: POST {path[1]} answered {resp.status_code} {resp.text}"
    assert answer["status"] == "received", answer
    assert answer["alert_ids"], answer
    for alert_id in answer["alert_ids"]:
        found = _graphql(server, f'{{ node(id: "{alert_id}") {{ ... on Alert {{ id }} }} }}', server.token)
        assert found == {"data": {"node": {"id": alert_id}}}, found


def _assert_matches(block: Block, actual: Any, shown: Any) -> None:
    assert answer_matches(actual, shown), (
        f"{block.id}: the output block below shows {shown}, the server answered {actual}"
    )


def _user_errors(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in (v if k == "userErrors" else _user_errors(v))]
    if isinstance(value, list):
        return [e for v in value for e in _user_errors(v)]
    return []


async def _run_graphql(block: Block, server: DocsServer) -> None:
    text = await _fill(block.text, block, server)
    document = parse(text)
    fragments = "\n".join(
        text[d.loc.start : d.loc.end]
        for d in document.definitions
        if d.kind == "fragment_definition" and d.loc
    )
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert operations, f"{block.id}: no operation"
    for op in operations:
        assert op.loc
        source = text[op.loc.start : op.loc.end] + "\n" + fragments
        if op.operation == OperationType.SUBSCRIPTION:
            payload = await _first_event(server, source, _token(server, block))
        else:
            payload = _graphql(server, source, _token(server, block))
        if block.output is not None:
            assert len(operations) == 1, f"{block.id}: an output block shows the answer of one operation"
            _assert_matches(block, payload, json.loads(block.output))
            continue
        assert "errors" not in payload, f"{block.id}: {payload}"
        assert _user_errors(payload["data"]) == [], f"{block.id}: {payload}"


async def _first_event(server: DocsServer, source: str, token: str) -> dict[str, Any]:
    """Subscribe and publish probe events (an incident of the demo company changed, an alert of it
    received, for `slaBreached` a response breach of that incident) until the subscription delivers
    one: it is live only once the server registered it."""
    incident = server.cache.get("incident") or await _fresh_incident(server)
    incident_id = parse_global_id(incident)[1]
    company_id = await _demo_company_id(server)
    conn = await asyncpg.connect(asyncpg_dsn(server.database_url))
    alert_id = await conn.fetchval(
        "SELECT id FROM alerts WHERE incident_id = $1 LIMIT 1", uuid.UUID(str(incident_id))
    )
    probes = [
        {"topic": topic(company_id, "incidents"), "kind": "UPDATED", "id": str(incident_id)},
        {"topic": topic(company_id, "alerts"), "kind": "RECEIVED", "ids": [str(alert_id)]},
    ]
    if "slaBreached" in source:
        # A breach as the monitor records it (its `sla_events` row), announced as the monitor does.
        breach = await conn.fetchval(
            "INSERT INTO sla_events (company_id, incident_id, clock, kind, deadline, at)"
            " VALUES ($1, $2, 'response', 'breach', now(), now()) RETURNING id",
            company_id,
            uuid.UUID(str(incident_id)),
        )
        probes.append({"topic": topic(company_id, SLA_TOPIC), "kind": "response", "id": str(breach)})
    ws_url = server.url.replace("http://", "ws://") + "/graphql"
    try:
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                orjson.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {token}"} if token else {},
                    }
                ).decode()
            )
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": source}}).decode()
            )
            for _ in range(50):
                for probe in probes:
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, orjson.dumps(probe).decode())
                try:
                    message = orjson.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except TimeoutError:
                    continue
                if message["type"] == "next":
                    return dict(message["payload"])
                raise AssertionError(f"subscription answered {message}")
            raise AssertionError("the subscription delivered no event")
    finally:
        await conn.close()


async def _tool_env(block: Block, server: DocsServer) -> dict[str, str]:
    """The tool's parameters/macros from `run-env`, stand-ins replaced ($AW_HMAC_SECRET too: a tool
    holds the secret as one of its own parameters)."""
    filled = {name: await _fill(value, block, server) for name, value in block.env.items()}
    if _uses_secret(block):
        secret = _signed_company(server)[1]
        filled = {name: re.sub(r"\$(AW_)?HMAC_SECRET\b", secret, value) for name, value in filled.items()}
    return filled


def _assert_received(block: Block, done: subprocess.CompletedProcess[str]) -> None:
    """The tool's request was accepted and stored an alert (the webhook's answer is on stdout)."""
    assert done.returncode == 0, f"{block.id} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert json.loads(done.stdout)["status"] == "received", f"{block.id}: {done.stdout}"


async def _run_nagios_command(block: Block, server: DocsServer) -> None:
    """The `command_line` of a Nagios command definition, its `$MACRO$`s expanded (an unset macro is
    empty, as in Nagios), run by the shell as Nagios runs a command with shell characters in it."""
    [line] = re.findall(r"^\s*command_line\s+(.+)$", await _fill(block.text, block, server), re.M)
    macros = await _tool_env(block, server)
    command = re.sub(r"\$([A-Z0-9_]+)\$", lambda m: macros.get(m[1], ""), line)
    done = await asyncio.to_thread(
        subprocess.run,
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=server.home,
    )
    _assert_received(block, done)


ZABBIX_RUNTIME = """
// Zabbix's webhook JavaScript API, as much of it as a media type script uses
const {{ execFileSync }} = require("child_process");
class HttpRequest {{
  constructor() {{ this.headers = []; this.status = 0; }}
  addHeader(header) {{ this.headers.push(header); }}
  post(url, body) {{
    const args = ["-sS", "-w", "\\n%{{http_code}}", "-X", "POST", "--data-binary", "@-", url];
    for (const h of this.headers) args.push("-H", h);
    const out = execFileSync("curl", args, {{ input: body }}).toString();
    const cut = out.lastIndexOf("\\n");
    this.status = parseInt(out.slice(cut + 1), 10);
    process.stdout.write(out.slice(0, cut) + "\\n");
    return out.slice(0, cut);
  }}
  getStatus() {{ return this.status; }}
}}
// Zabbix's global hmac(hash type, key, text): the HMAC as lower-case hex
function hmac(type, key, text) {{
  return require("crypto").createHmac(type, key).update(text, "utf8").digest("hex");
}}
const value = process.env.ZABBIX_VALUE;
const result = (function (value) {{
{script}
}})(value);
process.stdout.write(String(result) + "\\n");
"""


async def _run_zabbix_script(block: Block, server: DocsServer) -> None:
    """A Zabbix webhook media type's script, given the media type's parameters (`run-env`) as `value`."""
    node = shutil.which("node")
    assert node, "the Zabbix script runs under node, as Zabbix runs it under its JavaScript engine"
    script = server.home / f"zabbix-{block.line}.js"
    script.write_text(ZABBIX_RUNTIME.format(script=await _fill(block.text, block, server)))
    params = json.dumps(await _tool_env(block, server))
    done = await asyncio.to_thread(
        subprocess.run,
        [node, str(script)],
        env=dict(os.environ) | {"ZABBIX_VALUE": params},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.id} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    answer, result = done.stdout.strip().splitlines()
    assert result == "OK", done.stdout
    assert json.loads(answer)["status"] == "received", answer


async def _run_newrelic_template(block: Block, server: DocsServer) -> None:
    """A New Relic workflow payload template, rendered as New Relic renders it (`{{json x}}` is x as
    JSON, `{{x}}` x itself) with the `run-env` values (JSON where they parse) for its variables, and
    posted to the page's webhook."""
    values = await _tool_env(block, server)

    def value(name: str) -> Any:
        assert name in values, f"{block.id}: no run-env value for the template's {name}"
        try:
            return json.loads(values[name])
        except ValueError:
            return values[name]

    def render(m: re.Match[str]) -> str:
        helper, name = (m[1], m[2]) if m[2] else (None, m[1])
        return json.dumps(value(name)) if helper == "json" else str(value(name))

    body = re.sub(r"\{\{\s*([\w.\[\]]+)(?:\s+([\w.\[\]]+))?\s*\}\}", render, block.text)
    await _post_to_page_webhook(block, server, body)


async def _run_icinga_command(block: Block, server: DocsServer) -> None:
    """An Icinga 2 NotificationCommand: the script above it on the page (the nearest shell block) run
    with the command's `env`, its `$macro$`s expanded from `run-env` (an unset one is empty)."""
    from tests.docs_blocks import blocks_of

    [script] = [
        b for b in blocks_of(ROOT / block.path) if b.line < block.line and b.language in ("sh", "bash")
    ][-1:]
    macros = await _tool_env(block, server)
    text = await _fill(block.text, block, server)
    [env_body] = re.findall(r"\benv\s*=\s*\{(.*?)\n\s*\}", text, re.S)
    env = {
        name: re.sub(r"\$([\w.]+)\$", lambda m: macros.get(m[1], ""), value)
        for name, value in re.findall(r'^\s*(\w+)\s*=\s*"(.*)"\s*$', env_body, re.M)
    }
    path = server.home / f"icinga-{block.line}.sh"
    path.write_text(script.text)
    done = await asyncio.to_thread(
        subprocess.run,
        ["/bin/sh", str(path)],
        env={"PATH": os.environ["PATH"]} | env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=server.home,
    )
    _assert_received(block, done)


def _alertmanager_batch(size: int) -> dict[str, Any]:
    """A webhook v4 notification of `size` firing alerts, as Alertmanager sends a group."""
    from datetime import UTC, datetime

    started = datetime.now(UTC).isoformat()
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighCPU"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alertwhisperer",
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighCPU", "instance": f"web-{n:03}:9100", "severity": "critical"},
                "annotations": {"summary": f"CPU above 90% on web-{n:03}"},
                "startsAt": started,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{uuid.uuid4().int:016x}"[:16],
            }
            for n in range(size)
        ],
    }


async def _run_alertmanager_config(block: Block, server: DocsServer) -> None:
    """An Alertmanager configuration: each webhook receiver gets a group of as many alerts as its
    `max_alerts` lets one request carry, at its URL (for a company of its own, so the batch does not
    use up the demo company's rate-limit bucket); the route must name a receiver that exists."""
    import yaml

    config = yaml.safe_load(await _fill(block.text, block, server))
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers, f"{block.id}: the route names no receiver"
    hooks = [w for r in receivers.values() for w in r.get("webhook_configs", [])]
    assert hooks, f"{block.id}: no webhook receiver"
    for hook in hooks:
        url = re.sub(r"api_key=[^&]+", "api_key=" + _fresh_company(server, key=True), hook["url"])
        batch = _alertmanager_batch(int(hook.get("max_alerts") or 1))
        resp = await asyncio.to_thread(httpx.post, url, json=batch, timeout=60)
        assert resp.status_code == 202, f"{block.id}: {url} answered {resp.status_code} {resp.text}"
        assert len(resp.json()["alert_ids"]) == len(batch["alerts"])


TOOL_RUNNERS = {
    "alertmanager": _run_alertmanager_config,
    "icinga": _run_icinga_command,
    "nagios": _run_nagios_command,
    "zabbix": _run_zabbix_script,
    "newrelic": _run_newrelic_template,
}


RUNNERS = {
    "sh": _run_shell,
    "bash": _run_shell,
    "shell": _run_shell,
    "graphql": _run_graphql,
    "json": _run_json,
    "python": _run_python,
}
assert set(RUNNERS) == RUNNABLE


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
async def test_doc_block(block: Block, docs_server: DocsServer) -> None:
    if block.run_by is not None:
        assert block.run_by in TOOL_RUNNERS, (
            f"{block.id}: no tool runner {block.run_by!r} ({sorted(TOOL_RUNNERS)})"
        )
        await TOOL_RUNNERS[block.run_by](block, docs_server)
        return
    runner = RUNNERS.get(block.language)
    assert runner, (
        f"{block.id}: a ```{block.info} block is neither run nor marked: give it a runnable language "
        f"({', '.join(sorted(RUNNABLE))}), ```text / ```<lang> output, or <!-- not-run: reason --> above it"
    )
    await runner(block, docs_server)


def test_every_block_not_run_says_why() -> None:
    every = all_blocks()
    assert len(every) > 10  # the parser finds the docs' blocks
    assert [b.id for b in every if b.not_run is not None and not b.not_run.strip()] == []


def _table_rows(heading: str) -> list[list[str]]:
    """The rows of the first table under README's `## heading`, as cells (header and rule left out)."""
    section = (ROOT / "README.md").read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    table: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in table[2:]]


def test_the_commands_table_is_the_cli():
    import argparse

    from graph.cli import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    documented: dict[str, str] = {}
    for cells in _table_rows("Commands"):
        usage = cells[0].strip("`").replace("\\|", "|")
        assert usage.startswith("alertwhisperer "), cells
        documented[usage.split()[1]] = usage
    # every command is in the table, and the table names no other
    assert sorted(documented) == sorted(commands.choices)
    for name, usage in documented.items():
        options = {o: a for a in commands.choices[name]._actions for o in a.option_strings}
        named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage.split(maxsplit=2)[-1]))
        for option in named:
            assert option in options, f"`{usage}`: alertwhisperer {name} has no {option}"
        # and every option of the command is in its row
        for action in commands.choices[name]._actions:
            if action.option_strings and action.dest != "help":
                assert named & set(action.option_strings), f"`{usage}` leaves out {action.option_strings}"
        for option, values in re.findall(r"(--[\w-]+) ((?:\w+\|)+\w+)", usage):
            assert sorted(values.split("|")) == sorted(options[option].choices), usage


def test_the_configuration_table_is_what_the_settings_read(tmp_path):
    from graph.settings import Settings

    documented = {cells[0].strip("`"): cells[1] for cells in _table_rows("Configuration")}
    read = set(
        re.findall(r'"((?:ALERTWHISPERER_\w+)|DATABASE_URL)"', (ROOT / "graph/settings.py").read_text())
    )
    assert sorted(documented) == sorted(read)
    # the defaults the table states are the ones a bare environment gets
    settings = Settings.from_env({"ALERTWHISPERER_HOME": str(tmp_path)})
    stated = {
        "ALERTWHISPERER_TOKEN_TTL_SECONDS": settings.token_ttl_seconds,
        "ALERTWHISPERER_WORKERS": settings.workers == "process" and "process",
        "ALERTWHISPERER_DB_POOL_SIZE": settings.db_pool_size,
        "ALERTWHISPERER_BCRYPT_ROUNDS": settings.bcrypt_rounds,
        "ALERTWHISPERER_SNS_VERIFY": int(settings.sns_verify),
        "ALERTWHISPERER_LOG_LEVEL": settings.log_level,
        "ALERTWHISPERER_READY_MAX_LAG_SECONDS": int(settings.ready_max_lag_seconds),
    }
    assert {name: documented[name] for name in stated} == {
        name: f"`{value}`" for name, value in stated.items()
    }
    assert settings.allowed_origins == ()
    assert documented["ALERTWHISPERER_ALLOWED_ORIGINS"] == "empty"


async def test_a_block_neither_runnable_nor_marked_fails_its_test():
    unmarked = Block(Path("docs/new.md"), 7, "", "POST /api/webhooks/<tool>\n")
    with pytest.raises(AssertionError, match=r"docs/new.md:7: a ``` block is neither run nor marked"):
        await test_doc_block(unmarked, docs_server=None)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"docs/new.md:7: a ```http block is neither run nor marked"):
        await test_doc_block(Block(Path("docs/new.md"), 7, "http", "GET /healthz\n"), docs_server=None)  # type: ignore[arg-type]
