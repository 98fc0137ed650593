"""Security headers on every answer; CORS only for the origins listed; websocket origins checked."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import websockets

from graph.security import CONTENT_SECURITY_POLICY
from tests.live import live_servers

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
ALERT = orjson.dumps({"asset_name": "web-01", "signature": "cpu", "severity": "high", "message": "hot"})


def assert_secured(resp: httpx.Response, csp: str = CONTENT_SECURITY_POLICY) -> None:
    for name, value in (EXPECTED | {"content-security-policy": csp}).items():
        assert resp.headers.get_list(name) == [value], (resp.request.url, name)


async def test_every_kind_of_answer_carries_the_security_headers(client, factory):
    company = await factory.company()
    json = {"content-type": "application/json"}
    answers = [
        await client.get("/healthz"),
        await client.get("/readyz"),
        await client.get("/metrics"),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/graphql", json={"query": "{ nope }"}),  # a GraphQL error
        await client.get("/no/such/page"),  # 404
        await client.get("/static/graphiql/graphiql.min.css"),
        # the webhook fast path: accepted, refused before and after the key, wrong method
        await client.post(
            "/api/webhooks/alerts", content=ALERT, headers=json | {"x-api-key": company.api_key}
        ),
        await client.post("/api/webhooks/alerts", content=ALERT, headers=json),
        await client.post(
            "/api/webhooks/alerts", content=b"{", headers=json | {"x-api-key": company.api_key}
        ),
        await client.get("/api/webhooks/alerts"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 404, 200, 202, 401, 400, 405]
    for resp in answers:
        assert_secured(resp)


async def test_graphiql_runs_only_its_own_scripts(client):
    # when a browser opens GraphiQL
    resp = await client.get("/graphql", headers={"accept": "text/html"})

    # then the policy allows the server's files and the page's one inline script, by its hash
    assert resp.status_code == 200
    csp = resp.headers["content-security-policy"]
    assert_secured(resp, csp)
    scripts = re.findall(r"<script>(.*?)</script>", resp.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src "))
    assert script_src == f"script-src 'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in script_src
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    # every other script is one of the server's own files
    for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', resp.text):
        assert src.startswith("/static/graphiql/"), src


async def test_without_cors_origins_no_cross_origin_call_is_allowed(client):
    # a preflight and a call from another origin get no CORS grant: the browser refuses both
    preflight = await client.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    call = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )
    assert call.status_code == 200
    assert "access-control-allow-origin" not in call.headers


@pytest.fixture
async def cors_client(settings: Any, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    from graph.app import create_app

    app = create_app(
        dataclasses.replace(settings, cors_origins=("https://ops.example.com",)),
        database_url=database_url,
        migrate=False,
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            yield c


async def test_a_listed_origin_gets_preflights_and_calls_answered(cors_client):
    # when the listed origin's page preflights a GraphQL POST with a bearer token
    preflight = await cors_client.options(
        "/graphql",
        headers={
            "origin": "https://ops.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )

    # then it is allowed, for GET/POST with those headers, without cookies
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert set(preflight.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert_secured(preflight)
    call = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://ops.example.com"}
    )
    assert call.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "x-request-id" in call.headers["access-control-expose-headers"].lower()

    # and another origin is refused
    other = await cors_client.options(
        "/graphql", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_cors_origins_are_read_and_checked():
    from graph.settings import Settings, SettingsError
    from tests.conftest import TEST_SECRETS

    env = TEST_SECRETS | {"ALERTWHISPERER_HOME": "/tmp/aw-settings-test"}
    read = Settings.from_env(
        env | {"ALERTWHISPERER_CORS_ORIGINS": "https://a.example/, http://b.example:8080"}
    )
    assert read.cors_origins == ("https://a.example", "http://b.example:8080")
    assert Settings.from_env(env).cors_origins == ()
    with pytest.raises(SettingsError, match="not an origin"):
        Settings.from_env(env | {"ALERTWHISPERER_CORS_ORIGINS": "a.example"})


async def test_websocket_origins_other_than_the_listed_ones_are_refused(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ALERTWHISPERER_ALLOWED_ORIGINS", "https://ops.example.com")
    with live_servers(database_url, tmp_path) as (url,):
        ws_url = url.replace("http://", "ws://") + "/graphql"
        # a listed origin is let in
        async with websockets.connect(
            ws_url, subprotocols=["graphql-transport-ws"], origin="https://ops.example.com"
        ) as ws:
            assert ws.subprotocol == "graphql-transport-ws"
        # another is refused at the handshake
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(
                ws_url, subprotocols=["graphql-transport-ws"], origin="https://evil.example"
            ):
                pass
        assert refused.value.response.status_code == 403
