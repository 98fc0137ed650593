"""The signing examples in docs/integrations run as written against a real server and are accepted
on integrations that require signed requests (and the same request unsigned is refused there)."""

from __future__ import annotations

import asyncio
import re
from asyncio.subprocess import PIPE
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from domain.alerts import Tool
from domain.rbac import Role
from tests.live import live_servers
from tests.unit.payloads import load

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs" / "integrations"
EXAMPLE_HOST = "https://alertwhisperer.example.com"


def _block(doc: str, language: str, after: str = "", containing: str = "") -> str:
    """The first ```language block of `doc` after the heading `after` that contains `containing`."""
    text = (DOCS / doc).read_text()
    if after:
        text = text[text.index(after) :]
    blocks = re.findall(rf"```{language}\n(.*?)```", text, re.S)
    return next(b for b in blocks if containing in b)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_servers(database_url, tmp_path_factory.mktemp("signing-docs")) as urls:
        yield urls[0]


@pytest.fixture
async def signing_company(factory):
    company = await factory.company()
    async with factory.uow() as uow:
        await uow.companies.set_webhook_security(
            company.id,
            None,
            False,
            integrations=[(Tool.GENERIC, True), (Tool.ICINGA, True), (Tool.NAGIOS, True)],
        )
    return company


async def _assets(services, company) -> set[str]:
    rows = await services.pool.fetch("SELECT asset_name FROM alerts WHERE company_id = $1", company.id)
    return {r["asset_name"] for r in rows}


async def _run(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[int | None, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env)
    async with asyncio.timeout(30):
        out, err = await proc.communicate(stdin)
    return proc.returncode, out, err


def _script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "example.sh"
    path.write_text(text)
    return str(path)


async def test_the_readme_curl_and_python_examples_are_accepted_signed(
    server, signing_company, services, tmp_path
):
    company = signing_company
    # uuidgen is not on every machine; the example only needs a unique id from it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uuidgen").write_text("#!/bin/sh\npython3 -c 'import uuid; print(uuid.uuid4())'\n")
    (bin_dir / "uuidgen").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "AW_API_KEY": company.api_key,
        "AW_HMAC_SECRET": company.hmac_secret,
    }
    curl = _block("README.md", "bash", containing="openssl dgst").replace(EXAMPLE_HOST, server)
    code, out, err = await _run(["bash", "-c", curl], env)
    assert code == 0, err
    assert orjson.loads(out)["status"] == "received"

    python = _block("README.md", "python", containing="hmac.new").replace(EXAMPLE_HOST, server)
    python = python.replace('"web-01"', '"web-02"')  # another alert: the same one would be a replay
    exec(
        compile(python, "docs/integrations/README.md", "exec"),
        {"SECRET": company.hmac_secret, "API_KEY": company.api_key},
    )

    assert await _assets(services, company) == {"web-01", "web-02"}


async def test_the_icinga_signed_script_is_accepted(server, signing_company, services, tmp_path):
    company = signing_company
    script = _block("icinga.md", "sh", after="## Signed requests")
    payload = load("icinga_service_problem")
    env = {
        "PATH": "/usr/bin:/bin",
        "AW_URL": server + "/api/webhooks/icinga",
        "AW_API_KEY": company.api_key,
        "AW_HMAC_SECRET": company.hmac_secret,
        **{key.upper().replace(".", "_"): value for key, value in payload.items()},
    }
    code, _, err = await _run(["sh", _script(tmp_path, script)], env)
    assert code == 0, err
    assert await _assets(services, company) == {"fileserver-3"}

    # and the unsigned script (the one for integrations that do not require signing) is refused here
    unsigned = _block("icinga.md", "sh", containing="Posts the Icinga 2 notification in the environment to")
    code, _, err = await _run(["sh", _script(tmp_path, unsigned)], env)
    assert code != 0
    assert "403" in err.decode()


async def test_the_nagios_signing_script_is_accepted(server, signing_company, services, tmp_path):
    company = signing_company
    secret_file = tmp_path / "alertwhisperer.secret"
    secret_file.write_text(company.hmac_secret)
    script = _block("nagios.md", "sh", after="## Signed requests").replace(
        "/etc/nagios/alertwhisperer.secret", str(secret_file)
    )
    code, _, err = await _run(
        ["sh", _script(tmp_path, script), server + "/api/webhooks/nagios", company.api_key],
        {"PATH": "/usr/bin:/bin"},
        orjson.dumps(load("nagios_service_problem"), option=orjson.OPT_INDENT_2),
    )
    assert code == 0, err
    assert await _assets(services, company) == {"mail01"}


async def test_the_docs_graphql_example_sets_signing_per_integration(gql, factory):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    document = _block("README.md", "graphql", containing="companyWebhookSecurityUpdate")
    body = await gql(document.replace("<company id>", company.gid), token=admin.token)
    payload = body["data"]["companyWebhookSecurityUpdate"]
    assert payload["userErrors"] == []
    signed = {i["tool"] for i in payload["company"]["integrations"] if i["requireSignature"]}
    assert signed == {"GENERIC", "ZABBIX"}


def test_the_docs_signing_table_matches_what_the_api_says_can_sign():
    from domain.signing import NATIVE_SIGNING

    table = (DOCS / "README.md").read_text().split("### Which integrations must sign", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (yes|no) \|", table, re.M)
    assert {tool: answer == "yes" for tool, answer in rows} == {t.value: t in NATIVE_SIGNING for t in Tool}
