"""The analysis rules on the labelled scenario set (tests/analysis_scenarios.py): precision >= 0.95
and recall >= 0.90 for every pattern, the root right in >= 95% of cascades."""

from __future__ import annotations

from domain.analysis import PatternType
from tests.analysis_scenarios import measure, scenarios


def test_every_pattern_is_found_precisely_and_cascades_name_their_root():
    items = scenarios()
    quality = measure(items)

    assert all(quality.support[p] >= 20 for p in PatternType), quality.support
    for pattern in PatternType:
        assert quality.precision[pattern] >= 0.95, (pattern, quality.precision[pattern], quality.wrong[:10])
        assert quality.recall[pattern] >= 0.90, (pattern, quality.recall[pattern], quality.wrong[:10])
    assert quality.cascades >= 40
    assert quality.root_accuracy >= 0.95


def test_the_set_is_the_same_on_every_run():
    assert [s.name for s in scenarios()] == [s.name for s in scenarios()]
