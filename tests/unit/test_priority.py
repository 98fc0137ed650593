"""Priority score: severity base, critical asset, alert volume, multiple tools, age decay."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.alerts import Severity
from domain.priority import priority_base, priority_score

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(Severity.LOW, 12.0), (Severity.MEDIUM, 32.0), (Severity.HIGH, 62.0), (Severity.CRITICAL, 92.0)],
)
def test_severity_base_with_one_alert_from_one_tool(severity: Severity, expected: float) -> None:
    # given a fresh incident with one alert / then base + 2 points for the alert
    assert priority_score(severity, False, 1, 1, T0, T0) == expected


def test_critical_asset_adds_20() -> None:
    assert priority_score(Severity.HIGH, True, 1, 1, T0, T0) == 82.0


def test_alert_points_are_capped_at_20() -> None:
    # given 10 alerts (20 points) and 50 alerts (capped) / then both give +20
    assert priority_score(Severity.LOW, False, 10, 1, T0, T0) == 30.0
    assert priority_score(Severity.LOW, False, 50, 1, T0, T0) == 30.0
    assert priority_score(Severity.LOW, False, 9, 1, T0, T0) == 28.0


def test_two_or_more_tools_add_10() -> None:
    assert priority_score(Severity.MEDIUM, False, 2, 2, T0, T0) == 44.0
    assert priority_score(Severity.MEDIUM, False, 2, 3, T0, T0) == 44.0


def test_everything_together_is_capped_at_100() -> None:
    # 90 + 20 + 20 + 10 = 140, on a 0..100 scale / then 100, and the age decay starts from 100
    assert priority_score(Severity.CRITICAL, True, 100, 4, T0, T0) == 100.0
    assert priority_score(Severity.CRITICAL, True, 100, 4, T0, T0 + timedelta(hours=3)) == 97.0
    assert priority_base(Severity.CRITICAL, True, 100, 4) == 100.0


@given(
    severity=st.sampled_from(Severity),
    critical=st.booleans(),
    alerts=st.integers(min_value=-(10**9), max_value=10**9),
    tools=st.integers(min_value=0, max_value=1000),
    age=st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=3650)),
)
def test_a_score_is_always_between_0_and_100(
    severity: Severity, critical: bool, alerts: int, tools: int, age: timedelta
) -> None:
    # given any severity, flags, counts and age, a clock behind the creation included / then 0..100
    assert 0.0 <= priority_score(severity, critical, alerts, tools, T0, T0 + age) <= 100.0


def test_a_resolved_incident_scores_0_at_any_age() -> None:
    # given the loudest possible incident, resolved / then it needs nobody's attention: 0
    for age in (timedelta(0), timedelta(hours=3), timedelta(days=30)):
        assert priority_score(Severity.CRITICAL, True, 100, 4, T0, T0 + age, resolved=True) == 0.0


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), 62.0),
        (timedelta(hours=5, minutes=30), 56.5),
        (timedelta(hours=10), 52.0),
        (timedelta(hours=30), 52.0),
        (timedelta(minutes=20), 61.67),
    ],
)
def test_age_decays_one_point_per_hour_up_to_10(age: timedelta, expected: float) -> None:
    # given an incident created `age` ago / then the score loses min(age_hours, 10), rounded to 2 decimals
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0 + age) == expected


def test_age_is_never_negative() -> None:
    # given a clock slightly behind the incident's creation / then no bonus
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0 - timedelta(hours=2)) == 62.0


def test_priority_base_has_no_age_term() -> None:
    assert priority_base(Severity.HIGH, True, 3, 2) == 96.0
    assert priority_base(Severity.LOW, False, 0, 1) == 10.0


def test_a_cascade_root_gains_5_per_downstream_asset_up_to_20() -> None:
    # given a high incident with one alert from one tool (62) that is the root of a cascade
    # then each downstream asset it takes down adds 5, at most 20, and the total stays within 100
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0, blast_radius=1) == 67.0
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0, blast_radius=3) == 77.0
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0, blast_radius=4) == 82.0
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0, blast_radius=40) == 82.0
    assert priority_base(Severity.CRITICAL, True, 1, 1, blast_radius=4) == 100.0
    # and the decay applies to the whole of it; resolved, it is 0 whatever it took down
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0 + timedelta(hours=2), blast_radius=2) == 70.0
    assert priority_score(Severity.HIGH, False, 1, 1, T0, T0, resolved=True, blast_radius=4) == 0.0
