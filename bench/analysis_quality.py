"""Precision and recall of the rule-based analysis per pattern, and root-cause accuracy on cascades,
over the labelled scenario set of tests/analysis_scenarios.py.

    .venv/bin/python bench/analysis_quality.py [--seed N] [--per-pattern N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.analysis import PatternType  # noqa: E402
from tests.analysis_scenarios import measure, scenarios  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-pattern", type=int, default=60)
    args = parser.parse_args()
    items = scenarios(args.seed, args.per_pattern)
    started = time.perf_counter()
    quality = measure(items)
    elapsed = time.perf_counter() - started
    print(
        f"{len(items)} scenarios (seed {args.seed}), analysed in {elapsed * 1000:.1f} ms "
        f"({elapsed / len(items) * 1e6:.1f} µs each)"
    )
    print(f"{'pattern':<20} {'support':>8} {'precision':>10} {'recall':>8}")
    for p in PatternType:
        print(
            f"{p.value:<20} {quality.support[p]:>8} {quality.precision[p]:>10.3f} {quality.recall[p]:>8.3f}"
        )
    print(
        f"root cause right in {quality.root_accuracy:.1%} of {quality.cascades} downstream cascade incidents"
    )
    for name, expected, got in quality.wrong[:20]:
        print(f"  wrong: {name}: expected {expected.value}, got {got.value}")


if __name__ == "__main__":
    main()
