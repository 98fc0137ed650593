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


@cache
def dashboard_html() -> str:
    """The page, with the demo tenant's sign-ins filled in (the same ones `serve --demo` prints)."""
    page = (ASSET_DIR / "index.html").read_text()
    rows = "\n".join(
        f'<li><button type="button" class="link demo-user" data-email="{html.escape(u["email"])}">'
        f'{html.escape(u["email"])}</button> <span class="role">{html.escape(u["role"].value)}</span></li>'
        for u in USERS
    )
    block = (
        f'<ul class="demo-users">\n{rows}\n</ul>\n'
        f'<p>Password for all of them: <code id="demo-password">{html.escape(DEMO_PASSWORD)}</code></p>'
    )
    return page.replace(_CREDENTIALS_MARK, block)


async def dashboard_page(_: Request) -> HTMLResponse:
    # The page names its assets by path, so it must not be cached past an upgrade of the package.
    return HTMLResponse(dashboard_html(), headers={"cache-control": "no-cache"})


def dashboard_assets() -> StaticFiles:
    return StaticFiles(directory=ASSET_DIR)
