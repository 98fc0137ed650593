"""Rule-based incident analysis: what kind of problem an incident is, its likely root cause, in plain words.

Deterministic, always on, pure: the `analysis` reaction gathers the facts (the incident's alert
times, its flap history, the incidents on assets it depends on or that depend on it, how many assets
show the same signature) and `analyze` names one pattern, in this order of precedence:

- CASCADING_FAILURE: incidents on assets linked by `depends_on` opened within the company's
  correlation window of each other. The most upstream asset's incident is the likely root cause; the
  others point at it. The root's blast radius is the number of downstream assets hit. An asset's own
  problem (a full disk, an expiring certificate: `LOCAL_PROBLEMS`) is nobody's downstream.
- ALERT_STORM: at least STORM_ALERTS alerts within STORM_WINDOW on the incident, or the same
  signature on at least STORM_ASSETS assets within the window.
- FLAPPING: correlation flagged it, or at least FLAP_CYCLES fire/resolve cycles within an hour.
- CYCLIC: at least CYCLE_MIN_OCCURRENCES firings at a regular period (every gap within CYCLE_JITTER
  of the median gap, the median at least a minute): "every 15 minutes", "every day".
- PERSISTENT: firing without a break for PERSISTENT_AFTER or more.
- ISOLATED: none of these.

Confidence (0..1) grows with the evidence (more alerts, more cycles, more assets).
"""

from __future__ import annotations

import enum
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STORM_ALERTS = 20
STORM_WINDOW = timedelta(minutes=5)
STORM_ASSETS = 5
FLAP_CYCLES = 3
FLAP_WINDOW = timedelta(hours=1)
CYCLE_MIN_OCCURRENCES = 4
CYCLE_JITTER = 0.1
CYCLE_MIN_PERIOD = timedelta(minutes=1)
PERSISTENT_AFTER = timedelta(hours=2)
MAX_FIRINGS = 200  # alert times looked at per incident (the latest)


#: Problems of an asset itself (canonical signatures, `domain.signatures.BUILT_IN`): a full disk or an
#: expiring certificate is never the symptom of a failure upstream, whenever it opens. Such an incident
#: is no cascade's downstream (a root it may be: a full disk stops a database).
LOCAL_PROBLEMS = frozenset({"disk_full", "cert_expiry"})


def is_local_problem(canonical_signature: str | None) -> bool:
    """Whether the incident's problem is its asset's own (`LOCAL_PROBLEMS`; `disk_full:/var/log` too)."""
    return canonical_signature is not None and canonical_signature.split(":", 1)[0] in LOCAL_PROBLEMS


class PatternType(enum.StrEnum):
    ALERT_STORM = "ALERT_STORM"
    FLAPPING = "FLAPPING"
    CYCLIC = "CYCLIC"
    PERSISTENT = "PERSISTENT"
    CASCADING_FAILURE = "CASCADING_FAILURE"
    ISOLATED = "ISOLATED"


class AnalysisSource(enum.StrEnum):
    RULES = "RULES"
    BEDROCK = "BEDROCK"
    GEMINI = "GEMINI"


@dataclass(frozen=True, slots=True)
class Related:
    """An incident on an asset linked to this one's; `depth` hops away along `depends_on`."""

    incident_id: uuid.UUID
    asset_name: str
    signature: str
    created_at: datetime
    depth: int


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    incident_id: uuid.UUID
    signature: str
    asset_name: str
    open: bool
    first_alert_at: datetime
    last_alert_at: datetime
    alert_count: int
    flapping: bool = False
    flap_times: Sequence[datetime] = ()
    # Event times of its firing alerts, oldest first (at most MAX_FIRINGS, the latest).
    firing_times: Sequence[datetime] = ()
    # Incidents on assets this one's asset depends on (upstream) / that depend on it (downstream),
    # opened within the company's window of this one.
    upstream: Sequence[Related] = ()
    downstream: Sequence[Related] = ()
    # Distinct assets with an incident of this signature opened within the window (this one included).
    signature_assets: int = 1


@dataclass(frozen=True, slots=True)
class Analysis:
    pattern: PatternType
    root_cause: str
    confidence: float
    explanation: str
    root_incident_id: uuid.UUID | None = None  # set on a downstream incident of a cascade
    blast_radius: int = 0  # on a cascade's root: the downstream assets hit
    details: dict[str, object] = field(default_factory=dict)


def _ago(td: timedelta) -> str:
    return duration(td.total_seconds())


