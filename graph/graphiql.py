"""GraphiQL without the internet: its scripts and styles are served from the package.

Strawberry's GraphiQL page loads React, GraphiQL and the explorer plugin from a CDN, so on a machine
without internet access (an air-gapped MSP network, a laptop on a train) `/graphql` is a blank page.
The same files, byte for byte (the page's `integrity` hashes still hold), ship in `graph/static/graphiql`
(from the packages' npm tarballs, with their licences) and are served under `ASSET_PREFIX`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

ASSET_PREFIX = "/static/graphiql"
ASSET_DIR = Path(__file__).parent / "static" / "graphiql"

# The CDN address in Strawberry's page -> the vendored file. Versions are the ones the page pins.
CDN_ASSETS = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}


class GraphiqlPageError(RuntimeError):
    """Strawberry's page no longer loads the files we ship (a Strawberry upgrade changed it)."""


@cache
def graphiql_html() -> str:
    """Strawberry's GraphiQL page with every CDN address replaced by the vendored file's."""
    html = get_graphql_ide_html("graphiql")
    for url, name in CDN_ASSETS.items():
        if url not in html:
            raise GraphiqlPageError(f"Strawberry's GraphiQL page no longer loads {url}: update CDN_ASSETS")
        html = html.replace(url, f"{ASSET_PREFIX}/{name}")
    return html


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


@cache
def graphiql_csp() -> str:
    """The page's Content-Security-Policy: the server's own files, and the page's one inline script
    by its hash (Strawberry writes it into the page; no other inline script can run). Its inline
    style sheet and the styles GraphiQL sets are allowed: styles run no code."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(graphiql_html())
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


def graphiql_assets() -> StaticFiles:
    return StaticFiles(directory=ASSET_DIR)
