"""Signatures: one problem, one name, whatever the monitoring tool calls it.

Datadog says "Disk usage high", Alertmanager "DiskFull", our generic tool "disk_full", Zabbix
"High CPU on web-01" (its event names carry the host). Correlation keys alerts by asset and
*canonical* signature (`canonical_signature`), so those land on one incident. Folding, in order:

1. Parenthesised and bracketed asides go (`(over 90% for 5m)`, `[FIRING:1]`, `(blue us-1)`): they
   carry thresholds, counts and labels, not the problem. A path (`/var`, `/dev/sda1`) outside them is
   kept aside as a qualifier: a disk filling up on `/var` and on `/` are two problems with two fixes,
   so they stay two incidents (`disk_full:/var`, `disk_full:/`); a signature without a path is not
   merged with one that has a path.
2. camelCase and separators split into lowercase words (`NodeFilesystemAlmostOutOfSpace`,
   `prod-api-db-cpu-high`, `disk_full`).
3. The asset's own name is cut out wherever its words appear in a row (its full name, and the first
   label of a dotted name: `web-01.acme.local` also cuts `web-01`), unless nothing would be left.
4. Thresholds (`90%`, `5m`) and filler words (`is`, `on`, `above`, `almost`...) go; a few words are
   spelled one way (`utilization` -> `usage`, `filesystem` -> `disk`, `ram` -> `memory`...).
5. The words, as a set (their order does not matter: "high CPU" is "CPU high"), are looked up in the
   company's alias rules, then in the built-in set (`BUILT_IN`); a signature found in neither is the
   sorted words joined by `_`.

Only whole word sets match: a signature with one word the rule does not know ("disk io high",
"swap usage high", "inode usage high") is not folded into a rule, so different problems are never
merged because they share a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from domain.errors import InvalidInput

MAX_ALIAS_SIGNATURES = 50
MAX_SIGNATURE_LENGTH = 200

_ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_PATH = re.compile(r"(?<![\w.:/])(/[\w.\-/]*)")
_THRESHOLD = re.compile(
    r"[<>]=?|\b\d+(?:\.\d+)?\s*(?:%|(?:ms|s|m|h|min|mins|minutes|seconds|hours|days)\b)", re.IGNORECASE
)
# camelCase boundaries: "DiskFull" -> "Disk Full", "HTTPErrorRate" -> "HTTP Error Rate".
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")

_FILLER = frozenset(
    """a an the is are was be been being has have on at of in for to by from with and or its it this
    that too very almost nearly critically getting running currently now will above over below under
    exceeds exceeded exceeding threshold than greater less more least percent pct p50 p90 p95 p99
    alert alarm warning warn critical problem detected""".split()
)
_SYNONYMS = {
    "utilization": "usage",
    "utilisation": "usage",
    "util": "usage",
    "used": "usage",
    "consumption": "usage",
    "filesystem": "disk",
    "filesystems": "disk",
    "fs": "disk",
    "volume": "disk",
    "storage": "disk",
    "partition": "disk",
    "disks": "disk",
    "mem": "memory",
    "ram": "memory",
    "processor": "cpu",
    "elevated": "high",
    "excessive": "high",
    "increased": "high",
    "certificate": "cert",
    "certificates": "cert",
    "ssl": "cert",
    "tls": "cert",
    "expires": "expiry",
    "expire": "expiry",
    "expiring": "expiry",
    "expiration": "expiry",
    "expired": "expiry",
    "errors": "error",
    "5xx": "error",
    "stopped": "down",
    "dead": "down",
    "crashed": "down",
    "unreachable": "down",
    "unavailable": "down",
    "offline": "down",
    "process": "service",
    "daemon": "service",
    "services": "service",
    "slow": "latency",
    "lag": "lag",
}

#: The common problems across the ten tools: canonical signature -> the names tools give it (folded
#: like any signature, so each spelling stands for its camelCase, snake_case and word-order variants).
BUILT_IN: Mapping[str, tuple[str, ...]] = {
    "disk_full": (
        "disk full",
        "disk space low",
        "disk usage",
        "disk usage high",
        "disk space",
        "disk space critical",
        "disk almost full",
        "free disk space low",
        "disk space usage high",
        "free disk space is less than",
        "NodeFilesystemAlmostOutOfSpace",
        "NodeFilesystemSpaceFillingUp",
        "HostOutOfDiskSpace",
        "out of disk space",
        "no space left on device",
        "out of space",
        "disk free space low",
    ),
    "memory_high": (
        "memory high",
        "memory usage high",
        "memory usage",
        "memory low",
        "free memory low",
        "available memory low",
        "lack of available memory",
        "out of memory",
        "HostOutOfMemory",
        "memory pressure",
        "NodeMemoryHigh",
    ),
    "cpu_high": (
        "cpu high",
        "cpu usage high",
        "cpu usage",
        "cpu load high",
        "HostHighCpuLoad",
        "NodeCPUHigh",
        "cpu saturated",
    ),
    "service_down": (
        "service down",
        "service not running",
        "service failed",
        "ServiceDown",
        "HostSystemdServiceCrashed",
        "service not responding",
    ),
    "host_down": (
        "host down",
        "host not reporting",
        "host not responding",
        "InstanceDown",
        "NodeDown",
        "node not reporting",
        "unavailable by icmp ping",
        "no ping response",
        "host no data",
    ),
    "cert_expiry": (
        "certificate expiry",
        "certificate expires soon",
        "SSLCertExpiringSoon",
        "certificate will expire",
        "cert expiry soon",
        "certificate expired",
        "certificate expires in less than",
        "CertificateExpiry",
    ),
    "latency_high": (
        "latency high",
        "slow response",
        "response time high",
        "request latency high",
        "slow requests",
        "HighLatency",
        "latency",
    ),
    "error_rate_high": (
        "error rate high",
        "error rate",
        "HighErrorRate",
        "too many errors",
        "error high",
        "http 5xx high",
        "5xx rate high",
        "error ratio high",
        "http error rate high",
        "HTTPErrorsHigh",
    ),
    "replication_lag": ("replication lag", "replication lag high", "ReplicationLag", "replica lag high"),
}


@dataclass(frozen=True, slots=True)
class Folded:
    """A signature taken apart: its problem words (a sorted, deduplicated tuple) and path qualifiers."""

    words: tuple[str, ...]
    paths: tuple[str, ...]

    @property
    def problem(self) -> str:
        """The words as one lookup key ("cpu high")."""
        return " ".join(self.words)


def _words(text: str) -> list[str]:
    text = _THRESHOLD.sub(" ", _CAMEL.sub(" ", text))
    return _WORD.findall(text.lower())


def _cut(words: list[str], name: list[str]) -> list[str]:
    """`words` without every run equal to `name`."""
    n = len(name)
    if not n or n > len(words):
        return words
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i : i + n] == name:
            i += n
        else:
            out.append(words[i])
            i += 1
    return out


@lru_cache(maxsize=8192)
def _split(raw: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The words and path qualifiers of a signature (steps 1-2), before the asset's name is cut."""
    text = raw
    # Asides may nest ("[Triggered on {device:/dev/sda1}]"): strip innermost first, a few levels.
    for _ in range(3):
        stripped = _ASIDE.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    paths = tuple(sorted({p.rstrip("/.-") or "/" for p in _PATH.findall(text)}))
    return tuple(_words(_PATH.sub(" ", text))), paths


