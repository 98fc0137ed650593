"""Runbooks: what one is, the rules a runbook must pass before it is stored, the safe rendering of its
commands with parameter values, and the choice of the best runbook for an alert.

A command refers to a parameter as `{{name}}`. `render` replaces each reference with the value quoted
for the target shell (POSIX `sh` quoting on Linux, a single-quoted PowerShell string on Windows), so a
value is always one word of the command: it can never end the command and start another. A reference
must therefore stand on its own, not inside quotes the template wrote (`'{{x}}'` would unquote it).
"""

from __future__ import annotations

import enum
import re
import shlex
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from domain.errors import InvalidInput
from domain.signatures import canonical_signature


class RunbookCategory(enum.StrEnum):
    INFRASTRUCTURE = "INFRASTRUCTURE"
    SERVICES = "SERVICES"
    SECURITY = "SECURITY"
    DATABASE = "DATABASE"


class RunbookRisk(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Platform(enum.StrEnum):
    LINUX = "LINUX"
    WINDOWS = "WINDOWS"


class ParameterType(enum.StrEnum):
    STRING = "STRING"
    INTEGER = "INTEGER"
    BOOLEAN = "BOOLEAN"


#: The SSM document each platform's commands run under.
SSM_DOCUMENT = {Platform.LINUX: "AWS-RunShellScript", Platform.WINDOWS: "AWS-RunPowerShellScript"}

MAX_COMMANDS = 50
MAX_COMMAND_BYTES = 8 * 1024
MAX_TOTAL_BYTES = 64 * 1024
MAX_PARAMETERS = 20
MAX_SIGNATURES = 50
MAX_SIGNATURE_LENGTH = 255
MAX_PATTERN_LENGTH = 255
MAX_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 4000
MAX_VALUE_LENGTH = 1024
MIN_TIMEOUT_SECONDS = 30
MAX_TIMEOUT_SECONDS = 7200
DEFAULT_TIMEOUT_SECONDS = 600

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# PowerShell treats the typographic single quotes as quote characters too.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


@dataclass(frozen=True, slots=True)
class RunbookParameter:
    """A typed value a runbook's commands take, e.g. the service to restart."""

    name: str
    type: ParameterType = ParameterType.STRING
    default: str | int | bool | None = None
    description: str = ""
    #: A regular expression a STRING value must match in full (e.g. `[A-Za-z0-9_.@-]+` for a unit name).
    allowed_pattern: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.value,
            "default": self.default,
            "description": self.description,
            "allowedPattern": self.allowed_pattern,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RunbookParameter:
        return RunbookParameter(
            name=data["name"],
            type=ParameterType(data.get("type", "STRING")),
            default=data.get("default"),
            description=data.get("description") or "",
            allowed_pattern=data.get("allowedPattern"),
        )


@dataclass(frozen=True, slots=True)
class RunbookSpec:
    """The content of one runbook version: everything a change may set."""

    name: str
    category: RunbookCategory
    platform: Platform
    commands: tuple[str, ...]
    description: str = ""
    signatures: tuple[str, ...] = ()
    signature_patterns: tuple[str, ...] = ()
    risk: RunbookRisk = RunbookRisk.MEDIUM
    parameters: tuple[RunbookParameter, ...] = ()
    health_check: str | None = None
    auto_approve: bool = False
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


def _enum(kind: type[enum.StrEnum], value: Any, field_name: str) -> Any:
    try:
        return kind(value)
    except ValueError as exc:
        raise InvalidInput(f"must be one of {', '.join(kind)}", field=field_name) from exc


def _text_list(values: Iterable[str], field_name: str, max_items: int, max_length: int) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            raise InvalidInput("must not contain empty entries", field=field_name)
        if len(value) > max_length:
            raise InvalidInput(f"entries must be at most {max_length} characters", field=field_name)
        if value not in out:
            out.append(value)
    if len(out) > max_items:
        raise InvalidInput(f"at most {max_items} entries", field=field_name)
    return tuple(out)


def _check_value(param: RunbookParameter, value: Any, field_name: str) -> str | int | bool:
    """`value` as `param`'s type, or InvalidInput."""
    if param.type is ParameterType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidInput(f"{param.name} must be true or false", field=field_name)
    if param.type is ParameterType.INTEGER:
        if isinstance(value, bool):
            raise InvalidInput(f"{param.name} must be an integer", field=field_name)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            return int(value)
        raise InvalidInput(f"{param.name} must be an integer", field=field_name)
    if not isinstance(value, str):
        raise InvalidInput(f"{param.name} must be text", field=field_name)
    if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
        raise InvalidInput(
            f"{param.name} must be at most {MAX_VALUE_LENGTH} characters, without NUL", field=field_name
        )
    if param.allowed_pattern is not None and re.fullmatch(param.allowed_pattern, value) is None:
        raise InvalidInput(f"{param.name} must match {param.allowed_pattern}", field=field_name)
    return value


# A repeated group that itself repeats (`(a+)+`, `(\w*)*`, `(x{1,9}){2,}`): the shape of catastrophic
# backtracking. Python's `re` has no timeout, and the decisions match every alert against these.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")


def _compile(pattern: str, field_name: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"{pattern!r} is not a valid regular expression: {exc}", field=field_name) from exc
    if _NESTED_QUANTIFIER.search(pattern):
        raise InvalidInput(
            f"{pattern!r} repeats a repeated group, which can take exponential time to match",
            field=field_name,
        )
    return compiled


def references(command: str) -> list[str]:
    """The parameter names `command` refers to, in order."""
    return [m.group(1) for m in _REFERENCE.finditer(command)]


def _check_commands(commands: Sequence[str], field_name: str) -> tuple[str, ...]:
    out = tuple(c for c in (c.rstrip() for c in commands) if c.strip())
    if not out:
        raise InvalidInput("must hold at least one command", field=field_name)
    if len(out) > MAX_COMMANDS:
        raise InvalidInput(f"at most {MAX_COMMANDS} commands", field=field_name)
    total = 0
    for command in out:
        size = len(command.encode())
        if size > MAX_COMMAND_BYTES:
            raise InvalidInput(f"each command must be at most {MAX_COMMAND_BYTES} bytes", field=field_name)
        if "\x00" in command:
            raise InvalidInput("must not contain NUL characters", field=field_name)
        total += size
        for m in _REFERENCE.finditer(command):
            before = command[m.start() - 1] if m.start() else ""
            after = command[m.end()] if m.end() < len(command) else ""
            if (before and before in "'\"") or (after and after in "'\""):
                raise InvalidInput(
                    f"{{{{{m.group(1)}}}}} must not be written inside quotes: values are quoted for you",
                    field=field_name,
                )
    if total > MAX_TOTAL_BYTES:
        raise InvalidInput(f"the commands must be at most {MAX_TOTAL_BYTES} bytes in all", field=field_name)
    return out


def validate(spec: RunbookSpec) -> RunbookSpec:
    """`spec` checked and normalised (trimmed, deduplicated), or InvalidInput naming the field."""
    name = spec.name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    description = spec.description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"must be at most {MAX_DESCRIPTION_LENGTH} characters", field="description")
    category = _enum(RunbookCategory, spec.category, "category")
    platform = _enum(Platform, spec.platform, "platform")
    risk = _enum(RunbookRisk, spec.risk, "risk")
    signatures = _text_list(spec.signatures, "signatures", MAX_SIGNATURES, MAX_SIGNATURE_LENGTH)
    patterns = _text_list(spec.signature_patterns, "signaturePatterns", MAX_SIGNATURES, MAX_PATTERN_LENGTH)
    for pattern in patterns:
        _compile(pattern, "signaturePatterns")
    commands = _check_commands(spec.commands, "commands")
    health_check = (spec.health_check or "").strip() or None
    if health_check is not None:
        _check_commands([health_check], "healthCheck")
    if not MIN_TIMEOUT_SECONDS <= spec.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(
            f"must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds", field="timeoutSeconds"
        )

    if len(spec.parameters) > MAX_PARAMETERS:
        raise InvalidInput(f"at most {MAX_PARAMETERS} parameters", field="parameters")
    params: list[RunbookParameter] = []
    for param in spec.parameters:
        if not _PARAM_NAME.fullmatch(param.name):
            raise InvalidInput(
                f"{param.name!r} is not a valid parameter name (letters, digits, _; at most 64)",
                field="parameters",
            )
        if any(p.name == param.name for p in params):
            raise InvalidInput(f"{param.name} is declared twice", field="parameters")
        ptype = _enum(ParameterType, param.type, "parameters")
        allowed = param.allowed_pattern or None
        if allowed is not None:
            if ptype is not ParameterType.STRING:
                raise InvalidInput(f"{param.name}: only STRING parameters take a pattern", field="parameters")
            if len(allowed) > MAX_PATTERN_LENGTH:
                raise InvalidInput(f"{param.name}: the pattern is too long", field="parameters")
            _compile(allowed, "parameters")
        checked = RunbookParameter(param.name, ptype, None, param.description.strip()[:500], allowed)
        default = None if param.default is None else _check_value(checked, param.default, "parameters")
        params.append(RunbookParameter(param.name, ptype, default, checked.description, allowed))

    declared = {p.name for p in params}
    used = {r for c in (*commands, *([health_check] if health_check else [])) for r in references(c)}
    for ref in sorted(used - declared):
        raise InvalidInput(f"{{{{{ref}}}}} is used but not declared", field="commands")
    for unused in sorted(declared - used):
        raise InvalidInput(f"{unused} is declared but no command uses it", field="parameters")

    return RunbookSpec(
        name=name,
        category=category,
        platform=platform,
        commands=commands,
        description=description,
        signatures=signatures,
        signature_patterns=patterns,
        risk=risk,
        parameters=tuple(params),
        health_check=health_check,
        auto_approve=spec.auto_approve,
        timeout_seconds=spec.timeout_seconds,
    )


