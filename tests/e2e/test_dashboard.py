"""The live dashboard end to end: a real `alertwhisperer serve` process (workers in-process) on the seeded
demo tenant, and the page in headless Chromium (Debian's package, driven by Playwright), during a
`MIXED` demo scenario with short steps: its alerts arrive through the real webhooks, and everything
after that (correlation, decisions, the approval, the simulated run, the KPIs) is the product's work.

Playwright's `expect(...)` waits until the page shows what is asserted (up to its timeout): those are
waits for live updates, not timed assertions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

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
COMPANY = "Acme Retail"  # the demo company
ADMIN = "admin@msp.example"
STEP_SECONDS = "0.3"  # a MIXED run in about ten seconds instead of ninety


class Server:
    """`alertwhisperer serve` on a fixed port, which the test can stop and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graph.cli", "serve", "--port", str(self.port)],
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
    """The public API as the test's own client (the demo MSP admin)."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        self.token = ""
        self.company = ""

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

    def sign_in(self) -> None:
        login = self.gql(
            "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }",
            {"i": {"email": ADMIN, "password": DEMO_PASSWORD}},
        )
        self.token = login["login"]["token"]
        companies = self.gql("{ companies(first: 100) { nodes { id name } } }")["companies"]["nodes"]
        self.company = next(c["id"] for c in companies if c["name"] == COMPANY)

    def demo_start(self, scenario: str) -> None:
        started = self.gql(
            "mutation($c: ID!, $s: DemoScenario!) { demoStart(input: {companyId: $c, scenario: $s}) "
            "{ demo { status } userErrors { code message } } }",
            {"c": self.company, "s": scenario},
        )["demoStart"]
        assert started["userErrors"] == [], started
        assert started["demo"]["status"] == "RUNNING"

    def alert(self, asset: str, signature: str, severity: str = "high") -> None:
        """One alert through the generic webhook with the key `seed-demo` printed, as a tool sends it."""
        key = json.loads((self.home / "demo-api-keys.json").read_text())[COMPANY]
        body = {"asset_name": asset, "signature": signature, "severity": severity, "message": signature}
        resp = httpx.post(
            self.url + "/api/webhooks/alerts",
            json=body,
            headers={"x-api-key": key, "x-delivery-id": uuid.uuid4().hex},
            timeout=10,
        )
        assert resp.status_code == 202, resp.text


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Api]]:
    with scratch_database(database_url) as url:
        # A small pool: the machine's PostgreSQL is shared by parallel test runs.
        env = server_env(url, tmp_path, workers=True) | {
            "ALERTWHISPERER_DEMO_STEP_SECONDS": STEP_SECONDS,
            "ALERTWHISPERER_DB_POOL_SIZE": "4",
        }
        # the demo tenant, as `serve --demo` seeds it, without the demo loop it would start: the test
        # starts its own run once the page is watching
        subprocess.run(
            [sys.executable, "-m", "graph.cli", "seed-demo"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        srv = Server(env, tmp_path / "server.log")
        srv.start()
        try:
            api = Api(srv.url, tmp_path)
            api.sign_in()
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


def test_the_dashboard_follows_a_demo_run_live_approves_and_survives_a_restart(server, page):
    srv, api = server
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the server's Content-Security-Policy refuses nothing the page does
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # given the page, which shows the demo credentials
    page.goto(srv.url + "/")
    expect(page.get_by_text(ADMIN, exact=True)).to_be_visible()
    expect(page.get_by_text(DEMO_PASSWORD)).to_be_visible()

    # when the MSP admin signs in
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # then the dashboard is live on the demo company, with its KPI cards and no incident yet
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE)
    expect(page.get_by_label("Company")).to_have_value(api.company)
    for title in ("Alerts", "Incidents", "Noise reduction", "MTTR", "Self-healed", "SLA compliance"):
        expect(page.locator(".kpi-title", has_text=title)).to_be_visible()
    alerts = page.locator("[data-kpi=alerts] .kpi-value")
    expect(alerts).to_have_text("0", timeout=LIVE)
    expect(page.locator("#incidents-empty")).to_be_visible()

    # when a MIXED demo run starts
    api.demo_start("MIXED")

    # then its incidents appear and the KPI figures move, without a reload
    expect(page.locator("#incident-rows tr").first).to_be_visible(timeout=LIVE)
    expect(alerts).not_to_have_text("0", timeout=LIVE)
    expect(page.locator("[data-kpi=incidents] .kpi-value")).not_to_have_text("0", timeout=LIVE)
    expect(page.locator("[data-kpi=noise] .kpi-value")).to_have_text(re.compile(r"^\d+\.\d%$"), timeout=LIVE)
    expect(page.locator("#demo-progress")).to_contain_text("Mixed", timeout=LIVE)

    # when the database cascade's medium-risk PostgreSQL restart waits for an approval, and the
    # admin opens its incident from the keyboard and approves it
    row = page.locator("#incident-rows tr", has_text="PostgreSQLDown").filter(has_text="Awaiting approval")
    expect(row).to_be_visible(timeout=LIVE)
    incident_id = row.get_attribute("data-id")
    row.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{srv.url}/incidents/{incident_id}")
    expect(page.locator("#incident-title")).to_have_text("PostgreSQLDown on db-primary", timeout=LIVE)
    view = page.locator("#incident-view")
    expect(view.locator(".approval")).to_contain_text("risk Medium", timeout=LIVE)
    view.get_by_role("button", name="Approve").click()

    # then the (simulated) run starts and succeeds, and the incident resolves itself: all live
    # (the approval panel goes; the live region's "Remediation approved." is soon replaced by the
    # demo's next announcements, so it is not what the test waits for)
    expect(view.locator(".approval")).to_have_count(0, timeout=LIVE)
    expect(view.locator(".events li", has_text="(simulated)")).to_be_visible(timeout=LIVE)
    expect(view.locator(".badges")).to_contain_text("Resolved", timeout=LIVE)
    expect(view.locator(".badges")).to_contain_text("Self-healed")
    # and the KPI card counts the fix as one still to hold (inside the company's correlation window)
    healed = page.locator("[data-kpi=self-healed] .kpi-sub")
    expect(healed).to_contain_text(re.compile(r"\d+ fix(es)? still to hold"), timeout=LIVE)

    # when the server restarts on the same port
    srv.stop()
    expect(page.locator("#connection")).to_have_text("Reconnecting…", timeout=LIVE)
    srv.start()

    # then the page reconnects by itself and shows incidents opened after the restart
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE)
    api.alert("lb-01", "after_restart")
    expect(page.locator("#incident-rows tr", has_text="after_restart")).to_be_visible(timeout=LIVE)
    assert errors == []
