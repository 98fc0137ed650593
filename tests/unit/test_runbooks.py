"""Runbook rules: validation, safe rendering of parameter values, and the choice of runbook."""

from __future__ import annotations

import ast
import shlex
import subprocess
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.runbook_library import LIBRARY, library_id
from domain.runbooks import (
    ParameterType,
    Platform,
    RunbookCategory,
    RunbookFolds,
    RunbookParameter,
    RunbookRisk,
    RunbookSpec,
    best_runbook,
    incident_signatures,
    match_rank,
    quote,
    render,
    validate,
)

SERVICE = RunbookParameter("service", ParameterType.STRING, "nginx", "unit")
BASE = RunbookSpec(
    name="Restart",
    category=RunbookCategory.SERVICES,
    platform=Platform.LINUX,
    commands=("systemctl restart {{service}}",),
    parameters=(SERVICE,),
)
HOSTILE = [
    "; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "a\nreboot",
    "it's",
    "' ; reboot ; '",
    "$HOME",
    "a && b | c",
]


def _refused(spec: RunbookSpec) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate(spec)
    return caught.value


# ---- validation ---------------------------------------------------------------------------------


def test_a_valid_spec_is_normalised() -> None:
    spec = validate(replace(BASE, name="  Restart ", signatures=("nginx_down", "nginx_down", " x ")))
    assert spec.name == "Restart"
    assert spec.signatures == ("nginx_down", "x")


def test_commands_must_not_be_empty() -> None:
    assert _refused(replace(BASE, commands=(), parameters=())).field == "commands"
    assert (
        _refused(replace(BASE, commands=("  ",), parameters=())).message == "must hold at least one command"
    )


def test_commands_are_bounded_in_count_and_size() -> None:
    assert _refused(replace(BASE, commands=("true",) * 51, parameters=())).message == "at most 50 commands"
    big = _refused(replace(BASE, commands=("echo " + "x" * 8192,), parameters=()))
    assert big.message == "each command must be at most 8192 bytes"
    total = _refused(replace(BASE, commands=("echo " + "x" * 8000,) * 9, parameters=()))
    assert total.message == "the commands must be at most 65536 bytes in all"


def test_a_reference_must_be_declared_and_a_declared_parameter_used() -> None:
    undeclared = _refused(replace(BASE, parameters=()))
    assert (undeclared.field, undeclared.message) == ("commands", "{{service}} is used but not declared")
    unused = _refused(replace(BASE, commands=("systemctl restart nginx",)))
    assert (unused.field, unused.message) == ("parameters", "service is declared but no command uses it")


def test_a_reference_in_the_health_check_counts_as_used() -> None:
    spec = validate(replace(BASE, commands=("true",), health_check="systemctl is-active {{service}}"))
    assert spec.health_check == "systemctl is-active {{service}}"


def test_typed_defaults_must_fit_their_type() -> None:
    bad_int = RunbookParameter("days", ParameterType.INTEGER, "seven")
    error = _refused(replace(BASE, commands=("find /tmp -mtime +{{days}}",), parameters=(bad_int,)))
    assert (error.field, error.message) == ("parameters", "days must be an integer")
    bad_bool = RunbookParameter("force", ParameterType.BOOLEAN, 1)
    assert _refused(replace(BASE, commands=("x {{force}}",), parameters=(bad_bool,))).message == (
        "force must be true or false"
    )
    off_pattern = RunbookParameter("service", ParameterType.STRING, "a b", allowed_pattern=r"[a-z]+")
    assert _refused(replace(BASE, parameters=(off_pattern,))).message == "service must match [a-z]+"


def test_patterns_must_compile() -> None:
    error = _refused(replace(BASE, signature_patterns=("disk(",)))
    assert error.field == "signaturePatterns"
    assert error.message.startswith("'disk(' is not a valid regular expression")
    bad_allowed = RunbookParameter("service", ParameterType.STRING, "x", allowed_pattern="[")
    assert _refused(replace(BASE, parameters=(bad_allowed,))).field == "parameters"