# ---- rendering ---------------------------------------------------------------------------------


def quote(value: str, platform: Platform) -> str:
    """`value` as one literal word of the platform's shell."""
    if platform is Platform.WINDOWS:
        # Inside a single-quoted PowerShell string nothing is special but the quote itself, doubled.
        return "'" + "".join(ch * 2 if ch in _PS_QUOTES else ch for ch in value) + "'"
    return shlex.quote(value)


def _word(value: str | int | bool, platform: Platform) -> str:
    if isinstance(value, bool):
        return ("$true" if value else "$false") if platform is Platform.WINDOWS else str(value).lower()
    if isinstance(value, int):
        return str(value)
    return quote(value, platform)


def resolve_values(
    parameters: Sequence[RunbookParameter], given: Mapping[str, Any] | None
) -> dict[str, str | int | bool]:
    """Each parameter's value: the one given (checked against its type) or its default."""
    given = dict(given or {})
    declared = {p.name for p in parameters}
    for unknown in sorted(set(given) - declared):
        raise InvalidInput(f"{unknown} is not a parameter of this runbook", field="parameters")
    values: dict[str, str | int | bool] = {}
    for param in parameters:
        if param.name in given and given[param.name] is not None:
            values[param.name] = _check_value(param, given[param.name], "parameters")
        elif param.default is not None:
            values[param.name] = param.default
        else:
            raise InvalidInput(f"{param.name} needs a value", field="parameters")
    return values


