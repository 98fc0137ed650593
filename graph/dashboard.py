"""The live dashboard: one page at `/` (and `/incidents/<id>`, where notification emails link), and its
scripts and styles under `ASSET_PREFIX`, all shipped in the package.

The page is plain HTML, ES modules and CSS: nothing to build and nothing loaded from another host. It
talks only to the public GraphQL API (queries, mutations, and subscriptions over graphql-transport-ws
on the same origin). No inline script, style or event handler, so a strict Content-Security-Policy
(`script-src 'self'`) holds.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from graph.demo import DEMO_PASSWORD, USERS

ASSET_PREFIX = "/static/dashboard"
ASSET_DIR = Path(__file__).parent / "static" / "dashboard"
_CREDENTIALS_MARK = "<!-- demo-credentials -->"


# Is there a demo tenant? Only then does the page show its sign-ins: a production deployment never
# advertises a password, even one no account of it has.
DEMO_PRESENT = "SELECT EXISTS (SELECT 1 FROM companies WHERE demo AND deleted_at IS NULL)"


@cache
def dashboard_html(demo: bool) -> str:
    """The page; with `demo`, the demo tenant's sign-ins filled in (the same ones `serve --demo` prints)."""
    page = (ASSET_DIR / "index.html").read_text()
    if not demo:
        return page.replace(_CREDENTIALS_MARK, "")
    rows = "\n".join(
        f'<li><button type="button" class="link demo-user" data-email="{html.escape(u["email"])}">'
        f'{html.escape(u["email"])}</button> <span class="role">{html.escape(u["role"].value)}</span></li>'
        for u in USERS
    )
    block = (
        '<aside class="card demo-credentials" aria-labelledby="demo-title">\n'
        '<h2 id="demo-title">Demo credentials</h2>\n'
        "<p>The demo tenant that <code>make serve</code> seeds. Choose a user to fill in the form.</p>\n"
        f'<ul class="demo-users">\n{rows}\n</ul>\n'
        f'<p>Password for all of them: <code id="demo-password">{html.escape(DEMO_PASSWORD)}</code></p>\n'
        "</aside>"
    )
    return page.replace(_CREDENTIALS_MARK, block)


async def dashboard_page(request: Request) -> HTMLResponse:
    async with request.app.state.services.pool.acquire() as conn:
        demo = bool(await conn.fetchval(DEMO_PRESENT))
    # The page names its assets by path, so it must not be cached past an upgrade of the package.
    return HTMLResponse(dashboard_html(demo), headers={"cache-control": "no-cache"})


def dashboard_assets() -> StaticFiles:
    return StaticFiles(directory=ASSET_DIR)
