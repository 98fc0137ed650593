"""The analysis rules, pattern by pattern, at their edges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.analysis import (
    CYCLE_MIN_OCCURRENCES,
    STORM_ALERTS,
    STORM_ASSETS,
    IncidentFacts,
    PatternType,
    Related,
    analyze,
    cycle_period,
    duration,
    storm_burst,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def facts(**fields) -> IncidentFacts:
    base = {
        "incident_id": uuid.uuid4(),
        "signature": "HighCPU",
        "asset_name": "web-01",
        "open": True,
        "first_alert_at": NOW - timedelta(minutes=10),
        "last_alert_at": NOW - timedelta(minutes=1),
        "alert_count": 3,
    }
    return IncidentFacts(**(base | fields))


def every(n: int, gap: timedelta, end: datetime = NOW) -> list[datetime]:
    return [end - gap * (n - 1 - i) for i in range(n)]


def test_a_quiet_single_problem_is_isolated():
    result = analyze(facts(), NOW)
    assert result.pattern is PatternType.ISOLATED
    assert result.explanation == (
        "HighCPU on web-01 shows no storm, flapping, cycle or cascade. Treat it as a single problem on web-01."
    )


def test_a_burst_of_alerts_is_a_storm_from_the_threshold_on():
    just_under = every(STORM_ALERTS - 1, timedelta(seconds=10))
    at = every(STORM_ALERTS, timedelta(seconds=10))
    spread_out = every(STORM_ALERTS, timedelta(seconds=20))  # 20 alerts over 6+ minutes

    assert analyze(facts(firing_times=just_under), NOW).pattern is not PatternType.ALERT_STORM
    assert analyze(facts(firing_times=at), NOW).pattern is PatternType.ALERT_STORM
    assert storm_burst(spread_out) < STORM_ALERTS
    assert analyze(facts(firing_times=spread_out), NOW).pattern is not PatternType.ALERT_STORM


def test_one_signature_on_many_assets_is_a_storm():
    result = analyze(facts(signature_assets=STORM_ASSETS), NOW)
    assert result.pattern is PatternType.ALERT_STORM
    assert result.root_cause == f"HighCPU on {STORM_ASSETS} assets at once"
    assert analyze(facts(signature_assets=STORM_ASSETS - 1), NOW).pattern is PatternType.ISOLATED


def test_flapping_from_the_correlation_flag_or_three_cycles_within_the_hour():
    assert analyze(facts(flapping=True), NOW).pattern is PatternType.FLAPPING
    recent = every(3, timedelta(minutes=10))
    old = every(3, timedelta(minutes=10), end=NOW - timedelta(hours=2))
    assert analyze(facts(flap_times=recent), NOW).pattern is PatternType.FLAPPING
    assert analyze(facts(flap_times=old), NOW).pattern is not PatternType.FLAPPING


def test_a_regular_period_is_cyclic_and_named():
    times = every(6, timedelta(minutes=15))
    result = analyze(facts(firing_times=times, first_alert_at=times[0]), NOW)
    assert result.pattern is PatternType.CYCLIC
    assert result.root_cause == "HighCPU on web-01 recurs every 15 minutes"
    assert result.details["period_seconds"] == 900
    nightly = every(5, timedelta(days=1))
    assert analyze(facts(firing_times=nightly), NOW).root_cause == "HighCPU on web-01 recurs every day"


def test_irregular_or_too_few_firings_are_not_cyclic():
    assert cycle_period(every(CYCLE_MIN_OCCURRENCES - 1, timedelta(minutes=15))) is None
    jittery = every(5, timedelta(minutes=15))
    jittery[2] += timedelta(minutes=3)  # 20% off
    assert cycle_period(jittery) is None
    slightly_off = every(5, timedelta(minutes=15))
    slightly_off[2] += timedelta(seconds=45)  # 5% off
    assert cycle_period(slightly_off) is not None
    assert cycle_period(every(6, timedelta(seconds=30))) is None  # faster than a minute: a storm, not a cycle


def test_firing_for_two_hours_without_clearing_is_persistent():
    long = facts(first_alert_at=NOW - timedelta(hours=3), last_alert_at=NOW - timedelta(minutes=2))
    result = analyze(long, NOW)
    assert result.pattern is PatternType.PERSISTENT
    assert result.explanation.startswith("HighCPU on web-01 has been firing for 3 hours without clearing.")
    assert analyze(facts(first_alert_at=NOW - timedelta(minutes=119)), NOW).pattern is PatternType.ISOLATED
    resolved = facts(open=False, first_alert_at=NOW - timedelta(hours=3))
    assert analyze(resolved, NOW).pattern is PatternType.ISOLATED


def test_a_downstream_incident_points_at_the_most_upstream_one():
    app = Related(uuid.uuid4(), "app-01", "Latency", NOW - timedelta(minutes=2), 1)
    db = Related(uuid.uuid4(), "db-01", "DatabaseDown", NOW - timedelta(minutes=5), 2)

    result = analyze(facts(asset_name="web-01", signature="HTTP5xx", upstream=[app, db]), NOW)

    assert result.pattern is PatternType.CASCADING_FAILURE
    assert result.root_incident_id == db.incident_id
    assert result.root_cause == "DatabaseDown on db-01, which web-01 depends on"
    assert "2 dependency hops upstream" in result.explanation


def test_the_root_of_a_cascade_counts_its_blast_radius():
    hit = [Related(uuid.uuid4(), f"app-{i}", "Latency", NOW, 1) for i in range(7)]
    result = analyze(facts(asset_name="db-01", signature="DatabaseDown", downstream=hit), NOW)
    assert result.pattern is PatternType.CASCADING_FAILURE
    assert result.blast_radius == 7
    assert result.root_incident_id is None
    assert "(app-0, app-1, app-2, app-3, app-4 and 2 more)" in result.explanation


def test_a_cascade_wins_over_the_other_patterns():
    up = Related(uuid.uuid4(), "db-01", "DatabaseDown", NOW, 1)
    storm = every(STORM_ALERTS, timedelta(seconds=5))
    assert analyze(facts(upstream=[up], firing_times=storm, flapping=True), NOW).pattern is (
        PatternType.CASCADING_FAILURE
    )


def test_confidence_stays_within_bounds():
    huge = every(5000, timedelta(milliseconds=10))
    assert 0 <= analyze(facts(firing_times=huge), NOW).confidence <= 0.99


def test_durations_read_naturally():
    assert [duration(s) for s in (45, 60, 900, 3600, 5400, 86400, 3 * 86400)] == [
        "45 seconds",
        "1 minute",
        "15 minutes",
        "1 hour",
        "90 minutes",
        "1 day",
        "3 days",
    ]


def test_a_full_disk_and_an_expiring_certificate_are_an_asset_s_own_problems() -> None:
    from domain.analysis import is_local_problem

    assert is_local_problem("disk_full")
    assert is_local_problem("disk_full:/var/log")
    assert is_local_problem("cert_expiry")
    assert not is_local_problem("latency_high")
    assert not is_local_problem("service_down")
    assert not is_local_problem(None)  # stored before signatures were folded
