"""Signature folding on the labelled cross-tool streams (tests/signature_scenarios.py): no wrong merge,
and every miss is one of the names the built-in set is known not to have."""

from __future__ import annotations

from tests.signature_scenarios import KNOWN_MISSES, exact_key, measure


def test_folding_merges_each_problem_across_tools_and_never_two_problems():
    quality = measure()

    assert quality.wrong == []
    assert quality.precision == 1.0
    assert {name for _, a, b in quality.missed for name in (a, b)} >= KNOWN_MISSES
    assert all(KNOWN_MISSES & {a, b} for _, a, b in quality.missed), quality.missed
    assert (quality.alerts, quality.expected_incidents, quality.incidents) == (53, 20, 22)
    assert (quality.true_merges, quality.missed_merges) == (72, 10)


def test_exact_matching_leaves_nearly_every_tools_alert_on_its_own_incident():
    # what folding is measured against: the key before it
    quality = measure(exact_key)
    assert quality.wrong == []
    assert quality.incidents == 52
