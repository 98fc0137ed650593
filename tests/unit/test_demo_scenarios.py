"""The demo scenarios' payloads are each tool's native format: the tool's normaliser reads from them
exactly the alerts the scenario means (asset, signature, severity, resolved), and a run's timing is
what the README promises."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from domain import demo
from domain.alerts import Severity
from domain.demo import DEMO_ASSETS, DemoScenario
from domain.normalizers import NormalizeContext, normalize
from domain.runbook_library import LIBRARY
from domain.runbooks import matches_exactly, matches_pattern
from domain.signatures import canonical_signature

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _normalized(scenario: DemoScenario, cycle: int = 1) -> list[tuple[demo.DemoAlert, object]]:
    out = []
    for n, step in enumerate(demo.steps(scenario, cycle)):
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
    # every scenario's steps, and the late fix of the unanswered problem
    assert demo.total_steps(DemoScenario.MIXED) == 1 + sum(
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


def _problems(cycle: int) -> set[tuple[str, str]]:
    """The (asset, canonical signature) pairs a MIXED cycle fires: its incidents' correlation keys."""
    return {
        (a.asset, canonical_signature(a.signature, a.asset))
        for s in demo.steps(DemoScenario.MIXED, cycle)
        for a in s.alerts
        if not a.resolved
    }


@pytest.mark.parametrize("cycle", range(2, demo.VARIANTS + 1))
def test_every_variant_of_a_looping_run_normalises_to_the_alerts_it_means(cycle):
    pairs = _normalized(DemoScenario.MIXED, cycle)
    assert pairs
    for meant, alert in pairs:
        assert alert.severity == meant.severity
        assert alert.dedup_key == demo.demo_key("run1", meant)


def test_a_looping_run_hits_other_problems_each_cycle_but_the_database_it_waits_on():
    # given the cycles of a loop, each against the ones before it within the variants' period
    root = {("db-primary", canonical_signature("PostgreSQLDown", "db-primary"))}
    for cycle in range(1, 2 * demo.VARIANTS + 1):
        # then each shares only the database outage with the last VARIANTS - 1 cycles
        for earlier in range(max(1, cycle - demo.VARIANTS + 1), cycle):
            assert _problems(cycle) & _problems(earlier) == root, (cycle, earlier)
        # and every cycle is as long as the first, so the run's progress and pace stay the same
        assert [s.wait for s in demo.steps(DemoScenario.MIXED, cycle)] == [
            s.wait for s in demo.steps(DemoScenario.MIXED)
        ]
    assert _problems(1 + demo.VARIANTS) == _problems(1)


@pytest.mark.parametrize("cycle", range(1, demo.VARIANTS + 1))
def test_each_cycle_resolves_what_it_fires_but_what_waits_for_a_person(cycle):
    # given one MIXED cycle: the native ids it fires and those it resolves
    steps = demo.steps(DemoScenario.MIXED, cycle)
    fired = {a.key for s in steps for a in s.alerts if not a.resolved}
    resolved = {a.key for s in steps for a in s.alerts if a.resolved}
    # then a resolve always ends something the cycle fired, and one problem is left open: the
    # database, whose restart waits for an approval
    assert resolved <= fired
    assert fired - resolved == {"pg-down"}


@pytest.mark.parametrize("cycle", range(1, demo.VARIANTS + 1))
def test_the_unanswered_problem_is_fixed_only_after_its_response_deadline_and_the_monitors_check(cycle):
    # given one MIXED cycle and the moments (at the default step length) of its steps
    steps = demo.steps(DemoScenario.MIXED, cycle)
    at = list(itertools.accumulate(s.wait * demo.DEFAULT_STEP_SECONDS for s in steps))
    after_sla = next(n for n, s in enumerate(steps) if s.short_sla) + 1
    [unanswered] = steps[after_sla].alerts
    # then the run's last step resolves it, and nothing else does
    fixed = [n for n, s in enumerate(steps) if any(a.key == unanswered.key and a.resolved for a in s.alerts)]
    assert fixed == [len(steps) - 1]
    # and that comes after its response deadline, with the SLA monitor's check interval to spare
    response_minutes, _ = demo.SLA_BREACH_TARGETS
    assert at[-1] - at[after_sla] > response_minutes * 60 + 15 + 5


@pytest.mark.parametrize("cycle", range(1, demo.VARIANTS + 1))
def test_each_cycles_disk_alert_gets_the_auto_approved_cleanup_and_its_unanswered_one_no_runbook(cycle):
    linux = {a.name for a in DEMO_ASSETS if a.platform == "LINUX"}

    def runbooks(alert: demo.DemoAlert) -> set[str]:
        return {
            r.name
            for r in LIBRARY
            if r.platform.value == "LINUX"
            and (matches_exactly(r, alert.signature) or matches_pattern(r, alert.signature))
        }

    steps = demo.steps(DemoScenario.MIXED, cycle)
    [disk] = steps[0].alerts
    assert (disk.asset, runbooks(disk)) == ("web-02", {"Disk cleanup (Linux)"})
    [unanswered] = steps[next(n for n, s in enumerate(steps) if s.short_sla) + 1].alerts
    if cycle > 1:  # (the first cycle's backup failure is the README's, verification runbook and all)
        assert unanswered.asset not in linux or runbooks(unanswered) == set()


def test_the_demo_company_is_seeded_for_an_unattended_loop():
    # the flap window is shorter than a variant's return, the approvals lapse well within the hour
    period = demo.VARIANTS * (
        demo.run_seconds(DemoScenario.MIXED) + demo.LOOP_PAUSE_STEPS * demo.DEFAULT_STEP_SECONDS
    )
    assert demo.LOOP_COMPANY_SETTINGS["flap_window_minutes"] * 60 < period
    assert period > 10 * 60  # the correlation window: an open problem's return is a new incident too
    assert demo.LOOP_COMPANY_SETTINGS["approval_expiry_minutes"] == 10
