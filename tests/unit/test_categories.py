"""Keyword categorisation of alerts."""

from __future__ import annotations

import pytest

from domain.alerts import Category
from domain.categories import categorize, parse_category
from domain.errors import InvalidInput


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("PostgresReplicationLag", Category.DATABASE),
        ("mysqld not running", Category.DATABASE),
        ("redis_evictions", Category.DATABASE),
        ("MongoDBConnections", Category.DATABASE),
        ("Interface eth0 down", Category.NETWORK),
        ("BGP session flapping", Category.NETWORK),
        ("PING", Category.NETWORK),
        ("High latency to gateway", Category.NETWORK),
        ("NodeFilesystemAlmostOutOfSpace", Category.STORAGE),
        ("Disk Usage /var", Category.STORAGE),
        ("inodes exhausted", Category.STORAGE),
        ("S3 bucket 4xx", Category.STORAGE),
        ("HighCPUUsage", Category.SERVER),
        ("host_down", Category.SERVER),
        ("InstanceDown", Category.SERVER),
        ("Current Load", Category.SERVER),
        ("swap in use", Category.SERVER),
        ("SSL certificate expires in 7 days", Category.SECURITY),
        ("Excessive failed logins", Category.SECURITY),
        ("Authentication failures", Category.SECURITY),
        ("malware detected", Category.SECURITY),
        ("HTTP 5xx rate", Category.APPLICATION),
        ("error_rate above 5%", Category.APPLICATION),
        ("API latency p99", Category.APPLICATION),
        ("KubeDeploymentReplicasMismatch", Category.APPLICATION),
        ("Lambda throttles", Category.CLOUD),
        ("Azure quota", Category.CLOUD),
        ("Watchdog", Category.OTHER),
        ("", Category.OTHER),
    ],
)
def test_signature_keywords(signature: str, expected: Category):
    assert categorize(signature, "host-1") is expected


def test_earlier_rules_win_within_one_text():
    # security before database, database before server, specific app latency before network
    assert categorize("mysql login failures", "x") is Category.SECURITY
    assert categorize("redis memory high", "x") is Category.DATABASE
    assert categorize("service latency", "x") is Category.APPLICATION
    assert categorize("ec2 cpu credits", "x") is Category.SERVER


def test_signature_is_read_before_the_asset_and_the_asset_before_tags():
    assert categorize("disk full", "db01") is Category.STORAGE
    assert categorize("Host not reporting", "db01") is Category.DATABASE
    assert categorize("Watchdog", "node-7", {"service": "checkout-api"}) is Category.APPLICATION
    assert categorize("Watchdog", "vpn-gw-1", {"role": "checkout-api"}) is Category.NETWORK


def test_latency_counts_as_application_when_an_app_is_named_anywhere():
    assert categorize("High latency", "api-gateway-1") is Category.APPLICATION
    assert categorize("High latency", "edge-1", {"team": "payments-app"}) is Category.APPLICATION


def test_the_same_signature_is_categorised_by_what_comes_with_it_each_time():
    # given one signature seen with different assets and tags, in turn (each text's scan is remembered)
    first = categorize("High latency", "api-gateway-1")
    second = categorize("High latency", "core-router-1")
    third = categorize("High latency", "core-router-1", {"team": "payments-app"})
    fourth = categorize("High latency", "core-router-1")
    # then each answer depends on that alert's own asset and tags
    assert (first, second, third, fourth) == (
        Category.APPLICATION,
        Category.NETWORK,
        Category.APPLICATION,
        Category.NETWORK,
    )


def test_long_tag_texts_are_categorised_like_short_ones():
    many = {f"tag{i}": f"value-{i:04d}" for i in range(60)}  # over 512 characters of tag text
    assert categorize("Watchdog", "node-7", {**many, "service": "checkout-api"}) is Category.APPLICATION
    assert categorize("Watchdog", "node-7", many) is Category.OTHER


def test_short_keywords_match_whole_words_plurals_and_numbered_names_only():
    assert categorize("x", "db01") is Category.DATABASE
    assert categorize("x", "feedback") is Category.OTHER  # `db` inside a word does not count
    assert categorize("x", "apps") is Category.APPLICATION
    assert categorize("x", "happy") is Category.OTHER


def test_urls_in_tags_are_ignored():
    assert categorize("Watchdog", "node-7", {"link": "https://grafana.acme.local/d/api"}) is Category.OTHER


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("network", Category.NETWORK),
        (" DATABASE ", Category.DATABASE),
        ("Other", Category.OTHER),
        ("", None),
        (None, None),
    ],
)
def test_a_typed_category_is_read_in_any_case(typed, expected):
    assert parse_category(typed) is expected


@pytest.mark.parametrize("typed", ["Plumbing", "net", "n" * 10_000])
def test_an_unknown_typed_category_is_refused_naming_the_categories(typed):
    with pytest.raises(InvalidInput) as refused:
        parse_category(typed, field="category")
    assert (refused.value.field, refused.value.message) == (
        "category",
        "must be one of Network, Database, Server, Storage, Security, Application, Cloud, Other",
    )