def test_patterns_that_can_backtrack_exponentially_are_refused() -> None:
    for pattern in ("(a+)+$", r"(\w*)*x", "(x{1,9}){2,}", "(?:ab*)+"):
        error = _refused(replace(BASE, signature_patterns=(pattern,)))
        assert error.field == "signaturePatterns"
        assert (
            error.message == f"{pattern!r} repeats a repeated group, which can take exponential time to match"
        )
    assert validate(replace(BASE, signature_patterns=("(disk|volume).*(full|low)+",))).signature_patterns


def test_the_timeout_is_bounded() -> None:
    for seconds in (29, 7201):
        error = _refused(replace(BASE, timeout_seconds=seconds))
        assert (error.field, error.message) == ("timeoutSeconds", "must be between 30 and 7200 seconds")
    assert validate(replace(BASE, timeout_seconds=30)).timeout_seconds == 30


def test_a_reference_may_not_sit_inside_quotes_of_the_template() -> None:
    error = _refused(replace(BASE, commands=("systemctl restart '{{service}}'",)))
    assert error.message == "{{service}} must not be written inside quotes: values are quoted for you"


def test_parameter_names_are_checked() -> None:
    bad = RunbookParameter("no-dash", ParameterType.STRING, "x")
    assert _refused(replace(BASE, commands=("x {{no-dash}}",), parameters=(bad,))).field == "parameters"
    twice = _refused(replace(BASE, parameters=(SERVICE, SERVICE)))
    assert twice.message == "service is declared twice"


# ---- rendering ------------------------------------------------------------------------------------


def test_defaults_fill_omitted_values_and_given_ones_are_typed() -> None:
    days = RunbookParameter("days", ParameterType.INTEGER, 7)
    commands = ["find /tmp -xdev -type f -mtime +{{days}} -delete", "systemctl restart {{service}}"]
    assert render(commands, [days, SERVICE], {"days": "3"}, Platform.LINUX) == [
        "find /tmp -xdev -type f -mtime +3 -delete",
        "systemctl restart nginx",
    ]


def test_unknown_missing_and_mistyped_values_are_refused() -> None:
    required = RunbookParameter("service", ParameterType.STRING, None)
    with pytest.raises(InvalidInput, match="service needs a value"):
        render(BASE.commands, [required], {}, Platform.LINUX)
    with pytest.raises(InvalidInput, match="other is not a parameter of this runbook"):
        render(BASE.commands, [SERVICE], {"other": "x"}, Platform.LINUX)
    days = RunbookParameter("days", ParameterType.INTEGER, 7)
    with pytest.raises(InvalidInput, match="days must be an integer"):
        render(["sleep {{days}}"], [days], {"days": "7; reboot"}, Platform.LINUX)
    strict = RunbookParameter("service", ParameterType.STRING, None, allowed_pattern=r"[a-z]+")
    with pytest.raises(InvalidInput, match=r"service must match \[a-z\]\+"):
        render(BASE.commands, [strict], {"service": "nginx; reboot"}, Platform.LINUX)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_one_shell_word(value: str, tmp_path: Path) -> None:
    (command,) = render(["printf '%s\\n' {{service}}"], [SERVICE], {"service": value}, Platform.LINUX)
    assert shlex.split(command) == ["printf", "%s\\n", value]
    # And sh agrees: the value comes back verbatim and nothing else ran.
    marker = tmp_path / "ran"
    probe = value.replace("reboot", f"touch {marker}")
    (command,) = render(["printf %s {{service}}"], [SERVICE], {"service": probe}, Platform.LINUX)
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout == probe
    assert not marker.exists()


