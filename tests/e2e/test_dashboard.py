"""The live dashboard end to end: a real `alertwhisperer serve --demo` process (workers in-process) and
the page in headless Chromium (Debian's package, driven by Playwright), while alerts stream in.

Playwright's `expect(...)` waits until the page shows what is asserted (up to its timeout): those are
waits for live updates, not timed assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from domain.signing import sign
from graph.demo import DEMO_PASSWORD
from tests.live import ROOT, free_port, scratch_database, server_env

CHROMIUM = "/usr/bin/chromium"
# The closed network refuses Chromium's own background connections: none are made.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LIVE = 20_000  # ms: the bound of a wait for a live update (a broken page, never the normal case)
COMPANY = "Acme Retail"
ADMIN = "admin@msp.example"
INSTANCE = "i-0e2e0000000000001"


class Server:
    """`alertwhisperer serve --demo` on a fixed port, which the test can stop and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graph.cli", "serve", "--demo", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Api:
    """The public API as the test's own client (the MSP admin), for setup and for sending alerts."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        self.token = ""
        self.hmac_secret = ""

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        resp = httpx.post(
            self.url + "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token}"} if self.token else {},
            timeout=10,
        )
        body = resp.json()
        assert "errors" not in body, body
        return body["data"]

    def api_key(self) -> str:
        return str(json.loads((self.home / "demo-api-keys.json").read_text())[COMPANY])

    def alert(self, asset: str, signature: str, severity: str = "high") -> None:
        """One alert through the signed generic webhook, as a monitoring tool sends it."""
        body = orjson.dumps(
            {
                "asset_name": asset,
                "signature": signature,
                "severity": severity,
                "message": f"{signature} on {asset}",
            }
        )
        ts = int(time.time())
        resp = httpx.post(
            self.url + "/api/webhooks/alerts",
            content=body,
            headers={
                "content-type": "application/json",
                "x-api-key": self.api_key(),
                "x-timestamp": str(ts),
                "x-signature": sign(self.hmac_secret.encode(), ts, body),
                "x-delivery-id": uuid.uuid4().hex,
            },
            timeout=10,
        )
        assert resp.status_code == 202, resp.text


def _setup(api: Api, moto_url: str) -> None:
    """Sign-in, signed webhooks, AWS access (moto) and a MEDIUM-risk runbook that needs an approval."""
    login = api.gql(
        "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }",
        {"i": {"email": ADMIN, "password": DEMO_PASSWORD}},
    )
    api.token = login["login"]["token"]
    companies = api.gql("{ companies(first: 100) { nodes { id name } } }")["companies"]["nodes"]
    company = next(c["id"] for c in companies if c["name"] == COMPANY)
    security = api.gql(
        "mutation($i: CompanyWebhookSecurityUpdateInput!) { companyWebhookSecurityUpdate(input: $i) "
        "{ hmacSecret userErrors { code message } } }",
        {
            "i": {
                "id": company,
                "integrations": [{"tool": "GENERIC", "requireSignature": True}],
                "rotateSecret": True,
                "gracePeriodHours": 0,
            }
        },
    )["companyWebhookSecurityUpdate"]
    assert security["userErrors"] == []
    api.hmac_secret = security["hmacSecret"]
    for mutation, value in (
        (
            "mutation($i: CompanyAwsUpdateInput!) { companyAwsUpdate(input: $i) { userErrors { code message } } }",
            {
                "companyId": company,
                "region": "eu-west-1",
                "accessKeyId": "AKIADASHBOARD0000000",
                "secretAccessKey": "DashboardSecret" + "x" * 25,
            },
        ),
        (
            "mutation($i: AssetCreateInput!) { assetCreate(input: $i) { userErrors { code message } } }",
            {"companyId": company, "name": "app-01", "platform": "LINUX", "cloudInstanceId": INSTANCE},
        ),
        (
            "mutation($i: RunbookCreateInput!) { runbookCreate(input: $i) { userErrors { code message } } }",
            {
                "companyId": company,
                "name": "Restart the app service",
                "category": "SERVICES",
                "risk": "MEDIUM",
                "platform": "LINUX",
                "signatures": ["app_service_down"],
                "commands": ["systemctl restart app"],
            },
        ),
    ):
        (payload,) = api.gql(mutation, {"i": value}).values()
        assert payload["userErrors"] == [], payload


@pytest.fixture
def server(database_url: str, tmp_path: Path, moto_server: str) -> Iterator[tuple[Server, Api]]:
    with scratch_database(database_url) as url:
        # A small pool: the machine's PostgreSQL is shared by parallel test runs.
        env = server_env(url, tmp_path, workers=True) | {
            "ALERTWHISPERER_DB_POOL_SIZE": "4",
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": "AKIAPLATFORM00000000",
            "AWS_SECRET_ACCESS_KEY": "platform-secret",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_STS"):
            env.pop(name, None)
        srv = Server(env, tmp_path / "server.log")
        srv.start()
        try:
            api = Api(srv.url, tmp_path)
            _setup(api, moto_server)
            yield srv, api
        finally:
            srv.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 768},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def _row(page: Page, signature: str) -> Any:
    return page.locator("#incident-rows tr", has_text=signature)


def test_the_dashboard_signs_in_shows_live_incidents_approves_and_survives_a_restart(server, page):
    srv, api = server
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # given the page, which shows the demo credentials
    page.goto(srv.url + "/")
    expect(page.get_by_text(ADMIN, exact=True)).to_be_visible()
    expect(page.get_by_text(DEMO_PASSWORD)).to_be_visible()

    # when the MSP admin signs in
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # then the dashboard is live on the first company, with its KPI cards
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE)
    expect(page.get_by_label("Company")).to_have_value(
        next(
            o.get_attribute("value")
            for o in page.locator("#company option").all()
            if o.inner_text() == COMPANY
        )
    )
    for title in ("Alerts", "Incidents", "Noise reduction", "MTTR", "Self-healed", "SLA compliance"):
        expect(page.locator(".kpi-title", has_text=title)).to_be_visible()

    # when alerts stream in, the incidents appear without a reload
    for n in range(3):
        api.alert("web-01", f"disk_full_{n}")
    for n in range(3):
        expect(_row(page, f"disk_full_{n}")).to_be_visible(timeout=LIVE)

    # when an alert matches the MEDIUM-risk runbook, its incident waits for an approval
    api.alert("app-01", "app_service_down", "critical")
    row = _row(page, "app_service_down")
    expect(row).to_contain_text("Awaiting approval: Restart the app service", timeout=LIVE)

    # when the admin opens it from the keyboard and approves
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#incident-title")).to_have_text("app_service_down on app-01", timeout=LIVE)
    expect(page).to_have_url(f"{srv.url}/incidents/" + row.get_attribute("data-id"))
    view = page.locator("#incident-view")
    expect(view.get_by_role("heading", name="Remediation awaiting approval")).to_be_visible()
    view.get_by_role("button", name="Approve").click()

    # then the run starts, succeeds on the instance, and the incident resolves itself: all live
    expect(page.locator("#announcer")).to_have_text("Remediation approved.", timeout=LIVE)
    expect(view.get_by_role("heading", name="Remediation awaiting approval")).to_have_count(0)
    expect(view.locator(".events li", has_text="Restart the app service")).to_be_visible(timeout=LIVE)
    expect(view.locator(".badges")).to_contain_text("Resolved", timeout=LIVE)
    expect(view.locator(".badges")).to_contain_text("Self-healed")
    expect(row).to_have_count(0)  # resolved: off the open list

    # when the server restarts on the same port
    srv.stop()
    expect(page.locator("#connection")).to_have_text("Reconnecting…", timeout=LIVE)
    srv.start()

    # then the page reconnects by itself and shows incidents opened after the restart
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE)
    api.alert("lb-01", "after_restart")
    expect(_row(page, "after_restart")).to_be_visible(timeout=LIVE)
    assert errors == []
