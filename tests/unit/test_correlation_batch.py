"""What the correlation worker settles before `correlate`: the key a claimed alert goes under (a resolve
follows its fingerprint), the alerts a maintenance window holds back, and the assets a batch discovers."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.alerts import Category, Severity
from domain.correlation import (
    AssetMention,
    CorrelationSettings,
    DiscoveredAsset,
    IncidentState,
    PendingAlert,
    correlate,
    correlation_key,
    discovered_assets,
    exempt_for_maintenance,
    pending_alert,
)
from domain.incidents import IncidentChangeKind, IncidentStatus
from domain.maintenance import MaintenanceWindow, Recurrence, RecurrenceFrequency
from domain.signatures import alias_group, alias_rules

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
WEB_01 = UUID(int=0xB001)
INCIDENT = UUID(int=0xC001)
ACME, GLOBEX = UUID(int=0xD001), UUID(int=0xD002)
BERLIN = ZoneInfo("Europe/Berlin")

_alert_ids = itertools.count(1)


def claimed(
    at: datetime = T0,
    *,
    asset_name: str = "web-01",
    signature: str = "High CPU",
    tool: str = "zabbix",
    fingerprint: str = "zabbix-1",
    resolved: bool = False,
    asset_id: UUID | None = None,
    critical: bool = False,
    firing_key: str | None = None,
    firing_asset_id: UUID | None = None,
    firing_critical: bool = False,
    aliases: dict[str, str] | None = None,
) -> PendingAlert:
    return pending_alert(
        alert_id=UUID(int=next(_alert_ids)),
        asset_name=asset_name,
        signature=signature,
        severity=Severity.HIGH,
        category=Category.SERVER,
        tool=tool,
        event_time=at,
        resolved=resolved,
        fingerprint=fingerprint,
        asset_id=asset_id,
        critical_asset=critical,
        firing_key=firing_key,
        firing_asset_id=firing_asset_id,
        firing_critical=firing_critical,
        aliases=aliases,
    )


def open_incident(key: str, fingerprints: set[str], tools: set[str]) -> IncidentState:
    return IncidentState(
        id=INCIDENT,
        key=key,
        asset_id=WEB_01,
        asset_name="web-01",
        signature="High CPU",
        status=IncidentStatus.NEW,
        severity=Severity.HIGH,
        category=Category.SERVER,
        alert_count=len(fingerprints),
        duplicate_count=0,
        tool_sources=tools,
        first_alert_at=T0,
        last_alert_at=T0,
        resolved_at=None,
        active_fingerprints=fingerprints,
        flap_times=[],
        flapping=False,
        critical_asset=True,
        created_at=T0,
    )


def ids(*values: int) -> Callable[[], UUID]:
    return iter([UUID(int=v) for v in values]).__next__


# -- the key a claimed alert goes under ---------------------------------------------------------


def test_an_alert_on_an_inventory_asset_is_keyed_by_the_asset_whatever_name_the_tool_gives() -> None:
    # given two tools naming the same inventory asset differently
    zabbix = claimed(asset_name="WEB-01", asset_id=WEB_01, critical=True)
    datadog = claimed(asset_name="web-01.prod.example.com", tool="datadog", asset_id=WEB_01, critical=True)
    # then both go under the asset's id, so they are one incident
    assert zabbix.key == datadog.key == correlation_key(str(WEB_01), "cpu_high")
    assert (zabbix.asset_id, zabbix.critical_asset) == (WEB_01, True)
    assert [c.kind for c in correlate([zabbix, datadog], {}, CorrelationSettings(), NOW, ids(1)).changes] == [
        IncidentChangeKind.CREATED
    ]


def test_an_alert_naming_no_known_asset_is_keyed_by_its_name_in_any_case() -> None:
    assert claimed(asset_name=" Web-09 ").key == claimed(asset_name="web-09").key == "web-09|cpu_high"


def test_a_pagerduty_resolve_follows_its_fingerprint_to_the_incident_another_tool_opened() -> None:
    # given an open incident on web-01 (critical) whose firing fingerprints are Zabbix's and the
    # PagerDuty dedup key, and a PagerDuty resolve that carries the dedup key but no asset name
    key = correlation_key(str(WEB_01), "cpu_high")
    stored = open_incident(key, {"pd-dedup-7"}, {"zabbix", "pagerduty"})
    resolve = claimed(
        T0 + timedelta(minutes=3),
        asset_name="",
        signature="PagerDuty incident",
        tool="pagerduty",
        fingerprint="pd-dedup-7",
        resolved=True,
        firing_key=key,
        firing_asset_id=WEB_01,
        firing_critical=True,
    )
    # then it goes under that incident's key, asset and criticality
    assert (resolve.key, resolve.asset_id, resolve.critical_asset) == (key, WEB_01, True)
    # and closing its fingerprint resolves the incident
    result = correlate([resolve], {key: stored}, CorrelationSettings(), NOW, ids())
    [change] = result.changes
    assert change.kind is IncidentChangeKind.RESOLVED
    assert change.state.resolved_at == T0 + timedelta(minutes=3)
    assert result.resolved_fingerprints == {(INCIDENT, "pd-dedup-7"): T0 + timedelta(minutes=3)}


def test_a_resolve_whose_fingerprint_fires_nowhere_goes_under_its_own_asset() -> None:
    resolve = claimed(resolved=True, asset_id=WEB_01, critical=True)
    assert (resolve.key, resolve.asset_id, resolve.critical_asset) == (
        correlation_key(str(WEB_01), "cpu_high"),
        WEB_01,
        True,
    )


def test_a_firing_alert_never_follows_a_fingerprint_to_another_asset() -> None:
    # given a firing alert on web-02 whose fingerprint is also firing on web-01's incident
    fire = claimed(
        asset_name="web-02", firing_key="web-01|high cpu", firing_asset_id=WEB_01, firing_critical=True
    )
    # then it is web-02's problem
    assert (fire.key, fire.asset_id, fire.critical_asset) == ("web-02|cpu_high", None, False)


# -- maintenance exemptions ---------------------------------------------------------------------


def window(
    starts_at: datetime,
    ends_at: datetime,
    recurrence: Recurrence | None = None,
    *,
    number: int = 1,
    assets: frozenset[str] = frozenset(),
    signatures: frozenset[str] = frozenset(),
) -> MaintenanceWindow:
    return MaintenanceWindow(UUID(int=0xE000 + number), starts_at, ends_at, recurrence, assets, signatures)


def test_a_window_suppresses_from_its_first_instant_to_just_before_its_end() -> None:
    # given a window from 10:00 to 12:00 UTC
    w = window(T0, T0 + timedelta(hours=2))
    before, at_start, last, at_end = (
        claimed(T0 - US),
        claimed(T0),
        claimed(T0 + timedelta(hours=2) - US),
        claimed(T0 + timedelta(hours=2)),
    )
    # when the batch is exempted
    kept, suppressed = exempt_for_maintenance([before, at_start, last, at_end], [w])
    # then the start is inside, the end is not, and the others keep their order
    assert kept == [before, at_end]
    assert suppressed == {at_start.id: w.id, last.id: w.id}


def test_a_resolve_inside_a_window_is_not_suppressed_so_the_incident_from_before_closes() -> None:
    w = window(T0, T0 + timedelta(hours=2))
    fire, resolve = claimed(T0 + timedelta(minutes=5)), claimed(T0 + timedelta(minutes=6), resolved=True)
    kept, suppressed = exempt_for_maintenance([fire, resolve], [w])
    assert kept == [resolve]
    assert suppressed == {fire.id: w.id}


def test_the_first_window_in_order_that_covers_the_alert_suppresses_it() -> None:
    # given a window for another asset, then two overlapping windows for web-01
    other = window(T0, T0 + timedelta(hours=2), number=1, assets=frozenset({"db-01"}))
    first = window(T0, T0 + timedelta(hours=1), number=2, assets=frozenset({" WEB-01 "}))
    second = window(T0, T0 + timedelta(hours=3), number=3)
    fire = claimed(T0 + timedelta(minutes=30), asset_name="Web-01")
    # then the first that covers it, matched trimmed and case-insensitively, is named
    assert exempt_for_maintenance([fire], [other, first, second]) == ([], {fire.id: first.id})


def test_a_window_narrowed_to_signatures_lets_the_others_through() -> None:
    w = window(T0, T0 + timedelta(hours=2), signatures=frozenset({"disk full"}))
    cpu, disk = claimed(T0, signature="High CPU"), claimed(T0, signature="Disk Full")
    assert exempt_for_maintenance([cpu, disk], [w]) == ([cpu], {disk.id: w.id})


def test_a_window_naming_a_signature_holds_back_every_tool_s_name_for_that_problem() -> None:
    # given a window for "disk_full" (the built-in disk problem)
    w = window(T0, T0 + timedelta(hours=2), signatures=frozenset({"disk_full"}))
    datadog = claimed(T0, signature="Disk usage high", tool="datadog")
    prometheus = claimed(T0, signature="NodeFilesystemAlmostOutOfSpace", tool="prometheus")
    zabbix = claimed(T0, signature="Free disk space is less than 10% on web-01")
    other_disk = claimed(T0, signature="Disk IO high")  # another problem that shares a word
    on_var = claimed(T0, signature="Disk full on /var")  # a path is another problem (disk_full:/var)
    # when the batch is exempted
    kept, suppressed = exempt_for_maintenance([datadog, prometheus, zabbix, other_disk, on_var], [w])
    # then the three names of the problem are held back, the others go on
    assert kept == [other_disk, on_var]
    assert suppressed == {datadog.id: w.id, prometheus.id: w.id, zabbix.id: w.id}


def test_a_window_s_signatures_fold_under_the_company_s_aliases() -> None:
    # given a company rule "AppQueueStuck / Worker backlog are one problem" and a window naming one
    group = alias_group(["AppQueueStuck", "Worker backlog"])
    rules = alias_rules([(group.canonical, group.problems)])
    w = window(T0, T0 + timedelta(hours=2), signatures=frozenset({"AppQueueStuck"}))
    backlog = claimed(T0, signature="Worker backlog", aliases=rules)
    # then the other name is held back under the company's rules, and not without them
    assert exempt_for_maintenance([backlog], [w], rules) == ([], {backlog.id: w.id})
    plain = claimed(T0, signature="Worker backlog")
    assert exempt_for_maintenance([plain], [w]) == ([plain], {})


def test_a_weekly_window_keeps_its_local_hours_after_the_clocks_change() -> None:
    # given Sunday 22:00 to Monday 02:00 Europe/Berlin, first on 1 March 2026 (CET, UTC+1)
    w = window(
        datetime(2026, 3, 1, 22, 0, tzinfo=BERLIN),
        datetime(2026, 3, 2, 2, 0, tzinfo=BERLIN),
        Recurrence(RecurrenceFrequency.WEEKLY, frozenset({6}), "Europe/Berlin"),
    )
    # when alerts arrive on 29 March, the day summer time (UTC+2) began
    start = datetime(2026, 3, 29, 20, 0, tzinfo=UTC)  # 22:00 CEST
    end = datetime(2026, 3, 30, 0, 0, tzinfo=UTC)  # 02:00 CEST
    before, at_start, last, at_end, tuesday = (
        claimed(start - US),
        claimed(start),
        claimed(end - US),
        claimed(end),
        claimed(datetime(2026, 3, 31, 0, 0, tzinfo=UTC)),
    )
    kept, suppressed = exempt_for_maintenance([before, at_start, last, at_end, tuesday], [w])
    # then 22:00 to 02:00 local is held back, an hour earlier in UTC than in winter, and Tuesday is not
    assert kept == [before, at_end, tuesday]
    assert suppressed == {at_start.id: w.id, last.id: w.id}


def test_a_daily_window_stops_after_its_until() -> None:
    # given 01:00 to 03:00 UTC every day until 3 March 01:00 (inclusive: that day's occurrence runs)
    w = window(
        datetime(2026, 3, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 3, tzinfo=UTC),
        Recurrence(RecurrenceFrequency.DAILY, until=datetime(2026, 3, 3, 1, tzinfo=UTC)),
    )
    third, fourth = claimed(datetime(2026, 3, 3, 2, tzinfo=UTC)), claimed(datetime(2026, 3, 4, 2, tzinfo=UTC))
    assert exempt_for_maintenance([third, fourth], [w]) == ([fourth], {third.id: w.id})


def test_without_windows_the_batch_comes_back_as_it_is() -> None:
    alerts = [claimed(), claimed(resolved=True)]
    kept, suppressed = exempt_for_maintenance(alerts, [])
    assert kept is alerts
    assert suppressed == {}


# -- discovered assets --------------------------------------------------------------------------


def test_an_unknown_asset_is_created_once_per_company_as_the_first_firing_alert_spells_it() -> None:
    mentions = [
        AssetMention(ACME, "Web-07", None, True),
        AssetMention(ACME, "WEB-07", None, True),
        AssetMention(ACME, "web-07", "i-0abc", True),
    ]
    assert discovered_assets(mentions, ids(1, 2, 3)) == [DiscoveredAsset(UUID(int=1), ACME, "Web-07", None)]


def test_a_resolve_naming_an_unknown_asset_creates_none() -> None:
    # given a resolve for db-01 and nothing firing on it
    assert discovered_assets([AssetMention(ACME, "db-01", "i-9", False)], ids(1)) == []
    # given the resolve first and then a firing alert spelling it in lower case
    mentions = [AssetMention(ACME, "DB-01", None, False), AssetMention(ACME, "db-01", None, True)]
    assert discovered_assets(mentions, ids(1)) == [DiscoveredAsset(UUID(int=1), ACME, "db-01", None)]


def test_the_same_name_in_two_companies_is_two_assets() -> None:
    mentions = [AssetMention(ACME, "web-07", "i-0abc", True), AssetMention(GLOBEX, "web-07", "i-0abc", True)]
    assert discovered_assets(mentions, ids(1, 2)) == [
        DiscoveredAsset(UUID(int=1), ACME, "web-07", "i-0abc"),
        DiscoveredAsset(UUID(int=2), GLOBEX, "web-07", "i-0abc"),
    ]


def test_an_unknown_reference_goes_to_the_first_asset_that_names_it() -> None:
    # given one EC2 instance id reported under two host names in one batch
    mentions = [
        AssetMention(ACME, "web-07", "i-0abc", True),
        AssetMention(ACME, "ip-10-0-0-7", "i-0abc", True),
        AssetMention(ACME, "web-08", "i-0def", True),
    ]
    # then the id stays with the first name (external ids are unique per company)
    assert discovered_assets(mentions, ids(1, 2, 3)) == [
        DiscoveredAsset(UUID(int=1), ACME, "web-07", "i-0abc"),
        DiscoveredAsset(UUID(int=2), ACME, "ip-10-0-0-7", None),
        DiscoveredAsset(UUID(int=3), ACME, "web-08", "i-0def"),
    ]