@pytest.mark.parametrize("value", [*HOSTILE, "a\u2019; Stop-Computer; \u2018", "$(Stop-Computer)", "@(1)"])
def test_a_hostile_value_stays_one_powershell_string(value: str) -> None:
    quoted = quote(value, Platform.WINDOWS)
    assert quoted.startswith("'")
    assert quoted.endswith("'")
    inner = quoted[1:-1]
    # Every quote character inside is doubled, so none ends the string: unquoting gives the value back.
    for ch in "'\u2018\u2019\u201a\u201b":
        assert inner.replace(ch * 2, "").count(ch) == 0
    unquoted = inner
    for ch in "'\u2018\u2019\u201a\u201b":
        unquoted = unquoted.replace(ch * 2, ch)
    assert unquoted == value


def test_windows_values_render_as_powershell_literals() -> None:
    force = RunbookParameter("force", ParameterType.BOOLEAN, True)
    name = RunbookParameter("name", ParameterType.STRING, "it's")
    rendered = render(
        ["Restart-Service -Name {{name}} -Force:{{force}}"], [name, force], {}, Platform.WINDOWS
    )
    assert rendered == ["Restart-Service -Name 'it''s' -Force:$true"]


# ---- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    company_id: uuid.UUID | None
    name: str
    platform: str = "LINUX"
    risk: str = "LOW"
    signatures: tuple[str, ...] = ()
    signature_patterns: tuple[str, ...] = ()
    archived_at: datetime | None = None


COMPANY, OTHER = uuid.uuid4(), uuid.uuid4()


def _rb(name: str, company: uuid.UUID | None = None, **kw: object) -> Candidate:
    return Candidate(id=uuid.uuid4(), company_id=company, name=name, **kw)  # type: ignore[arg-type]


def test_the_companys_own_runbook_comes_before_a_global_one() -> None:
    glob = _rb("global", signatures=("disk_full",))
    own = _rb("own", COMPANY, signature_patterns=("disk",))
    assert best_runbook([glob, own], COMPANY, "disk_full", Platform.LINUX) is own


def test_an_exact_signature_comes_before_a_pattern() -> None:
    pattern = _rb("a pattern", signature_patterns=("disk.*full",))
    exact = _rb("z exact", signatures=("DISK_FULL",))
    assert best_runbook([pattern, exact], COMPANY, "disk_full", "LINUX") is exact
    assert best_runbook([pattern], COMPANY, "HighDiskFullness", "LINUX") is pattern


def test_the_platform_must_match_and_archived_or_foreign_runbooks_never_do() -> None:
    windows = _rb("win", signatures=("disk_full",), platform="WINDOWS")
    archived = _rb("old", COMPANY, signatures=("disk_full",), archived_at=datetime.now(UTC))
    foreign = _rb("theirs", OTHER, signatures=("disk_full",))
    assert best_runbook([windows, archived, foreign], COMPANY, "disk_full", Platform.LINUX) is None
    assert best_runbook([windows], COMPANY, "disk_full", Platform.WINDOWS) is windows
    assert best_runbook([windows], COMPANY, "disk_full", None) is None


def test_among_equals_the_lower_risk_then_the_name_wins() -> None:
    high = _rb("a", signatures=("x",), risk="HIGH")
    low_b = _rb("b", signatures=("x",), risk="LOW")
    low_c = _rb("c", signatures=("x",), risk="LOW")
    assert best_runbook([high, low_c, low_b], COMPANY, "x", "LINUX") is low_b


def test_nothing_matches_an_unrelated_signature() -> None:
    assert (
        best_runbook([_rb("a", signatures=("x",), signature_patterns=("y",))], COMPANY, "z", "LINUX") is None
    )


# ---- the library --------------------------------------------------------------------------------


