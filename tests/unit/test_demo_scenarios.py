"""The demo scenarios' payloads are each tool's native format: the tool's normaliser reads from them
exactly the alerts the scenario means (asset, signature, severity, resolved), and a run's timing is
what the README promises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import demo
from domain.alerts import Severity
from domain.demo import DEMO_ASSETS, DemoScenario
from domain.normalizers import NormalizeContext, normalize
from domain.runbook_library import LIBRARY
from domain.runbooks import matches_exactly

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _normalized(scenario: DemoScenario) -> list[tuple[demo.DemoAlert, object]]:
    out = []
    for n, step in enumerate(demo.steps(scenario)):
        requests = demo.requests(step, "run1", n, AT)
        flat = [a for a in step.alerts]
        got = [alert for r in requests for alert in normalize(r.tool, dict(r.body), NormalizeContext(now=AT))]
        assert len(got) == len(flat) == sum(r.alerts for r in requests)
        by_key = {(a.tool, a.asset, a.signature, a.resolved): a for a in flat}
        for alert in got:
            key = (alert.tool, alert.asset_name, alert.signature, alert.resolved)
            assert key in by_key, key
            out.append((by_key[key], alert))
    return out


@pytest.mark.parametrize("scenario", list(DemoScenario))
def test_every_payload_normalises_to_the_alert_the_scenario_means(scenario):
    # given the scenario's steps as webhook requests; when each tool's normaliser reads them
    pairs = _normalized(scenario)

    # then every alert has its asset, signature, severity and resolution, and its tool's id of it
    assert pairs
    for meant, alert in pairs:
        assert alert.severity == meant.severity
        assert alert.dedup_key == demo.demo_key("run1", meant)


def test_delivery_ids_are_unique_within_a_run_and_stable_for_a_resend():
    steps = demo.steps(DemoScenario.MIXED)
    ids = [r.delivery_id for n, s in enumerate(steps) for r in demo.requests(s, "run1", n, AT)]
    assert len(ids) == len(set(ids))
    again = [r for n, s in enumerate(steps) for r in demo.requests(s, "run1", n, AT)]
    assert [r.body for r in again] == [
        r.body for n, s in enumerate(steps) for r in demo.requests(s, "run1", n, AT)
    ]


def test_a_mixed_run_takes_one_to_three_minutes_at_the_default_step_length():
    seconds = demo.run_seconds(DemoScenario.MIXED)
    assert 60 <= seconds <= 180
    assert demo.total_steps(DemoScenario.MIXED) == sum(
        demo.total_steps(s) for s in DemoScenario if s is not DemoScenario.MIXED
    )


def test_the_disk_alert_matches_the_low_risk_auto_approved_cleanup_on_a_non_critical_linux_asset():
    asset = {a.name: a for a in DEMO_ASSETS}["web-02"]
    cleanup = next(r for r in LIBRARY if r.name == "Disk cleanup (Linux)")
    assert matches_exactly(cleanup, "HighDiskUsage")
    assert (cleanup.risk.value, cleanup.auto_approve) == ("LOW", True)
    assert (asset.platform, asset.is_critical, bool(asset.cloud_instance_id)) == ("LINUX", False, True)


def test_the_database_alert_matches_a_medium_risk_runbook_that_needs_approval():
    restart = next(r for r in LIBRARY if r.name == "PostgreSQL restart (Linux)")
    assert matches_exactly(restart, "PostgreSQLDown")
    assert restart.risk.value == "MEDIUM"


def test_the_cascade_runs_down_the_dependencies_of_the_layout():
    deps = {a.name: set(a.depends_on) for a in DEMO_ASSETS}
    assert deps["web-01"] == deps["web-02"] == {"db-primary"}
    assert deps["lb-01"] == {"web-01", "web-02"}
    # upstream first, so a layout is created in order
    seen: set[str] = set()
    for a in DEMO_ASSETS:
        assert set(a.depends_on) <= seen
        seen.add(a.name)


def test_the_sla_scenario_sets_short_targets_before_its_low_severity_alert():
    first, second = demo.steps(DemoScenario.SLA_BREACH)
    assert (first.short_sla, first.alerts) == (True, ())
    assert [a.severity for a in second.alerts] == [Severity.LOW] == [demo.SLA_BREACH_SEVERITY]
