"""How long from `make serve` to a live dashboard, on a fresh machine's state: prints figures, asserts nothing.

Runs what `make serve` runs (`alertwhisperer serve --demo`, embedded PostgreSQL, workers in their own
process) with a brand-new `ALERTWHISPERER_HOME` (so the database is initialised, migrated and seeded
as on a first start), then opens the dashboard in headless Chromium as a user would, signs in as the
demo MSP admin and waits for: the page's live connection, the first incident in the list, and the
KPI cards' first alerts. The venv is installed already (its install is not counted).

    .venv/bin/python bench/dashboard_start.py [--timeout 180]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.demo import DEMO_PASSWORD  # noqa: E402
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.live import free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each step")
    args = parser.parse_args()
    timeout_ms = args.timeout * 1000
    with tempfile.TemporaryDirectory(prefix="aw-dash-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
            "ALERTWHISPERER_HOME": str(home)
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "serve.log").open("wb")
        t0 = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve", "--demo", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        figures: dict[str, float] = {}
        missed: list[str] = []
        try:
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() - t0 > args.timeout:
                    raise SystemExit(f"server did not start; see {log.name}")
                time.sleep(0.05)
            figures["server ready (/readyz 200)"] = time.monotonic() - t0
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = context.new_page()
                page.goto(url + "/")
                page.get_by_label("Email").fill("admin@msp.example")
                page.get_by_label("Password").fill(DEMO_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                steps = [
                    ("signed in, page live", page.locator("#connection[data-state=live]")),
                    ("first incident on the page", page.locator("#incident-rows tr").first),
                    (
                        "KPI cards count alerts",
                        page.locator("[data-kpi=alerts] .kpi-value")
                        .filter(has_not_text="—")
                        .filter(has_not_text="0"),
                    ),
                ]
                for name, locator in steps:
                    try:
                        locator.wait_for(timeout=timeout_ms)
                    except PlaywrightTimeout:
                        missed.append(name)
                        break
                    figures[name] = time.monotonic() - t0
                context.close()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            subprocess.run(
                [sys.executable, "-m", "graph.cli", "db-stop"], env=env, cwd=tmp, capture_output=True
            )
            log.close()
        load = os.getloadavg()[0]
        print(f"from `serve --demo` on a fresh home (load average {load:.1f} on {os.cpu_count()} cores):")
        for name, seconds in figures.items():
            print(f"  {name:<32} {seconds:6.1f} s")
        for name in missed:
            print(f"  {name:<32} not within {args.timeout:.0f} s")


if __name__ == "__main__":
    main()
