"""The technician skill an alert needs (`Category`), guessed from keywords in its signature, asset
name and tags.

How it decides:

1. Text is split into lower-case words: `HighCPUUsage` -> `high cpu usage`, `host_down` -> `host down`,
   `db-01.example.com` -> `db 01 example com`.
2. The signature is looked at first, then the asset name, then the tag values (URLs skipped): the
   first of these that matches any rule decides, so `disk full` on `db01` is Storage, not Database.
3. Within one text the rules below are tried in order and the first match wins. The order is the
   point: a specific skill beats a generic one.

   1. Security: security, auth*, login*, ssl, tls, cert*, intrusion, firewall*, malware
      (first, because a failed login on a database server is a security job)
   2. Database: db, database*, postgres*, mysql*, mariadb, mssql, sql, redis*, mongo*
   3. Application: latency together with app/service/api anywhere in signature, asset or tags
      (before Network, which would otherwise take every `latency`)
   4. Network: network*, latency*, packet*, interface*, bgp, dns, ping*, vpn, router*, switch*
   5. Storage: disk*, volume*, storage*, inode*, s3, filesystem*
   6. Server: cpu, memory*, load*, host down, instance down, node down, reboot*, server*, swap*
   7. Application: http*, 5xx, error rate, app, application*, api, service*, deployment*
   8. Cloud: lambda*, ec2, aws, azure*, gcp
   9. Other

   Keywords of four letters or more also match as word prefixes (`postgres` matches `postgresql`);
   shorter ones match whole words, a plural `s` or trailing digits (`db` matches `db01`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from domain.alerts import Category
from domain.errors import InvalidInput

_RULES: tuple[tuple[Category, tuple[str, ...], tuple[str, ...]], ...] = (
    # (category, any of these keywords, and, when given, any of these anywhere in the alert)
    (
        Category.SECURITY,
        ("security", "auth", "login", "ssl", "tls", "cert", "intrusion", "firewall", "malware"),
        (),
    ),
    (
        Category.DATABASE,
        ("db", "database", "postgres", "mysql", "mariadb", "mssql", "sql", "redis", "mongo"),
        (),
    ),
    (Category.APPLICATION, ("latency",), ("app", "service", "api")),
    (
        Category.NETWORK,
        ("network", "latency", "packet", "interface", "bgp", "dns", "ping", "vpn", "router", "switch"),
        (),
    ),
    (Category.STORAGE, ("disk", "volume", "storage", "inode", "s3", "filesystem"), ()),
    (
        Category.SERVER,
        (
            "cpu",
            "memory",
            "load",
            "host down",
            "instance down",
            "node down",
            "reboot",
            "server",
            "swap",
        ),
        (),
    ),
    (
        Category.APPLICATION,
        ("http", "5xx", "error rate", "app", "application", "api", "service", "deployment"),
        (),
    ),
    (Category.CLOUD, ("lambda", "ec2", "aws", "azure", "gcp"), ()),
)

_BY_LOWER = {c.value.lower(): c for c in Category}


def parse_category(text: str | None, field: str = "category") -> Category | None:
    """The category a person typed, in any case (`network` -> Network); None for none given.

    Raises InvalidInput naming the categories for anything else.
    """
    if text is None or not text.strip():
        return None
    category = _BY_LOWER.get(text.strip().lower()) if len(text) <= 200 else None
    if category is None:
        raise InvalidInput(f"must be one of {', '.join(c.value for c in Category)}", field=field)
    return category


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation per rule: a keyword of 4+ characters matches as a word prefix, a shorter one as
    a whole word (optionally plural or numbered: `db`, `dbs`, `db2`)."""
    if not keywords:
        return None
    bodies = [rf" {re.escape(k)}" if len(k) >= 4 else rf" {re.escape(k)}(?:s|\d+)? " for k in keywords]
    return re.compile("|".join(bodies))


_COMPILED = tuple(
    (category, _keyword_pattern(keywords), _keyword_pattern(needs)) for category, keywords, needs in _RULES
)


def _words(text: str) -> str:
    """` high cpu usage `: lower-case words, space-separated and space-padded for matching."""
    spaced = _CAMEL_BOUNDARY.sub(" ", text[:2000])
    return " " + " ".join(_NON_WORD.split(spaced.lower())).strip() + " "


def categorize(signature: str, asset_name: str, tags: Mapping[str, str] | None = None) -> Category:
    """The category of an alert; see the module docstring for the rules and their order."""
    tag_text = " ".join(
        value for value in (tags or {}).values() if isinstance(value, str) and "://" not in value
    )
    scans = (_scan(signature), _scan(asset_name), _scan(tag_text))
    for matched, _ in scans:
        for rule in matched:
            category, _, needs = _COMPILED[rule]
            if needs is None or any(rule in met for _, met in scans):
                return category
    return Category.OTHER


_CACHED_TEXT = 512  # longer texts (large tag sets) are scanned each time rather than kept


def _scan(text: str) -> tuple[tuple[int, ...], frozenset[int]]:
    return _scan_cached(text) if len(text) <= _CACHED_TEXT else _scan_text(text)


def _scan_text(text: str) -> tuple[tuple[int, ...], frozenset[int]]:
    """The rules whose keywords `text` has (in rule order), and the rules whose "anywhere in the
    alert" condition it meets.

    Each text is scanned on its own and remembered: monitoring tools repeat a few signatures, hosts and
    tag sets in ever new combinations, so a cache of whole (signature, asset, tags) triples missed
    on most alerts of a large fleet, and the keyword scan is the largest per-alert cost of
    normalising. Matching per text gives the same answers as matching their concatenation: every
    keyword is bounded by spaces, so none can span two texts.
    """
    words = _words(text)
    matched = tuple(
        i for i, (_, keywords, _) in enumerate(_COMPILED) if keywords is not None and keywords.search(words)
    )
    met = frozenset(
        i for i, (_, _, needs) in enumerate(_COMPILED) if needs is not None and needs.search(words)
    )
    return matched, met


_scan_cached = functools.lru_cache(maxsize=65536)(_scan_text)