@lru_cache(maxsize=8192)
def _asset_words(asset_name: str) -> tuple[list[str], ...]:
    """The word runs that name the asset: its full name, and the first label of a dotted one."""
    names = [_words(asset_name)]
    short = asset_name.split(".", 1)[0]
    if short != asset_name:
        names.append(_words(short))
    return tuple(names)


# Three caches, not one: a stream repeats a few signatures over many assets, so the regex work is
# cached per signature and per asset name, and the cheap combination per pair (the worker folds every
# alert it correlates; a pair cache alone would thrash at 500 assets x 20 signatures).
@lru_cache(maxsize=16384)
def fold(raw: str, asset_name: str = "") -> Folded:
    """The problem words and path qualifiers of `raw` on the asset called `asset_name` (steps 1-4)."""
    split, paths = _split(raw)
    words = list(split)
    if asset_name:
        cut = words
        for name in _asset_words(asset_name):
            cut = _cut(cut, name)
        if any(w not in _FILLER for w in cut):
            words = cut
    problem = sorted({_SYNONYMS.get(w, w) for w in words if w not in _FILLER})
    if not problem:  # only filler ("Is down") or nothing at all: keep what there was
        problem = sorted(set(words)) or [raw.strip().lower()]
    return Folded(tuple(problem), paths)


