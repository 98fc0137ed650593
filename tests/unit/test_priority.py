"""Priority score: severity base, critical asset, alert volume, multiple tools, age decay."""

from datetime import UTC, datetime, timedelta

import pytest

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


def test_everything_together_at_the_maximum() -> None:
    # 90 + 20 + 20 + 10
    assert priority_score(Severity.CRITICAL, True, 100, 4, T0, T0) == 140.0


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
    assert priority_base(Severity.CRITICAL, True, 3, 2) == 126.0
    assert priority_base(Severity.LOW, False, 0, 1) == 10.0
