"""KPI rules without I/O: the range rounding and its errors, the resolve-time buckets and the p90 read
from them, the patch figure of several companies, and the once-a-second throttle of `kpisUpdated`
on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import kpis as rules
from domain.errors import InvalidInput
from domain.kpis import PatchComplianceSource as Source
from domain.kpis import PatchFigure
from graph.kpis.subscriptions import Throttle

T = datetime(2026, 11, 2, 10, 20, tzinfo=UTC)


def test_a_range_covers_whole_utc_hours():
    assert rules.kpi_range(T, T + timedelta(minutes=5)) == (
        T.replace(minute=0),
        T.replace(minute=0) + timedelta(hours=1),
    )
    exact = T.replace(minute=0)
    assert rules.kpi_range(exact, exact + timedelta(hours=2)) == (exact, exact + timedelta(hours=2))


@pytest.mark.parametrize(
    ("start", "end", "code", "field"),
    [
        (T, T, "INVALID_RANGE", "from"),
        (T, T - timedelta(seconds=1), "INVALID_RANGE", "from"),
        (T, T + timedelta(days=400, seconds=1), "RANGE_TOO_LONG", "to"),
    ],
)
def test_bad_ranges_are_refused(start, end, code, field):
    with pytest.raises(InvalidInput) as refused:
        rules.kpi_range(start, end)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_400_days_is_the_longest_range():
    assert rules.kpi_range(T.replace(minute=0), T.replace(minute=0) + timedelta(days=400))[1] - T.replace(
        minute=0
    ) == timedelta(days=400)


def test_resolve_buckets_are_a_quarter_doubling_wide():
    # 600 s: log2 = 9.23 → bucket 36 = [2^9, 2^9.25) = [512, 608.9)
    assert rules.resolve_bucket(600) == 36
    assert rules.resolve_bucket(512) == 36
    assert rules.resolve_bucket(511.9) == 35
    assert rules.resolve_bucket(0.2) == 0
    assert rules.resolve_bucket(10**12) == rules.MAX_BUCKET
    assert rules.bucket_value(36) == pytest.approx(2**9.125)


def test_p90_is_the_nearest_rank_bucket():
    # ten times: nine in bucket 36, one in bucket 47: rank 9 is in bucket 36
    assert rules.p90_from_buckets({36: 9, 47: 1}) == pytest.approx(rules.bucket_value(36))
    # eight and two: rank 9 is in bucket 47
    assert rules.p90_from_buckets({36: 8, 47: 2}) == pytest.approx(rules.bucket_value(47))
    assert rules.p90_from_buckets({}) is None


def test_percentages_are_null_without_a_denominator():
    empty = rules.KpiSums()
    assert (empty.noise_reduction_pct, empty.mttr_seconds, empty.self_healed_pct) == (None, None, None)
    assert empty.response_sla_compliance_pct is None
    assert rules.KpiSums(alerts=4, incidents=1).noise_reduction_pct == 75.0


def test_several_companies_patch_figures_say_where_they_come_from():
    ssm, runbooks = PatchFigure(1, 2, Source.SSM), PatchFigure(1, 1, Source.RUNBOOKS)
    assert rules.combine_patch([ssm, rules.NO_PATCH_FIGURE]) == ssm
    mixed = rules.combine_patch([ssm, runbooks])
    assert (mixed.source, mixed.pct) == (Source.MIXED, pytest.approx(200 / 3))
    assert rules.combine_patch([]).source is Source.NONE
    assert rules.combine_patch([]).pct is None


async def test_the_throttle_lets_one_push_through_a_second():
    # given a fake clock the sleeps advance
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    throttle = Throttle(1.0, monotonic=lambda: clock[0], sleep=sleep)

    # the first push waits for nothing
    await throttle.wait()
    throttle.mark()
    # a change 0.25 s later waits out the rest of the second
    clock[0] += 0.25
    await throttle.wait()
    assert slept == [0.75]
    throttle.mark()
    # a change 3 s after the last push goes at once
    clock[0] += 3
    await throttle.wait()
    assert slept == [0.75]


def test_whole_days_of_a_range():
    from db.repositories.kpis import whole_days

    midnight = datetime(2026, 11, 2, tzinfo=UTC)
    assert whole_days(midnight, midnight + timedelta(days=2)) == (midnight, midnight + timedelta(days=2))
    # from 10:00 to 10:00 two days later: only the day in between
    ten = midnight + timedelta(hours=10)
    assert whole_days(ten, ten + timedelta(days=2)) == (
        midnight + timedelta(days=1),
        midnight + timedelta(days=2),
    )
    # within one day: none (an empty span)
    first, last = whole_days(ten, ten + timedelta(hours=3))
    assert first == last
