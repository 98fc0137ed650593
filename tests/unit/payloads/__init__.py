"""Sample payloads for the normaliser tests, shaped as each tool's documentation shows them, and a
seeded generator of junk for the fuzz tests.

    payload = load("alertmanager_firing")            # tests/unit/payloads/alertmanager_firing.json
    for junk in junk_payloads(seed=7, base=payload):  # random JSON, and `payload` with parts broken
        outcome = outcome_of(Tool.ALERTMANAGER, junk, ctx)
        assert isinstance(outcome, list) or outcome.errors
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.alerts import NormalizedAlert, PayloadError, Tool
from domain.normalizers import NormalizeContext, normalize

HERE = Path(__file__).parent

_SCALARS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    4,
    10**30,
    2**63,
    1e308,
    -1e308,
    0.5,
    "",
    " ",
    "x",
    "0",
    "1",
    "5",
    "OK",
    "RESOLVED",
    "resolved",
    "firing",
    "critical",
    "P1",
    "trigger",
    "resolve",
    "PROBLEM",
    "RECOVERY",
    "Notification",
    "2024-05-01T11:50:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1714564200",
    "99999999999999999999",
    "not a date",
    "{}",
    "[]",
    "[[[[",
    '{"AlarmName": 1}',
    "\x00",
    "\ud800",
    "é" * 300,
    "a" * 5000,
    "{EVENT.ID}",
    "$ALERT_ID",
)


def load(name: str) -> dict[str, Any]:
    """The sample payload `tests/unit/payloads/<name>.json`."""
    loaded: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return loaded


def junk_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-ish value: scalars, lists and objects nested up to four levels."""
    kind = rng.random()
    if depth >= 4 or kind < 0.55:
        return rng.choice(_SCALARS)
    if kind < 0.75:
        return [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [
        rng.choice(("alerts", "labels", "payload", "result", "Message", "tags", "x", "0")) for _ in range(4)
    ]
    return {key: junk_value(rng, depth + 1) for key in keys[: rng.randint(0, 4)]}


def junk_payloads(seed: int, base: dict[str, Any], count: int = 300) -> Iterator[Any]:
    """`count` payloads: pure junk, and copies of `base` with random leaves or branches replaced,
    removed or multiplied (which reaches the checks deep inside a valid-looking payload)."""
    rng = random.Random(seed)
    for _ in range(count):
        if rng.random() < 0.3:
            yield junk_value(rng)
            continue
        payload = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            _mutate(payload, rng)
        yield payload


def _mutate(node: Any, rng: random.Random) -> None:
    """Replace, drop or blow up one randomly chosen member of a nested structure, in place."""
    while True:
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
        elif isinstance(node, list) and node:
            key = rng.randrange(len(node))
        else:
            return
        child = node[key]
        if isinstance(child, dict | list) and child and rng.random() < 0.6:
            node = child
            continue
        action = rng.random()
        if action < 0.6:
            node[key] = junk_value(rng)
        elif action < 0.8 and isinstance(node, dict):
            del node[key]
        else:
            node[key] = [child] * rng.choice((2, 60, 1001))
        return


def outcome_of(tool: Tool, payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert] | PayloadError:
    """The alerts, or the PayloadError; any other exception propagates (and fails the test). Alerts
    are checked against the limits every stored alert must meet."""
    try:
        alerts = normalize(tool, payload, ctx)
    except PayloadError as error:
        return error
    for alert in alerts:
        assert 0 < len(alert.asset_name) <= 255
        assert 0 < len(alert.signature) <= 255
        assert 0 < len(alert.message) <= 4000
        assert len(alert.fingerprint) <= 255
        assert alert.event_time.utcoffset() is not None
        assert ctx.now - ctx.max_past_age <= alert.event_time <= ctx.now + ctx.max_future_skew
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in alert.tags.items())
    return alerts