def render(
    commands: Sequence[str],
    parameters: Sequence[RunbookParameter],
    given: Mapping[str, Any] | None,
    platform: Platform,
) -> list[str]:
    """The commands with every `{{name}}` replaced by its value, quoted for `platform`."""
    values = resolve_values(parameters, given)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InvalidInput(f"{{{{{name}}}}} is used but not declared", field="commands")
        return _word(values[name], platform)

    return [_REFERENCE.sub(substitute, command) for command in commands]


# ---- matching ----------------------------------------------------------------------------------


class MatchableRunbook(Protocol):
    """What `best_runbook` reads of a runbook (its current version)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def company_id(self) -> uuid.UUID | None: ...
    @property
    def name(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def risk(self) -> str: ...
    @property
    def signatures(self) -> Sequence[str]: ...
    @property
    def signature_patterns(self) -> Sequence[str]: ...
    @property
    def archived_at(self) -> datetime | None: ...


R = TypeVar("R", bound=MatchableRunbook)

_RISK_ORDER = {RunbookRisk.LOW: 0, RunbookRisk.MEDIUM: 1, RunbookRisk.HIGH: 2}


def matches_exactly(runbook: MatchableRunbook, signature: str) -> bool:
    wanted = signature.strip().casefold()
    return any(s.casefold() == wanted for s in runbook.signatures)


def matches_pattern(runbook: MatchableRunbook, signature: str) -> bool:
    for pattern in runbook.signature_patterns:
        try:
            if re.search(pattern, signature, re.IGNORECASE):
                return True
        except re.error:
            continue  # stored patterns were validated; an old one that no longer compiles matches nothing
    return False


@dataclass(frozen=True, slots=True)
class IncidentSignatures:
    """What a runbook is matched against: every original signature an incident saw (first seen
    first) and its canonical one (`domain.signatures.canonical_signature`). Build it with
    `incident_signatures`."""

    originals: tuple[str, ...]
    canonical: str
    #: originals and canonical, trimmed and casefolded: what an exact runbook signature is compared to
    names: frozenset[str]
    #: what patterns search: the originals, and the canonical one unless it is one of them already
    searched: tuple[str, ...] = ()


def incident_signatures(
    signature: str,
    signatures: Iterable[str] = (),
    canonical: str | None = None,
    *,
    asset_name: str = "",
    aliases: Mapping[str, str] | None = None,
) -> IncidentSignatures:
    """An incident's signatures: `signature` (its first) and `signatures` (all it saw), and
    `canonical` as stored; without one (an incident from before migration 0035) it is folded here
    from `signature` on `asset_name` under the company's `aliases`, as correlation keys it."""
    originals = tuple(dict.fromkeys(s for s in (signature, *signatures) if s))
    if not canonical:
        canonical = canonical_signature(signature, asset_name, aliases) if signature else ""
    names = frozenset(s.strip().casefold() for s in (*originals, canonical) if s.strip())
    searched = originals if not canonical or canonical in originals else (*originals, canonical)
    return IncidentSignatures(originals, canonical, names, searched)


