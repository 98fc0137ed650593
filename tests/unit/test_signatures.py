"""Signature folding: each tool's names for the common problems, the asset's name cut out, camelCase
and separators, aliases, and different problems kept apart."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.signatures import (
    BUILT_IN,
    MAX_ALIAS_SIGNATURES,
    alias_group,
    alias_rules,
    canonical_signature,
    check_no_conflict,
)


@pytest.mark.parametrize(
    "raw",
    ["Disk usage high", "DiskFull", "disk_full", "disk-full", "DISK FULL", "disk.full", "  Disk   full "],
)
def test_case_separators_and_camel_case_fold_to_one_signature(raw: str) -> None:
    assert canonical_signature(raw, "web-01") == "disk_full"


@pytest.mark.parametrize(
    ("tool", "raw", "asset", "canonical"),
    [
        # what each tool's payload carries (tests/unit/payloads) and its usual spellings
        ("alertmanager", "NodeFilesystemAlmostOutOfSpace", "web-01", "disk_full"),
        ("alertmanager", "HostOutOfMemory", "web-01", "memory_high"),
        ("alertmanager", "InstanceDown", "web-01", "host_down"),
        ("alertmanager", "SSLCertExpiringSoon", "web-01", "cert_expiry"),
        ("grafana", "High memory usage", "app-07", "memory_high"),
        ("grafana", "[FIRING:1] High memory usage (blue us-1)", "app-07", "memory_high"),
        ("datadog", "Disk space is low", "web-03", "disk_full"),
        ("datadog", "db-primary: Host not reporting", "db-primary", "host_down"),
        ("cloudwatch", "prod-api-db-cpu-high", "prod-api-db", "cpu_high"),
        ("zabbix", "High CPU utilization (over 90% for 5m)", "SQL Server 01", "cpu_high"),
        ("zabbix", "Unavailable by ICMP ping", "SQL Server 01", "host_down"),
        ("zabbix", "SSL certificate expires soon (less than 7 days)", "web-01", "cert_expiry"),
        ("zabbix", "Lack of available memory on web-01", "web-01", "memory_high"),
        ("pagerduty", "Service down", "prod-datapipe03.example.com", "service_down"),
        ("nagios", "host_down", "core-switch-2", "host_down"),
        ("icinga", "Process not running", "fileserver-3", "service_down"),
        ("newrelic", "Error rate above 5%", "checkout-api", "error_rate_high"),
        (
            "newrelic",
            "checkout-api: Error rate above 5% for at least 5 minutes",
            "checkout-api",
            "error_rate_high",
        ),
        ("newrelic", "Response time high", "checkout-api", "latency_high"),
        ("splunk", "HTTP 5xx high", "dc01.acme.local", "error_rate_high"),
        ("generic", "HighCPUUsage", "web-01.acme.local", "cpu_high"),
        ("generic", "replication_lag", "db-02", "replication_lag"),
    ],
)
def test_each_tools_names_for_the_common_problems_fold_to_the_built_in_signature(
    tool: str, raw: str, asset: str, canonical: str
) -> None:
    assert canonical_signature(raw, asset) == canonical, tool


@pytest.mark.parametrize(
    ("raw", "asset"),
    [
        ("High CPU on web-01", "web-01"),
        ("High CPU on WEB-01", "web-01"),
        ("web-01: high cpu", "web-01"),
        ("High CPU on SQL Server 01", "SQL Server 01"),
        ("High CPU on web-01", "web-01.acme.local"),  # the short name of a dotted one
        ("High CPU", "web-01"),
    ],
)
def test_the_assets_own_name_is_cut_out_of_its_signature(raw: str, asset: str) -> None:
    assert canonical_signature(raw, asset) == "cpu_high"


def test_a_signature_that_is_only_the_assets_name_is_kept() -> None:
    # a Nagios host check named after the host: cutting would leave nothing to tell problems apart
    assert canonical_signature("web-01", "web-01") == "01_web"
    # and another asset's name in a signature is part of the problem
    assert canonical_signature("High CPU on web-02", "web-01") != canonical_signature("High CPU", "web-01")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Disk full", "Disk IO high"),
        ("Memory usage high", "Swap usage high"),
        ("Disk usage high", "Inode usage high"),
        ("CPU high", "CPU steal high"),
        ("Service down", "Host down"),
        ("Service nginx is down", "Service postgres is down"),
        ("Error rate high", "Latency high"),
        ("High memory usage", "Memory leak"),
        ("Port 80 down", "Port 443 down"),
    ],
)
def test_different_problems_are_not_merged(one: str, other: str) -> None:
    assert canonical_signature(one, "web-01") != canonical_signature(other, "web-01")


def test_a_mount_path_keeps_disk_problems_on_two_filesystems_apart() -> None:
    # /var and / filling up are two problems with two fixes; a path-less name is a third signature
    assert canonical_signature("Disk Usage /var", "mail01") == "disk_full:/var"
    assert (
        canonical_signature("/var: Disk space is critically low (used > 90%)", "mail01") == "disk_full:/var"
    )
    assert canonical_signature("/: Disk space is low", "mail01") == "disk_full:/"
    assert canonical_signature("Disk full", "mail01") == "disk_full"


def test_word_order_and_thresholds_do_not_matter() -> None:
    assert (
        canonical_signature("CPU usage above 90%", "a")
        == canonical_signature("CPU usage above 95%", "a")
        == "cpu_high"
    )
    assert canonical_signature("Checkout latency", "a") == canonical_signature("latency checkout", "a")


def test_every_built_in_name_folds_to_its_problem_and_no_name_is_in_two() -> None:
    for canonical, names in BUILT_IN.items():
        for name in names:
            assert canonical_signature(name) == canonical, name


def test_company_aliases_win_over_the_built_in_set_and_fold_like_signatures() -> None:
    # given a group "BackupVolume / nightly-backup-space" named like the built-in disk problem
    group = alias_group(["BackupVolumeNearlyFull", "nightly backup space"], canonical="disk full")
    rules = alias_rules([(group.canonical, group.problems)])
    # then its members, however spelled, fold to disk_full, and other names are unaffected
    assert group.canonical == "disk_full"
    assert canonical_signature("backup_volume_nearly_full", "nas-1", rules) == "disk_full"
    assert canonical_signature("Nightly-Backup-Space on nas-1", "nas-1", rules) == "disk_full"
    assert canonical_signature("BackupVolumeNearlyFull", "nas-1") != "disk_full"
    # and a company rule can split what the built-in set merges
    own = alias_group(["Disk usage high"], canonical="disk quota")
    assert canonical_signature("Disk usage high", "a", alias_rules([(own.canonical, own.problems)])) == (
        "disk_quota"
    )


def test_a_groups_canonical_defaults_to_its_first_signature() -> None:
    group = alias_group([" AppQueueStuck ", "app queue stuck", "worker-backlog"])
    assert group.canonical == "app_queue_stuck"
    # trimmed, exact repeats dropped; spellings that fold alike are kept as given but match once
    assert group.signatures == ("AppQueueStuck", "app queue stuck", "worker-backlog")
    assert group.problems == ("app queue stuck", "backlog worker")


@pytest.mark.parametrize(
    ("signatures", "canonical", "field", "code", "message"),
    [
        ([], None, "signatures", "EMPTY_SIGNATURE", "must name at least one signature"),
        (["ok", "  "], None, "signatures[1]", "EMPTY_SIGNATURE", "must not be empty"),
        (["x" * 201], None, "signatures[0]", "SIGNATURE_TOO_LONG", "must be at most 200 characters"),
        (
            [f"s{i}" for i in range(MAX_ALIAS_SIGNATURES + 1)],
            None,
            "signatures",
            "TOO_MANY_SIGNATURES",
            "at most 50 signatures",
        ),
        (
            ["ok"],
            " ",
            "canonical",
            "EMPTY_SIGNATURE",
            "must not be empty (omit it to use the first signature)",
        ),
        (["ok"], "c" * 201, "canonical", "SIGNATURE_TOO_LONG", "must be at most 200 characters"),
    ],
)
def test_bad_groups_are_refused_with_a_typed_error(
    signatures: list[str], canonical: str | None, field: str, code: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        alias_group(signatures, canonical)
    assert (caught.value.field, caught.value.code, caught.value.message) == (field, code, message)


def test_a_signature_already_in_another_group_conflicts_however_spelled() -> None:
    existing = alias_group(["AppQueueStuck", "worker backlog"])
    new = alias_group(["something else", "WorkerBacklog"])
    with pytest.raises(InvalidInput) as caught:
        check_no_conflict(new, [(existing.canonical, existing.problems)])
    assert (caught.value.field, caught.value.code) == ("signatures[1]", "ALIAS_CONFLICT")
    assert (
        caught.value.message
        == '"WorkerBacklog" is already one problem with the alias group "app_queue_stuck"'
    )
    check_no_conflict(alias_group(["unrelated"]), [(existing.canonical, existing.problems)])
