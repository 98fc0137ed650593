"""A labelled set of incident scenarios for the analysis rules: storms, flaps, cycles of several
periods, persistent problems, cascades over dependency graphs of several shapes, and unrelated noise
mixed in, each with the pattern (and, for cascades, the root) a person would name.

Generated from a fixed seed, so the set is the same on every run; `bench/analysis_quality.py` prints
precision and recall per pattern over it, and a test holds the goals. The noise is meant to be
confusing: irregular repeats that are neither a cycle nor a storm, cycles with jitter, persistent
problems whose repeats come at random times, storms just above the threshold next to bursts just below.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.analysis import IncidentFacts, PatternType, Related, analyze

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scenario:
    name: str
    facts: IncidentFacts
    pattern: PatternType
    root: uuid.UUID | None = None  # for a downstream incident of a cascade: its root's incident


def _facts(rng: random.Random, firing: list[datetime], **fields: object) -> IncidentFacts:
    firing = sorted(firing)
    base: dict[str, object] = {
        "incident_id": uuid.UUID(int=rng.getrandbits(128)),
        "signature": rng.choice(["HighCPU", "DiskFull", "ServiceDown", "HighLatency", "CertExpiry"]),
        "asset_name": f"host-{rng.randrange(1000):03d}",
        "open": True,
        "first_alert_at": firing[0] if firing else NOW - timedelta(minutes=5),
        "last_alert_at": firing[-1] if firing else NOW - timedelta(minutes=1),
        "alert_count": max(1, len(firing)),
        "firing_times": firing,
    }
    return IncidentFacts(**(base | fields))  # type: ignore[arg-type]


def _storms(rng: random.Random, n: int) -> Iterator[Scenario]:
    for i in range(n):
        count = rng.randrange(20, 200)
        span = rng.uniform(30, 290)  # seconds: all within 5 minutes
        start = NOW - timedelta(seconds=span + rng.uniform(0, 600))
        times = [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count)]
        yield Scenario(f"storm-{i}", _facts(rng, times), PatternType.ALERT_STORM)
    for i in range(n // 2):  # one signature on many assets at once
        yield Scenario(
            f"spread-{i}",
            _facts(rng, [NOW - timedelta(minutes=2)], signature_assets=rng.randrange(5, 40)),
            PatternType.ALERT_STORM,
        )


def _flaps(rng: random.Random, n: int) -> Iterator[Scenario]:
    for i in range(n):
        cycles = rng.randrange(3, 9)
        flaps = sorted(NOW - timedelta(minutes=rng.uniform(0, 58)) for _ in range(cycles))
        times = [t - timedelta(seconds=rng.uniform(5, 60)) for t in flaps]
        yield Scenario(
            f"flap-{i}",
            _facts(rng, times, flap_times=flaps, flapping=rng.random() < 0.5),
            PatternType.FLAPPING,
        )


def _cycles(rng: random.Random, n: int) -> Iterator[Scenario]:
    periods = [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(days=1),
    ]
    for i in range(n):
        period = rng.choice(periods)
        occurrences = rng.randrange(4, 13)
        jitter = period.total_seconds() * 0.04
        times = [
            NOW - period * (occurrences - 1 - k) + timedelta(seconds=rng.uniform(-jitter, jitter))
            for k in range(occurrences)
        ]
        yield Scenario(f"cycle-{i}", _facts(rng, times), PatternType.CYCLIC)


def _persistent(rng: random.Random, n: int) -> Iterator[Scenario]:
    for i in range(n):
        hours = rng.uniform(2.2, 48)
        start = NOW - timedelta(hours=hours)
        # Repeats at random moments (a re-sent alert now and then): not a cycle.
        repeats = sorted(start + timedelta(hours=rng.uniform(0, hours)) for _ in range(rng.randrange(0, 4)))
        yield Scenario(f"persistent-{i}", _facts(rng, [start, *repeats]), PatternType.PERSISTENT)


def _noise(rng: random.Random, n: int) -> Iterator[Scenario]:
    for i in range(n):
        kind = i % 3
        if kind == 0:  # a single alert
            times = [NOW - timedelta(minutes=rng.uniform(1, 90))]
        elif kind == 1:  # a few repeats at irregular gaps, within an hour
            start = NOW - timedelta(minutes=rng.uniform(20, 100))
            times = [start + timedelta(minutes=rng.uniform(0, 18)) for _ in range(rng.randrange(2, 8))]
        else:  # a burst just below a storm
            start = NOW - timedelta(minutes=rng.uniform(5, 100))
            times = [start + timedelta(seconds=rng.uniform(0, 240)) for _ in range(rng.randrange(5, 19))]
        yield Scenario(f"noise-{i}", _facts(rng, times), PatternType.ISOLATED)


def _cascades(rng: random.Random, n: int) -> Iterator[Scenario]:
    """Chains (db <- app <- lb), stars (one database, many apps) and diamonds: each downstream
    incident sees its upstream ones with their depth, the root sees its downstream ones."""
    for i in range(n):
        shape = ("chain", "star", "diamond")[i % 3]
        t0 = NOW - timedelta(minutes=rng.uniform(1, 30))
        root_id = uuid.UUID(int=rng.getrandbits(128))
        root = Related(root_id, f"db-{i}", "DatabaseDown", t0, 0)
        if shape == "chain":
            levels = [[f"app-{i}"], [f"lb-{i}"]]
        elif shape == "star":
            levels = [[f"app-{i}-{k}" for k in range(rng.randrange(2, 8))]]
        else:
            levels = [[f"app-{i}-a", f"app-{i}-b"], [f"lb-{i}"]]
        seen: list[Related] = []
        for depth, names in enumerate(levels, start=1):
            for name in names:
                rel = Related(
                    uuid.UUID(int=rng.getrandbits(128)),
                    name,
                    "HighLatency",
                    t0 + timedelta(seconds=30 * depth),
                    depth,
                )
                # Upstream of this one: the root at its depth, and the level above it at depth 1.
                upstream = [Related(root.incident_id, root.asset_name, root.signature, t0, depth)]
                upstream += [
                    Related(r.incident_id, r.asset_name, r.signature, r.created_at, 1)
                    for r in seen
                    if r.depth == depth - 1
                ]
                facts = _facts(
                    rng,
                    [rel.created_at],
                    incident_id=rel.incident_id,
                    asset_name=name,
                    signature="HighLatency",
                    upstream=upstream,
                )
                yield Scenario(
                    f"cascade-{shape}-{i}-{name}", facts, PatternType.CASCADING_FAILURE, root=root_id
                )
                seen.append(rel)
        downstream = [Related(r.incident_id, r.asset_name, r.signature, r.created_at, r.depth) for r in seen]
        yield Scenario(
            f"cascade-{shape}-{i}-root",
            _facts(
                rng,
                [t0],
                incident_id=root_id,
                asset_name=root.asset_name,
                signature=root.signature,
                downstream=downstream,
            ),
            PatternType.CASCADING_FAILURE,
        )


def scenarios(seed: int = 7, per_pattern: int = 60) -> list[Scenario]:
    rng = random.Random(seed)
    out = [
        *_storms(rng, per_pattern),
        *_flaps(rng, per_pattern),
        *_cycles(rng, per_pattern),
        *_persistent(rng, per_pattern),
        *_noise(rng, per_pattern * 2),
        *_cascades(rng, per_pattern // 3),
    ]
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class Quality:
    precision: dict[PatternType, float]
    recall: dict[PatternType, float]
    support: dict[PatternType, int]
    root_accuracy: float
    cascades: int
    wrong: list[tuple[str, PatternType, PatternType]]


def measure(items: list[Scenario]) -> Quality:
    predicted: Counter[PatternType] = Counter()
    correct: Counter[PatternType] = Counter()
    support: Counter[PatternType] = Counter()
    roots_right = roots = 0
    wrong = []
    for s in items:
        result = analyze(s.facts, NOW)
        support[s.pattern] += 1
        predicted[result.pattern] += 1
        if result.pattern is s.pattern:
            correct[s.pattern] += 1
        else:
            wrong.append((s.name, s.pattern, result.pattern))
        if s.root is not None:
            roots += 1
            roots_right += result.root_incident_id == s.root
    patterns = list(PatternType)
    return Quality(
        precision={p: correct[p] / predicted[p] if predicted[p] else 1.0 for p in patterns},
        recall={p: correct[p] / support[p] if support[p] else 1.0 for p in patterns},
        support={p: support[p] for p in patterns},
        root_accuracy=roots_right / roots if roots else 1.0,
        cascades=roots,
        wrong=wrong,
    )