class RunbookFolds:
    """The canonical forms of runbook signatures under one company's alias rules, each runbook
    folded once, with its casefolded names and compiled patterns (keyed by id: use one instance per
    company and per batch of current versions).

    Folded here, per batch, rather than stored per runbook version on write: a runbook's canonical
    forms depend on who reads it (a global runbook serves every company, each with its own aliases),
    and they change when a company's alias groups do (a stored column would need rewriting for every
    version at each `signatureAliasCreate`) or when a release changes the built-in set (a migration
    each time). Folding is cheap: `fold` caches each string's regex work, so a signature costs a
    few dictionary look-ups (about 0.25 µs), and this cache makes that once per runbook per batch.
    Folded without an asset name: a runbook is not about one asset.
    """

    __slots__ = ("aliases", "_forms", "_names", "_patterns")

    def __init__(self, aliases: Mapping[str, str] | None = None) -> None:
        self.aliases = aliases
        self._forms: dict[uuid.UUID, frozenset[str]] = {}
        self._names: dict[uuid.UUID, frozenset[str]] = {}
        self._patterns: dict[uuid.UUID, tuple[re.Pattern[str], ...]] = {}

    def forms(self, runbook: MatchableRunbook) -> frozenset[str]:
        found = self._forms.get(runbook.id)
        if found is None:
            found = self._forms[runbook.id] = frozenset(
                canonical_signature(s, "", self.aliases) for s in runbook.signatures
            )
        return found

    def names(self, runbook: MatchableRunbook) -> frozenset[str]:
        """The runbook's signatures casefolded, as exact names are compared."""
        found = self._names.get(runbook.id)
        if found is None:
            found = self._names[runbook.id] = frozenset(s.casefold() for s in runbook.signatures)
        return found

    def patterns(self, runbook: MatchableRunbook) -> tuple[re.Pattern[str], ...]:
        """The runbook's `signaturePatterns` compiled once per batch (each is now tried on several
        names: `re`'s own cache look-up per search was a third of the matching time)."""
        found = self._patterns.get(runbook.id)
        if found is None:
            compiled = []
            for pattern in runbook.signature_patterns:
                try:
                    compiled.append(re.compile(pattern, re.IGNORECASE))
                except re.error:
                    continue  # validated when stored; an old one that no longer compiles matches nothing
            found = self._patterns[runbook.id] = tuple(compiled)
        return found