def _name(words: Iterable[str]) -> str:
    return "_".join(words)


def _rules_from(groups: Mapping[str, Iterable[str]]) -> dict[str, str]:
    rules: dict[str, str] = {}
    for canonical, names in groups.items():
        for name in names:
            rules[fold(name).problem] = canonical
    return rules


#: Problem words -> canonical signature, from BUILT_IN.
BUILT_IN_RULES: Mapping[str, str] = _rules_from(BUILT_IN)


def canonical_signature(raw: str, asset_name: str = "", aliases: Mapping[str, str] | None = None) -> str:
    """The signature correlation keys `raw` by, on the asset called `asset_name`.

    `aliases` are the company's rules (`alias_rules`: problem words -> canonical), which win over the
    built-in set. The result is lowercase words joined by `_`, plus `:path[,path]` when the signature
    names paths (see the module docstring).
    """
    folded = fold(raw, asset_name)
    problem = folded.problem
    canonical = (
        (aliases.get(problem) if aliases else None) or BUILT_IN_RULES.get(problem) or _name(folded.words)
    )
    if folded.paths:
        return f"{canonical}:{','.join(folded.paths)}"
    return canonical


# ---- per-company alias groups ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AliasGroup:
    """One company rule: these signatures are one problem, called `canonical`."""

    canonical: str
    signatures: tuple[str, ...]
    problems: tuple[str, ...]  # the folded problem words of each signature, deduplicated


# Error codes of alias groups (the GraphQL area's SignatureAliasErrorCode).
EMPTY = "EMPTY_SIGNATURE"
TOO_MANY = "TOO_MANY_SIGNATURES"
TOO_LONG = "SIGNATURE_TOO_LONG"
CONFLICT = "ALIAS_CONFLICT"


def alias_group(signatures: Iterable[str], canonical: str | None = None) -> AliasGroup:
    """Validate a new group; raises InvalidInput (`signatures`, `canonical`) for what is wrong.

    The canonical name defaults to the first signature's; either way it is folded and then looked up
    in the built-in set, so naming a group "disk full" joins it to the built-in disk problem.
    """
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(signatures):
        name = raw.strip()
        if not name:
            raise InvalidInput("must not be empty", field=f"signatures[{i}]", code=EMPTY)
        if len(name) > MAX_SIGNATURE_LENGTH:
            raise InvalidInput(
                f"must be at most {MAX_SIGNATURE_LENGTH} characters", field=f"signatures[{i}]", code=TOO_LONG
            )
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    if not names:
        raise InvalidInput("must name at least one signature", field="signatures", code=EMPTY)
    if len(names) > MAX_ALIAS_SIGNATURES:
        raise InvalidInput(f"at most {MAX_ALIAS_SIGNATURES} signatures", field="signatures", code=TOO_MANY)
    if canonical is not None:
        canonical = canonical.strip()
        if not canonical:
            raise InvalidInput(
                "must not be empty (omit it to use the first signature)", field="canonical", code=EMPTY
            )
        if len(canonical) > MAX_SIGNATURE_LENGTH:
            raise InvalidInput(
                f"must be at most {MAX_SIGNATURE_LENGTH} characters", field="canonical", code=TOO_LONG
            )
    name = canonical_signature(canonical if canonical is not None else names[0])
    problems = tuple(dict.fromkeys(fold(n).problem for n in names))
    return AliasGroup(name, tuple(names), problems)


def check_no_conflict(group: AliasGroup, others: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Raise InvalidInput (ALIAS_CONFLICT) when a signature of `group` folds like one of another
    group's. `others` are (canonical, problems) of the company's existing groups: one signature in two
    groups would make the result depend on which rule is read first."""
    taken = {problem: canonical for canonical, problems in others for problem in problems}
    for index, name in enumerate(group.signatures):
        other = taken.get(fold(name).problem)
        if other is not None:
            raise InvalidInput(
                f'"{name}" is already one problem with the alias group "{other}"',
                field=f"signatures[{index}]",
                code=CONFLICT,
            )


def alias_rules(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """A company's rules for `canonical_signature`: (canonical, problems) of each group."""
    return {problem: canonical for canonical, problems in groups for problem in problems}
