"""The dashboard page and its assets: served with the right types, from this server only, and nothing
in them a strict Content-Security-Policy would block (inline scripts, handlers or style attributes)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from graph.dashboard import ASSET_DIR, ASSET_PREFIX
from graph.demo import DEMO_PASSWORD, USERS
from tests.helpers import Factory

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}
# The one absolute URL the files may hold: SVG's XML namespace, a name that is never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg"}
URL = re.compile(r"""(?:https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*""", re.I)
REFERENCE = re.compile(
    r"""<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]*)"|\bimport\b[^'"]*['"]([^'"]+)['"]"""
)


def _assets() -> list[Path]:
    return sorted(p for p in ASSET_DIR.iterdir() if p.is_file())


async def test_the_page_is_served_at_the_root_and_at_an_incidents_address(client):
    # when a browser opens / or an incident's address (the one notification emails link to)
    for path in ("/", "/incidents/SW5jaWRlbnQ6MQ"):
        resp = await client.get(path)

        # then it gets the dashboard's HTML, never cached past an upgrade
        assert resp.status_code == 200, path
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        assert resp.headers["cache-control"] == "no-cache"
        assert "<title>AlertWhisperer · Live dashboard</title>" in resp.text
        # under the server's strict policy (graph/security.py), which the page needs nothing beyond
        assert "script-src 'self';" in resp.headers["content-security-policy"]


@asynccontextmanager
async def _demo_tenant(services: Any, present: bool) -> AsyncIterator[None]:
    """The database with a demo company (`present`) or with none, as it was again afterwards."""
    async with services.pool.acquire() as conn:
        if present:
            company = await Factory(services).company()
            changed = [company.id]
            await conn.execute("UPDATE companies SET demo = true WHERE id = $1", company.id)
        else:
            changed = [
                r["id"] for r in await conn.fetch("UPDATE companies SET demo = false WHERE demo RETURNING id")
            ]
        try:
            yield
        finally:
            await conn.execute("UPDATE companies SET demo = NOT demo WHERE id = ANY($1)", changed)


async def test_the_sign_in_form_is_labelled_and_shows_the_demo_credentials(client, services):
    # given a database with the demo tenant (serve --demo, seed-demo)
    async with _demo_tenant(services, present=True):
        page = (await client.get("/")).text

    # then the form is labelled, and the demo's sign-ins fill it in
    for field, kind in (("email", "email"), ("password", "password")):
        assert f'<label for="{field}">{field.capitalize()}</label>' in page
        assert f'<input id="{field}" name="{field}" type="{kind}"' in page
    assert re.search(r'<button type="submit"[^>]*>Sign in</button>', page)
    assert '<h2 id="demo-title">Demo credentials</h2>' in page
    for user in USERS:
        assert f'data-email="{user["email"]}">{user["email"]}</button>' in page
    assert f'<code id="demo-password">{DEMO_PASSWORD}</code>' in page
    assert "<!-- demo-credentials -->" not in page


async def test_a_deployment_without_the_demo_tenant_shows_no_credentials(client, services):
    # given a database without any demo company (a production deployment)
    async with _demo_tenant(services, present=False):
        page = (await client.get("/")).text

    # then the sign-in form is there, and no password nor demo user is advertised
    assert re.search(r'<button type="submit"[^>]*>Sign in</button>', page)
    assert DEMO_PASSWORD not in page
    assert "Demo credentials" not in page
    assert not any(user["email"] in page for user in USERS)


async def test_every_asset_is_served_with_its_content_type(client):
    page = (await client.get("/")).text
    referenced = {m[0] or m[1] for m in REFERENCE.findall(page)}
    assert referenced == {f"{ASSET_PREFIX}/{n}" for n in ("favicon.svg", "dashboard.css", "app.js")}

    for asset in _assets():
        resp = await client.get(f"{ASSET_PREFIX}/{asset.name}")
        assert resp.status_code == 200, asset.name
        assert resp.headers["content-type"].split(";")[0] == TYPES[asset.suffix], asset.name
        assert resp.content == asset.read_bytes()


async def test_the_modules_import_only_each_other(client):
    names = {p.name for p in _assets()}
    imports = {
        m.name: [t for _, t in REFERENCE.findall(m.read_text())] for m in _assets() if m.suffix == ".js"
    }
    assert sorted(imports["app.js"]) == ["./api.js", "./dom.js"]
    for module, targets in imports.items():
        for target in targets:
            # then each import is a sibling file the server serves (a module import is a fetch)
            assert target.startswith("./"), (module, target)
            assert target[2:] in names, (module, target)
            assert (await client.get(f"{ASSET_PREFIX}/{target[2:]}")).status_code == 200


@pytest.mark.parametrize("name", [p.name for p in _assets()])
def test_no_asset_names_another_host(name):
    text = (ASSET_DIR / name).read_text()
    assert [u for u in URL.findall(text) if u not in NAMESPACES] == [], name


@pytest.mark.parametrize("name", [p.name for p in _assets() if p.suffix in (".html", ".js")])
def test_nothing_a_strict_csp_blocks(name):
    text = (ASSET_DIR / name).read_text()
    # no inline script (only `<script ... src=...></script>`), no inline handlers, no style attributes
    for script in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S):
        assert "src=" in script[0], name
        assert script[1].strip() == "", name
    assert not re.search(r"""\son[a-z]+\s*=\s*["']""", text), name
    assert not re.search(r"""\sstyle\s*=\s*["']|setAttribute\(\s*["']style""", text), name
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
        assert unsafe not in text, (name, unsafe)
    # the live connection goes to this page's own origin
    if name.endswith(".js") and "WebSocket(" in text:
        assert "window.location.host" in text


async def test_an_unknown_asset_is_a_404(client):
    assert (await client.get(f"{ASSET_PREFIX}/../dashboard.py")).status_code == 404
    assert (await client.get(f"{ASSET_PREFIX}/nope.js")).status_code == 404
