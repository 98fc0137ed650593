"""How well signature folding merges one problem's alerts from several tools, and only those: the
labelled cross-tool streams of tests/signature_scenarios.py, correlated with folding and with exact
matching (the key before folding).

    .venv/bin/python bench/signature_folding.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.signatures import canonical_signature, fold  # noqa: E402
from tests.signature_scenarios import STREAMS, exact_key, measure  # noqa: E402


def main() -> None:
    print(f"{sum(len(s) for s in STREAMS.values())} alerts on {len(STREAMS)} hosts")
    print(f"{'matching':<10} {'incidents':>9} {'expected':>8} {'precision':>10} {'recall':>7}")
    for name, quality in (("exact", measure(exact_key)), ("folded", measure())):
        print(
            f"{name:<10} {quality.incidents:>9} {quality.expected_incidents:>8} "
            f"{quality.precision:>10.3f} {quality.recall:>7.3f}"
        )
    folded = measure()
    for host, a, b in folded.missed:
        print(f"  missed merge on {host}: {a!r} / {b!r}")
    for host, a, b in folded.wrong:
        print(f"  wrong merge on {host}: {a!r} / {b!r}")
    # the cost on the hot path: a fold per alert (cached per signature and asset) and the lookups
    names = [(sig, name) for items in STREAMS.values() for _, name, sig, _ in items]
    rounds = 2000
    fold.cache_clear()
    started = time.perf_counter()
    for _ in range(rounds):
        for sig, name in names:
            canonical_signature(sig, name)
    cached = (time.perf_counter() - started) / (rounds * len(names))
    started = time.perf_counter()
    for _ in range(rounds):
        fold.cache_clear()
        for sig, name in names:
            canonical_signature(sig, name)
    uncached = (time.perf_counter() - started) / (rounds * len(names))
    print(f"canonical_signature: {cached * 1e6:.2f} µs cached, {uncached * 1e6:.1f} µs uncached per alert")


if __name__ == "__main__":
    main()