#: How a runbook matches an incident, best first (`match_rank`).
EXACT, FOLDED, PATTERN = 0, 1, 2


def match_rank(runbook: MatchableRunbook, incident: IncidentSignatures, folds: RunbookFolds) -> int | None:
    """How `runbook` matches `incident`, or None when it does not:

    - EXACT: one of its signatures is (case-insensitively) one of the incident's original signatures
      or its canonical one;
    - FOLDED: the canonical form of one of its signatures (the same folding rules and the company's
      aliases, no asset name) is the incident's canonical signature, so a runbook listing
      `disk_space_low` fits Datadog's "Disk usage high";
    - PATTERN: one of its `signaturePatterns` finds one of the original signatures or the canonical one.

    A literal name beats a folded one: a runbook written for exactly this tool's alert is the more
    specific fix.
    """
    if not incident.names.isdisjoint(folds.names(runbook)):
        return EXACT
    if incident.canonical and incident.canonical in folds.forms(runbook):
        return FOLDED
    if runbook.signature_patterns and any(
        p.search(s) for p in folds.patterns(runbook) for s in incident.searched
    ):
        return PATTERN
    return None


def best_runbook(
    candidates: Iterable[R],
    company_id: uuid.UUID,
    signature: str | IncidentSignatures,
    platform: Platform | str | None,
    folds: RunbookFolds | None = None,
) -> R | None:
    """The runbook to use for an incident's signatures on an asset of `platform` in `company_id`.

    `signature` is the incident's (`incident_signatures`), or one raw signature (folded here without
    aliases); `folds` carries the company's alias rules and the batch's folded runbooks.
    Only the company's own runbooks and global ones (no company), not archived, of the asset's
    platform (none when the platform is unknown). The company's own come before global ones, then
    how it matches (`match_rank`: exact, folded, pattern); among equals the lower risk, then the
    name and id, so the choice is the same every time.
    """
    if platform is None:
        return None
    platform = Platform(platform)
    folds = folds if folds is not None else RunbookFolds()
    incident = (
        signature
        if isinstance(signature, IncidentSignatures)
        else incident_signatures(signature, aliases=folds.aliases)
    )
    ranked: list[tuple[tuple[int, int, int, str, str], R]] = []
    for rb in candidates:
        if rb.archived_at is not None or rb.platform != platform:
            continue
        if rb.company_id is not None and rb.company_id != company_id:
            continue
        how = match_rank(rb, incident, folds)
        if how is None:
            continue
        own = 0 if rb.company_id is not None else 1
        risk = _RISK_ORDER.get(RunbookRisk(rb.risk), 3)
        ranked.append(((own, how, risk, rb.name.casefold(), str(rb.id)), rb))
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else None