def test_the_library_covers_every_category_and_platform_and_validates() -> None:
    assert len(LIBRARY) >= 20
    assert {s.category for s in LIBRARY} == set(RunbookCategory)
    assert {s.platform for s in LIBRARY} == set(Platform)
    assert {s.risk for s in LIBRARY} == set(RunbookRisk)
    assert len({s.name.lower() for s in LIBRARY}) == len(LIBRARY)
    for spec in LIBRARY:
        assert validate(spec) == spec, spec.name
        assert spec.signatures, spec.name
        assert spec.health_check, spec.name
        # Every runbook renders with its defaults once the required values are given.
        examples = {"service": "nginx", "database": "app", "path": "D:\\App\\data"}
        required = {p.name: examples[p.name] for p in spec.parameters if p.default is None}
        render(spec.commands, spec.parameters, required, spec.platform)


def test_the_library_commands_stay_bounded() -> None:
    for spec in LIBRARY:
        text = "\n".join(spec.commands)
        assert "rm -rf" not in text, spec.name
        assert "/*" not in text, spec.name
        for command in spec.commands:
            if command.startswith("find ") and "-delete" in command:
                assert "-xdev" in command, spec.name
                assert "-mtime +" in command, spec.name


def test_the_migration_seeds_exactly_the_library() -> None:
    source = next(Path("migrations/versions").glob("*_0022_runbooks.py")).read_text()
    seeded = next(
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "LIBRARY"
    )
    expected = [
        {
            "id": str(library_id(s)),
            "name": s.name,
            "description": s.description,
            "category": s.category.value,
            "signatures": list(s.signatures),
            "signature_patterns": list(s.signature_patterns),
            "risk": s.risk.value,
            "platform": s.platform.value,
            "commands": list(s.commands),
            "parameters": [p.as_json() for p in s.parameters],
            "health_check": s.health_check,
            "auto_approve": s.auto_approve,
            "timeout_seconds": s.timeout_seconds,
        }
        for s in LIBRARY
    ]
    assert seeded == expected


def test_the_library_path_parameters_refuse_traversal_and_system_folders() -> None:
    webroot = next(s for s in LIBRARY if s.name == "Web root permission fix (Linux)")
    acl = next(s for s in LIBRARY if s.name == "ACL reset to inherited (Windows)")
    for spec, value in (
        (webroot, "/var/www/../../etc"),
        (webroot, "/etc"),
        (acl, "C:\\Windows"),
        (acl, "c:\\windows\\system32"),
        (acl, "D:\\App\\..\\..\\Windows"),
    ):
        with pytest.raises(InvalidInput, match="path must match"):
            render(spec.commands, spec.parameters, {"path": value}, spec.platform)
    assert render(webroot.commands, webroot.parameters, {"path": "/srv/shop"}, Platform.LINUX)[0] == (
        "chown -R www-data:www-data /srv/shop"
    )


# -- signature folding: an incident's original and canonical signatures, a runbook's folded ones ----

LINUX_DISK = next(s for s in LIBRARY if s.name == "Disk cleanup (Linux)")


def _library(spec: RunbookSpec) -> Candidate:
    return _rb(
        spec.name,
        platform=spec.platform.value,
        risk=spec.risk.value,
        signatures=spec.signatures,
        signature_patterns=spec.signature_patterns,
    )


def test_a_runbook_listing_another_name_of_the_problem_matches_by_its_canonical_form() -> None:
    # given the library's disk cleanup (disk_space_low, disk_full, DiskFull...) and no pattern at all
    disk = replace(_library(LINUX_DISK), signature_patterns=())
    # when Datadog's "Disk usage high" on web-01 (canonical disk_full) and Linux's own words come in
    datadog = incident_signatures("Disk usage high", asset_name="web-01")
    enospc = incident_signatures("No space left on device", asset_name="web-01")
    # then both find it, folded
    assert datadog.canonical == "disk_full"
    assert best_runbook([disk], COMPANY, datadog, "LINUX") is disk
    assert best_runbook([disk], COMPANY, enospc, "LINUX") is disk
    # the library lists `disk_full` itself (the canonical name: EXACT); a runbook listing only other
    # names of the problem matches FOLDED
    assert match_rank(disk, enospc, RunbookFolds()) == 0
    low = replace(disk, signatures=("disk_space_low", "HighDiskUsage"))
    assert match_rank(low, enospc, RunbookFolds()) == 1
    # and a plain raw signature is folded the same way
    assert best_runbook([disk], COMPANY, "HostOutOfDiskSpace", "LINUX") is disk


