"""GraphiQL works without internet access: the page loads only files the app itself serves."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from graph.dashboard import ASSET_DIR as DASHBOARD_DIR
from graph.graphiql import ASSET_PREFIX, CDN_ASSETS

ROOT = Path(__file__).resolve().parents[2]
TAG = re.compile(r"<(script|link)\b([^>]*)>", re.S)
ATTR = re.compile(r'\b(src|href|integrity)="([^"]*)"')


def _assets(html: str) -> list[dict[str, str]]:
    return [dict(ATTR.findall(attrs)) for _, attrs in TAG.findall(html)]


async def test_the_graphiql_page_loads_nothing_from_another_host(client):
    # given a browser asking /graphql for a page
    # when it loads GraphiQL
    resp = await client.get("/graphql", headers={"accept": "text/html"})

    # then every script and stylesheet is a path on this server (the favicon is an inline data URI)
    assert resp.status_code == 200
    assert "<title>Strawberry GraphiQL</title>" in resp.text
    refs = [a.get("src") or a.get("href") for a in _assets(resp.text)]
    assert "unpkg.com" not in resp.text
    external = [r for r in refs if r and not r.startswith(("/", "data:"))]
    assert external == []
    assert sorted(r for r in refs if r and r.startswith("/")) == sorted(
        f"{ASSET_PREFIX}/{name}" for name in CDN_ASSETS.values()
    )


async def test_every_graphiql_asset_is_served_and_matches_its_integrity_hash(client):
    # given the page's scripts and stylesheets, each with the SRI hash the browser checks
    page = (await client.get("/graphql", headers={"accept": "text/html"})).text
    local = [a for a in _assets(page) if (a.get("src") or a.get("href", "")).startswith("/")]
    assert len(local) == len(CDN_ASSETS)

    for asset in local:
        # when the browser fetches each of them
        path = asset.get("src") or asset["href"]
        resp = await client.get(path)

        # then it is served with the right type, and its bytes are the ones the page's hash names
        assert resp.status_code == 200, path
        kind = "text/css" if path.endswith(".css") else "javascript"
        assert kind in resp.headers["content-type"], path
        digest = base64.b64encode(hashlib.sha384(resp.content).digest()).decode()
        assert asset["integrity"] == f"sha384-{digest}", path


async def test_an_unknown_asset_is_a_404(client):
    assert (await client.get(f"{ASSET_PREFIX}/../graph/app.py")).status_code == 404
    assert (await client.get(f"{ASSET_PREFIX}/nope.js")).status_code == 404


def test_the_wheel_ships_the_graphiql_and_dashboard_assets(tmp_path):
    # given the package built as a wheel, the way the Docker image installs it (from a copy of the
    # sources, so the build leaves nothing in the work tree)
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    for package in ("domain", "db", "adapters", "graph", "migrations"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("alertwhisperer-*.whl")

    # when its files are listed
    names = set(zipfile.ZipFile(wheel).namelist())

    # then every vendored file is inside it, and every file of the dashboard (one wheel build for both)
    missing = [n for n in CDN_ASSETS.values() if f"graph/static/graphiql/{n}" not in names]
    assert missing == []
    dashboard = sorted(p.name for p in DASHBOARD_DIR.iterdir() if p.is_file())
    assert {"index.html", "app.js", "api.js", "dom.js", "dashboard.css"} <= set(dashboard)
    assert [n for n in dashboard if f"graph/static/dashboard/{n}" not in names] == []