def duration(seconds: float) -> str:
    """`15 minutes`, `2 hours`, `1 day`, `90 seconds`: the unit that reads best."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and (seconds % size < size * 0.05 or seconds >= 3 * size):
            n = round(seconds / size)
            return f"{n} {unit}" + ("" if n == 1 else "s")
    n = round(seconds)
    return f"{n} second" + ("" if n == 1 else "s")


def _every(seconds: float) -> str:
    text = duration(seconds)
    return "every " + (text[2:] if text.startswith("1 ") else text)


def storm_burst(times: Sequence[datetime]) -> int:
    """The most alerts within any STORM_WINDOW."""
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] > STORM_WINDOW:
            start += 1
        best = max(best, end - start + 1)
    return best


def cycle_period(times: Sequence[datetime]) -> float | None:
    """The regular period of the firings in seconds, or None when they are not regular."""
    distinct = sorted(set(times))
    if len(distinct) < CYCLE_MIN_OCCURRENCES:
        return None
    gaps = [(b - a).total_seconds() for a, b in zip(distinct, distinct[1:], strict=False)]
    median = statistics.median(gaps)
    if median < CYCLE_MIN_PERIOD.total_seconds():
        return None
    if any(abs(g - median) > CYCLE_JITTER * median for g in gaps):
        return None
    return median


def _flap_cycles(times: Sequence[datetime], now: datetime) -> int:
    return sum(1 for t in times if now - t <= FLAP_WINDOW)


def _confidence(base: float, evidence: float) -> float:
    return round(min(0.99, base + evidence), 2)


def cascade_root(upstream: Sequence[Related]) -> Related | None:
    """The likely root cause among the incidents upstream of one: the most upstream, the earliest of
    those; None when there is none (the decisions read it the same way)."""
    if not upstream:
        return None
    return max(upstream, key=lambda r: (r.depth, -r.created_at.timestamp()))


def analyze(facts: IncidentFacts, now: datetime) -> Analysis:
    """The incident's pattern and likely root cause."""
    what = f"{facts.signature} on {facts.asset_name}"
    root = cascade_root(facts.upstream)
    if root is not None:
        return Analysis(
            PatternType.CASCADING_FAILURE,
            f"{root.signature} on {root.asset_name}, which {facts.asset_name} depends on",
            _confidence(0.6, 0.1 * min(3, len(facts.upstream))),
            f"{what} started within the correlation window of {root.signature} on {root.asset_name}, "
            f"{root.depth} dependency hop{'s' if root.depth != 1 else ''} upstream. "
            f"The upstream failure is the likely cause; fixing {root.asset_name} should clear this one too.",
            root_incident_id=root.incident_id,
            details={"root_asset": root.asset_name, "depth": root.depth},
        )
    if facts.downstream:
        assets = sorted({r.asset_name for r in facts.downstream})
        shown = ", ".join(assets[:5]) + (f" and {len(assets) - 5} more" if len(assets) > 5 else "")
        return Analysis(
            PatternType.CASCADING_FAILURE,
            f"{what}: the most upstream failure of a cascade",
            _confidence(0.6, 0.1 * min(3, len(assets))),
            f"{len(assets)} asset{'s' if len(assets) != 1 else ''} that depend on {facts.asset_name} "
            f"({shown}) opened incidents within the correlation window after it. "
            f"{what} is the likely root cause: fix it first.",
            blast_radius=len(assets),
            details={"downstream_assets": assets},
        )
    burst = storm_burst(facts.firing_times)
    if burst >= STORM_ALERTS:
        return Analysis(
            PatternType.ALERT_STORM,
            f"a burst of {what} alerts",
            _confidence(0.7, 0.01 * (burst - STORM_ALERTS)),
            f"{burst} alerts arrived within {_ago(STORM_WINDOW)} for {what}. "
            "They are one problem, grouped into this incident; look at the first alert, not each repeat.",
            details={"burst": burst},
        )
    if facts.signature_assets >= STORM_ASSETS:
        return Analysis(
            PatternType.ALERT_STORM,
            f"{facts.signature} on {facts.signature_assets} assets at once",
            _confidence(0.65, 0.03 * (facts.signature_assets - STORM_ASSETS)),
            f"{facts.signature} fired on {facts.signature_assets} assets within the correlation window. "
            "A shared cause (a network segment, a deployment, a shared dependency) is more likely than "
            f"{facts.signature_assets} separate failures.",
            details={"assets": facts.signature_assets},
        )
    cycles = _flap_cycles(facts.flap_times, now)
    if facts.flapping or cycles >= FLAP_CYCLES:
        return Analysis(
            PatternType.FLAPPING,
            f"{what} keeps firing and clearing",
            _confidence(0.7, 0.05 * max(0, cycles - FLAP_CYCLES)),
            f"{what} fired and cleared {cycles} times within the last hour. "
            "A threshold set too close to normal values, or an unstable service, makes it flap; "
            "resolve messages no longer close it.",
            details={"cycles": cycles},
        )
    period = cycle_period(facts.firing_times)
    if period is not None:
        occurrences = len(set(facts.firing_times))
        return Analysis(
            PatternType.CYCLIC,
            f"{what} recurs {_every(period)}",
            _confidence(0.6, 0.05 * min(6, occurrences - CYCLE_MIN_OCCURRENCES)),
            f"{what} fired {occurrences} times, {_every(period)}. "
            "A scheduled job (a backup, a cron task, a batch) is the likely trigger: look at what runs "
            "at that interval.",
            details={"period_seconds": period, "occurrences": occurrences},
        )
    firing_for = facts.last_alert_at - facts.first_alert_at
    if facts.open and now - facts.first_alert_at >= PERSISTENT_AFTER and not facts.flap_times:
        lasting = max(firing_for, now - facts.first_alert_at)
        return Analysis(
            PatternType.PERSISTENT,
            f"{what} has not cleared",
            _confidence(0.6, 0.05 * min(6, lasting / PERSISTENT_AFTER)),
            f"{what} has been firing for {_ago(lasting)} without clearing. "
            "It will not go away by itself: it needs a fix, not more waiting.",
            details={"firing_seconds": lasting.total_seconds()},
        )
    return Analysis(
        PatternType.ISOLATED,
        what,
        0.5,
        f"{what} shows no storm, flapping, cycle or cascade. Treat it as a single problem on {facts.asset_name}.",
    )