def test_folding_never_matches_another_problem_that_shares_a_word() -> None:
    disk = _rb("disk", signatures=("disk_space_low",))
    for other in ("Disk IO high", "Swap usage high", "Disk full on /var", "Memory usage high"):
        assert best_runbook([disk], COMPANY, incident_signatures(other, asset_name="web-01"), "LINUX") is None


def test_any_original_signature_or_the_canonical_one_matches_exactly() -> None:
    # given an incident opened by "DiskFull" that later saw "Disk usage high" (canonical disk_full)
    incident = incident_signatures("DiskFull", ["DiskFull", "Disk usage high"], "disk_full")
    later = _rb("later", signatures=("disk usage HIGH",))
    canonical = _rb("canonical", signatures=("DISK_FULL",))
    assert best_runbook([later], COMPANY, incident, "LINUX") is later
    assert best_runbook([canonical], COMPANY, incident, "LINUX") is canonical
    folds = RunbookFolds()
    assert match_rank(later, incident, folds) == match_rank(canonical, incident, folds) == 0  # EXACT


def test_patterns_match_the_original_signatures_and_the_canonical_one() -> None:
    incident = incident_signatures("Svc qx9 offline", ["Svc qx9 offline", "PagerQx9Gone"])
    second = _rb("second", signature_patterns=("pager.*gone",))
    canon = _rb("canon", signature_patterns=(r"^down_qx9_svc$",))
    assert best_runbook([second], COMPANY, incident, "LINUX") is second
    assert best_runbook([canon], COMPANY, incident, "LINUX") is canon


def test_exact_before_folded_before_pattern_and_the_company_s_own_before_all_global_ones() -> None:
    incident = incident_signatures("Disk usage high", asset_name="web-01")
    exact = _rb("c exact", signatures=("Disk usage high",))
    folded = _rb("a folded", signatures=("disk_space_low",))
    pattern = _rb("b pattern", signature_patterns=("disk",))
    assert best_runbook([pattern, folded, exact], COMPANY, incident, "LINUX") is exact
    assert best_runbook([pattern, folded], COMPANY, incident, "LINUX") is folded
    # the company's own pattern still beats a global exact name
    own = _rb("own", COMPANY, signature_patterns=("usage",))
    assert best_runbook([exact, folded, own], COMPANY, incident, "LINUX") is own
    # and folding never crosses platforms or companies
    windows = _rb("win", signatures=("disk_space_low",), platform="WINDOWS")
    foreign = _rb("theirs", OTHER, signatures=("disk_space_low",))
    assert best_runbook([windows, foreign], COMPANY, incident, "LINUX") is None


def test_a_runbook_s_signatures_fold_under_the_company_s_aliases() -> None:
    # given the company's rule "VeeamJobFailed and Backup job failed are one problem, backup_failed"
    rules = {"failed job veeam": "backup_failed", "backup failed job": "backup_failed"}
    runbook = _rb("backup", COMPANY, signatures=("VeeamJobFailed",))
    incident = incident_signatures("Backup job failed", asset_name="nas-01", aliases=rules)
    # then the runbook listing the other name matches under the rules, and not without them
    assert incident.canonical == "backup_failed"
    assert best_runbook([runbook], COMPANY, incident, "LINUX", RunbookFolds(rules)) is runbook
    assert best_runbook([runbook], COMPANY, incident, "LINUX", RunbookFolds()) is None


def test_a_runbook_is_folded_once_per_batch() -> None:
    folds = RunbookFolds()
    runbook = _rb("disk", signatures=("DiskSpaceLow", "HighDiskUsage"))
    assert folds.forms(runbook) == frozenset({"disk_full"})
    assert folds.forms(runbook) is folds.forms(runbook)
