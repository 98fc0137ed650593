"""Correlation rules: window, cross-tool grouping, duplicates, resolves, flapping, auto-resolve."""

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.alerts import Category, Severity
from domain.correlation import (
    AlertOutcome,
    CorrelationResult,
    CorrelationSettings,
    IncidentState,
    PendingAlert,
    auto_resolve,
    correlate,
    correlation_key,
    due_for_auto_resolve,
)
from domain.errors import InvalidInput, InvalidTransition
from domain.incidents import IncidentChangeKind, IncidentEventKind, IncidentStatus, TimelineEvent
from domain.priority import priority_base

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SETTINGS = CorrelationSettings()
KEY = "web-01|high cpu"
STORED = UUID(int=0xA000)
INC1, INC2, INC3 = UUID(int=0xA001), UUID(int=0xA002), UUID(int=0xA003)
E = IncidentEventKind

_alert_ids = itertools.count(1)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def alert(
    at: float | datetime = 0,
    *,
    asset: str = "web-01",
    signature: str = "High CPU",
    tool: str = "zabbix",
    fingerprint: str | None = None,
    severity: Severity = Severity.HIGH,
    resolved: bool = False,
    critical: bool = False,
    alert_id: UUID | None = None,
) -> PendingAlert:
    return PendingAlert(
        id=alert_id or UUID(int=next(_alert_ids)),
        key=correlation_key(asset, signature),
        asset_id=None,
        asset_name=asset,
        signature=signature,
        severity=severity,
        category=Category.SERVER,
        tool=tool,
        event_time=at if isinstance(at, datetime) else minutes(at),
        resolved=resolved,
        fingerprint=fingerprint or f"{tool}-1",
        critical_asset=critical,
    )


def stored(
    *,
    status: IncidentStatus = IncidentStatus.NEW,
    last: datetime = T0,
    first: datetime | None = None,
    resolved_at: datetime | None = None,
    active: Iterable[str] = ("zabbix-1",),
    tools: Iterable[str] = ("zabbix",),
    flap_times: Iterable[datetime] = (),
    flapping: bool = False,
    severity: Severity = Severity.HIGH,
) -> IncidentState:
    return IncidentState(
        id=STORED,
        key=KEY,
        asset_id=None,
        asset_name="web-01",
        signature="High CPU",
        status=status,
        severity=severity,
        category=Category.SERVER,
        alert_count=1,
        duplicate_count=0,
        tool_sources=set(tools),
        first_alert_at=first or last,
        last_alert_at=last,
        resolved_at=resolved_at,
        active_fingerprints=set(active),
        flap_times=list(flap_times),
        flapping=flapping,
        critical_asset=False,
        created_at=first or last,
    )


def ids() -> Callable[[], UUID]:
    return iter([INC1, INC2, INC3]).__next__


def run(
    alerts: list[PendingAlert],
    latest: Iterable[IncidentState] = (),
    settings: CorrelationSettings = SETTINGS,
) -> CorrelationResult:
    return correlate(alerts, {s.key: s for s in latest}, settings, NOW, ids())


def kinds(result: CorrelationResult, index: int = 0) -> list[IncidentEventKind]:
    return [e.kind for e in result.changes[index].events]


# -- correlation key ----------------------------------------------------------------------------


def test_key_is_trimmed_and_case_insensitive_and_ignores_the_tool() -> None:
    assert correlation_key("  WEB-01 ", "High CPU\n") == "web-01|high cpu"
    assert correlation_key("web-01", "high cpu") == correlation_key("Web-01", "HIGH CPU")


def test_key_escapes_separators_so_different_pairs_never_collide() -> None:
    assert correlation_key("a|b", "c") == "a\\|b|c"
    assert correlation_key("a", "b|c") == "a|b\\|c"
    assert correlation_key("a|b", "c") != correlation_key("a", "b|c")


def test_key_longer_than_200_characters_is_hashed() -> None:
    # given 200 characters in total / then kept as is; 201 / then sha256
    assert correlation_key("a" * 99, "b" * 100) == "a" * 99 + "|" + "b" * 100
    long_key = correlation_key("a" * 100, "b" * 100)
    assert long_key.startswith("sha256:")
    assert len(long_key) == 71
    assert long_key == correlation_key("A" * 100, " " + "B" * 100)


# -- rule a: the window -------------------------------------------------------------------------


def test_first_alert_opens_a_new_incident() -> None:
    # given no incident for the key / when one alert arrives
    first = alert(0, critical=True)
    result = run([first])
    # then a NEW incident with that alert
    assert result.outcomes == [AlertOutcome(first.id, INC1, duplicate=False)]
    [change] = result.changes
    assert change.created is True
    assert change.kind is IncidentChangeKind.CREATED
    assert change.state == IncidentState(
        id=INC1,
        key=KEY,
        asset_id=None,
        asset_name="web-01",
        signature="High CPU",
        status=IncidentStatus.NEW,
        severity=Severity.HIGH,
        category=Category.SERVER,
        alert_count=1,
        duplicate_count=0,
        tool_sources={"zabbix"},
        first_alert_at=T0,
        last_alert_at=T0,
        resolved_at=None,
        active_fingerprints={"zabbix-1"},
        flap_times=[],
        flapping=False,
        critical_asset=True,
        created_at=NOW,
        signatures=["High CPU"],
    )
    assert change.events == [
        TimelineEvent(
            E.CREATED, T0, first.id, {"tool": "zabbix", "fingerprint": "zabbix-1", "severity": "high"}
        )
    ]
    assert result.resolved_fingerprints == {}


def test_alert_exactly_one_window_after_the_last_joins() -> None:
    # given an open incident whose last alert was at T0 / when an alert arrives at T0 + 10 min
    late = alert(10, fingerprint="zabbix-2")
    result = run([late], [stored()])
    # then it joins the stored incident
    assert result.outcomes == [AlertOutcome(late.id, STORED, duplicate=False)]
    [change] = result.changes
    assert (change.created, change.kind) == (False, IncidentChangeKind.UPDATED)
    assert change.state.alert_count == 2
    assert change.state.last_alert_at == minutes(10)
    assert change.state.active_fingerprints == {"zabbix-1", "zabbix-2"}
    assert kinds(result) == [E.ALERT_ADDED]


def test_alert_one_microsecond_past_the_window_opens_a_new_incident() -> None:
    # given an open incident whose last alert was at T0 / when an alert arrives at T0 + 10 min + 1 µs
    late = alert(minutes(10) + timedelta(microseconds=1))
    old = stored()
    result = run([late], [old])
    # then a new incident opens and the old one is neither changed nor reported
    assert result.outcomes == [AlertOutcome(late.id, INC1, duplicate=False)]
    assert [(c.state.id, c.kind) for c in result.changes] == [(INC1, IncidentChangeKind.CREATED)]
    assert old.status is IncidentStatus.NEW
    assert old.alert_count == 1


def test_window_edges_inside_one_batch() -> None:
    # given alerts at 0, 10 (exactly one window later) and 20 min + 1 µs
    a, b = alert(0), alert(10, fingerprint="zabbix-2")
    c = alert(minutes(20) + timedelta(microseconds=1), fingerprint="zabbix-3")
    result = run([a, b, c])
    # then the first two share an incident and the third opens another
    assert [o.incident_id for o in result.outcomes] == [INC1, INC1, INC2]
    assert [c.state.alert_count for c in result.changes] == [2, 1]


def test_window_slides_with_the_last_alert() -> None:
    # given alerts every 8 minutes for 40 minutes / then all join one incident
    alerts = [alert(m, fingerprint=f"fp-{m}") for m in range(0, 41, 8)]
    result = run(alerts)
    assert {o.incident_id for o in result.outcomes} == {INC1}
    assert result.changes[0].state.first_alert_at == T0
    assert result.changes[0].state.last_alert_at == minutes(40)


def test_same_asset_and_signature_from_two_tools_is_one_incident() -> None:
    # given the same problem reported by Zabbix and Datadog
    a = alert(0, tool="zabbix", asset="WEB-01")
    b = alert(2, tool="datadog", asset="web-01 ")
    result = run([a, b])
    # then one incident with both tools, and the +10 multi-tool priority
    [change] = result.changes
    assert change.state.tool_sources == {"zabbix", "datadog"}
    assert change.state.alert_count == 2
    assert change.state.duplicate_count == 0
    state = change.state
    assert priority_base(
        state.severity, state.critical_asset, state.alert_count, len(state.tool_sources)
    ) == (60 + 2 * 2 + 10)
    assert [o.incident_id for o in result.outcomes] == [INC1, INC1]


def test_different_keys_open_separate_incidents() -> None:
    # given two assets and two signatures
    alerts = [
        alert(0, asset="web-01"),
        alert(1, asset="web-02"),
        alert(2, asset="web-01", signature="Disk full"),
    ]
    result = run(alerts)
    # then three incidents
    assert [o.incident_id for o in result.outcomes] == [INC1, INC2, INC3]
    assert [c.state.key for c in result.changes] == ["web-01|high cpu", "web-02|high cpu", "web-01|disk full"]


def test_alert_outside_the_window_of_an_open_incident_leaves_it_open() -> None:
    # given an acknowledged incident quiet for an hour / when the problem fires again
    old = stored(status=IncidentStatus.ACKNOWLEDGED)
    result = run([alert(60)], [old])
    # then a new incident opens and the old one is not touched
    assert [c.state.id for c in result.changes] == [INC1]
    assert old.status is IncidentStatus.ACKNOWLEDGED


# -- rule b: duplicates, severity, out of order -------------------------------------------------


def test_repeat_of_a_firing_fingerprint_is_a_duplicate() -> None:
    # given the same fingerprint three times
    alerts = [alert(0), alert(1), alert(2)]
    result = run(alerts)
    # then one incident, two duplicates, every alert counted
    assert [o.duplicate for o in result.outcomes] == [False, True, True]
    state = result.changes[0].state
    assert (state.alert_count, state.duplicate_count) == (3, 2)
    # and the timeline records the incident's creation only, not each repeat
    assert kinds(result) == [E.CREATED]


def test_a_repeat_that_raises_the_severity_records_only_the_raise() -> None:
    # given the same fingerprint, first low, then critical
    low = alert(0, severity=Severity.LOW)
    crit = alert(1, severity=Severity.CRITICAL)
    result = run([low, crit])
    # then the repeat is a duplicate, and the timeline says what changed
    assert [o.duplicate for o in result.outcomes] == [False, True]
    assert result.changes[0].state.severity is Severity.CRITICAL
    assert kinds(result) == [E.CREATED, E.SEVERITY_RAISED]


def test_repeat_of_a_stored_firing_fingerprint_is_a_duplicate() -> None:
    result = run([alert(3)], [stored()])
    assert result.outcomes[0].duplicate is True
    assert (result.changes[0].state.alert_count, result.changes[0].state.duplicate_count) == (2, 1)


def test_severity_is_the_maximum_and_rising_is_recorded() -> None:
    # given low, then critical, then medium
    low = alert(0, severity=Severity.LOW)
    crit = alert(1, severity=Severity.CRITICAL, fingerprint="zabbix-2")
    medium = alert(2, severity=Severity.MEDIUM, fingerprint="zabbix-3")
    result = run([low, crit, medium])
    # then critical, raised once
    assert result.changes[0].state.severity is Severity.CRITICAL
    assert kinds(result) == [E.CREATED, E.ALERT_ADDED, E.SEVERITY_RAISED, E.ALERT_ADDED]
    assert result.changes[0].events[2] == TimelineEvent(
        E.SEVERITY_RAISED, minutes(1), crit.id, {"from": "low", "to": "critical"}
    )


def test_alerts_are_processed_in_event_time_order() -> None:
    # given a batch delivered newest first
    a, b, c = alert(0), alert(5, fingerprint="zabbix-2"), alert(12, fingerprint="zabbix-3")
    result = run([c, b, a])
    # then they chain within the window as if delivered in order
    assert [o.alert_id for o in result.outcomes] == [a.id, b.id, c.id]
    assert {o.incident_id for o in result.outcomes} == {INC1}
    assert result.changes[0].state.first_alert_at == T0
    assert result.changes[0].state.last_alert_at == minutes(12)
    assert result.changes[0].events[0].alert_id == a.id


def test_equal_event_times_are_ordered_by_id() -> None:
    # given a resolve and a fire at the same instant, the fire received first
    fire = alert(0, alert_id=UUID(int=1))
    clear = alert(0, resolved=True, alert_id=UUID(int=2))
    result = run([clear, fire])
    # then the fire opens the incident and the resolve closes it
    assert [o.alert_id for o in result.outcomes] == [fire.id, clear.id]
    assert result.changes[0].state.status is IncidentStatus.RESOLVED


def test_late_alert_before_the_incident_extends_it_backwards() -> None:
    # given a stored incident spanning T0..T0+30 / when an alert from T0-4 arrives late
    late = alert(-4, fingerprint="zabbix-9")
    result = run([late], [stored(first=T0, last=minutes(30))])
    # then it joins (it is within the window of the incident's alerts) and first_alert_at moves back
    assert result.outcomes[0].incident_id == STORED
    assert result.changes[0].state.first_alert_at == minutes(-4)
    assert result.changes[0].state.last_alert_at == minutes(30)


def test_manual_status_is_kept_when_alerts_join() -> None:
    for status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.IN_PROGRESS, IncidentStatus.ESCALATED):
        result = run([alert(1, fingerprint="zabbix-2")], [stored(status=status)])
        assert result.changes[0].state.status is status


# -- rule c: resolve messages -------------------------------------------------------------------


def test_resolving_one_of_two_fingerprints_keeps_the_incident_open() -> None:
    # given a stored incident with two firing fingerprints
    old = stored(active=("zabbix-1", "zabbix-2"))
    clear = alert(3, resolved=True, fingerprint="zabbix-1")
    result = run([clear], [old])
    # then only that fingerprint closes
    [change] = result.changes
    assert change.state.status is IncidentStatus.NEW
    assert change.state.active_fingerprints == {"zabbix-2"}
    assert change.kind is IncidentChangeKind.UPDATED
    assert change.events == [
        TimelineEvent(
            E.ALERT_RESOLVED,
            minutes(3),
            clear.id,
            {"tool": "zabbix", "fingerprint": "zabbix-1", "closed": True},
        )
    ]
    assert result.outcomes == [AlertOutcome(clear.id, STORED, duplicate=False)]
    assert result.resolved_fingerprints == {(STORED, "zabbix-1"): minutes(3)}
    # and resolve messages are not counted as alerts
    assert change.state.alert_count == 1
    assert change.state.last_alert_at == T0


def test_resolving_the_last_fingerprint_resolves_the_incident() -> None:
    # given an acknowledged incident with one firing fingerprint
    clear = alert(45, resolved=True)
    result = run([clear], [stored(status=IncidentStatus.ACKNOWLEDGED)])
    # then it is resolved at the message's event time
    [change] = result.changes
    assert change.state.status is IncidentStatus.RESOLVED
    assert change.state.resolved_at == minutes(45)
    assert change.state.active_fingerprints == set()
    assert change.kind is IncidentChangeKind.RESOLVED
    assert kinds(result) == [E.ALERT_RESOLVED, E.RESOLVED]
    assert result.resolved_fingerprints == {(STORED, "zabbix-1"): minutes(45)}


def test_fire_and_resolve_in_one_batch_closes_the_firing_alert_in_its_outcome() -> None:
    fire_a, fire_b = alert(0), alert(1)
    clear = alert(2, resolved=True)
    result = run([fire_a, fire_b, clear])
    assert result.outcomes == [
        AlertOutcome(fire_a.id, INC1, duplicate=False, resolved_at=minutes(2)),
        AlertOutcome(fire_b.id, INC1, duplicate=True, resolved_at=minutes(2)),
        AlertOutcome(clear.id, INC1, duplicate=False),
    ]
    # created in this batch wins over resolved for the change kind
    assert result.changes[0].kind is IncidentChangeKind.CREATED
    assert result.changes[0].state.status is IncidentStatus.RESOLVED


def test_resolve_without_an_open_incident_is_attached_to_nothing() -> None:
    # given no incident, and separately an already resolved one
    clear = alert(0, resolved=True)
    assert run([clear]) == run([clear], [])
    result = run([clear])
    assert result.outcomes == [AlertOutcome(clear.id, None, duplicate=False)]
    assert result.changes == []
    resolved = stored(status=IncidentStatus.RESOLVED, resolved_at=T0, active=())
    result = run([alert(5, resolved=True)], [resolved])
    assert result.outcomes[0].incident_id is None
    assert result.changes == []
    assert result.resolved_fingerprints == {}


def test_resolve_of_an_unknown_fingerprint_is_recorded_but_changes_nothing() -> None:
    result = run([alert(1, resolved=True, fingerprint="other")], [stored()])
    [change] = result.changes
    assert change.state.active_fingerprints == {"zabbix-1"}
    assert change.state.status is IncidentStatus.NEW
    assert change.events[0].data == {"tool": "zabbix", "fingerprint": "other", "closed": False}
    assert result.resolved_fingerprints == {}


# -- rule d: reopen and flapping ----------------------------------------------------------------


def test_firing_within_the_flap_window_after_resolution_reopens_the_incident() -> None:
    # given an incident resolved at T0 / when the problem fires exactly 30 min later
    old = stored(status=IncidentStatus.RESOLVED, last=minutes(-5), resolved_at=T0, active=())
    refire = alert(30)
    result = run([refire], [old])
    # then the same incident reopens as NEW and counts one flap
    [change] = result.changes
    assert change.state.id == STORED
    assert change.state.status is IncidentStatus.NEW
    assert change.state.resolved_at is None
    assert change.state.flap_times == [minutes(30)]
    assert change.state.flapping is False
    assert change.kind is IncidentChangeKind.UPDATED
    assert change.events[0] == TimelineEvent(
        E.REOPENED, minutes(30), refire.id, {"resolved_at": T0.isoformat()}
    )
    assert kinds(result) == [E.REOPENED, E.ALERT_ADDED]
    assert result.outcomes == [AlertOutcome(refire.id, STORED, duplicate=False)]


def test_firing_after_the_flap_window_opens_a_new_incident() -> None:
    old = stored(status=IncidentStatus.RESOLVED, last=minutes(-5), resolved_at=T0, active=())
    result = run([alert(minutes(30) + timedelta(microseconds=1))], [old])
    assert [(c.state.id, c.kind) for c in result.changes] == [(INC1, IncidentChangeKind.CREATED)]
    assert old.status is IncidentStatus.RESOLVED


def _cycles(count: int) -> list[PendingAlert]:
    """`count` fire/resolve pairs one minute apart: fire at 0, resolve at 1, fire at 2, ..."""
    return [alert(2 * i + r, resolved=bool(r)) for i in range(count) for r in (0, 1)]


def test_flapping_exactly_at_the_threshold_is_not_flapping() -> None:
    # given 4 fire/resolve cycles: 3 reopens, threshold 3
    result = run(_cycles(4))
    # then it is not flapping and the last resolve resolves it
    state = result.changes[0].state
    assert state.flap_times == [minutes(2), minutes(4), minutes(6)]
    assert state.flapping is False
    assert state.status is IncidentStatus.RESOLVED
    assert state.resolved_at == minutes(7)
    assert E.FLAPPING_STARTED not in kinds(result)
    assert state.alert_count == 4


def test_flapping_above_the_threshold_keeps_the_incident_open() -> None:
    # given 5 fire/resolve cycles: 4 reopens, threshold 3
    alerts = _cycles(5)
    result = run(alerts)
    # then the 4th reopen marks it flapping and the last resolve does not resolve it
    state = result.changes[0].state
    assert state.flapping is True
    assert state.flap_times == [minutes(2), minutes(4), minutes(6), minutes(8)]
    assert state.status is IncidentStatus.NEW
    assert state.resolved_at is None
    assert state.active_fingerprints == set()
    assert kinds(result)[-3:] == [E.ALERT_ADDED, E.FLAPPING_STARTED, E.ALERT_RESOLVED]
    assert result.changes[0].events[-2] == TimelineEvent(
        E.FLAPPING_STARTED, minutes(8), alerts[8].id, {"flaps": 4, "window_minutes": 30}
    )
    # and each firing alert was closed by its resolve
    assert result.outcomes[8] == AlertOutcome(alerts[8].id, INC1, duplicate=False, resolved_at=minutes(9))


def test_flap_times_older_than_the_flap_window_are_dropped() -> None:
    # given two old flaps, one recent, resolved a minute ago
    old = stored(
        status=IncidentStatus.RESOLVED,
        last=minutes(-2),
        resolved_at=minutes(-1),
        active=(),
        flap_times=[minutes(-40), minutes(-30) - timedelta(microseconds=1), minutes(-30)],
    )
    result = run([alert(0)], [old])
    # then only flaps within 30 min of the refire remain
    assert result.changes[0].state.flap_times == [minutes(-30), T0]
    assert result.changes[0].state.flapping is False


def test_flapping_incident_stays_open_on_resolve_and_counts_the_next_refire() -> None:
    # given a flapping, acknowledged incident
    flaps = [minutes(-20), minutes(-15), minutes(-10), minutes(-5)]
    old = stored(status=IncidentStatus.ACKNOWLEDGED, flap_times=flaps, flapping=True)
    clear, refire = alert(1, resolved=True), alert(2)
    result = run([clear, refire], [old])
    # then the resolve closes the fingerprint but not the incident, and the refire is a flap
    [change] = result.changes
    assert change.state.status is IncidentStatus.ACKNOWLEDGED
    assert change.state.resolved_at is None
    assert change.state.active_fingerprints == {"zabbix-1"}
    assert change.state.flap_times == [*flaps, minutes(2)]
    assert kinds(result) == [E.ALERT_RESOLVED, E.ALERT_ADDED]
    assert change.kind is IncidentChangeKind.UPDATED
    assert result.resolved_fingerprints == {(STORED, "zabbix-1"): minutes(1)}


def test_late_firing_alert_older_than_the_resolution_is_history() -> None:
    # given an incident resolved at T0+5 / when a firing alert from T0+2 arrives late
    old = stored(status=IncidentStatus.RESOLVED, resolved_at=minutes(5), active=())
    late = alert(2, fingerprint="datadog-1", tool="datadog")
    result = run([late], [old])
    # then it is attached, closed at once, and the incident stays resolved
    assert result.outcomes == [AlertOutcome(late.id, STORED, duplicate=False, resolved_at=minutes(5))]
    [change] = result.changes
    assert change.state.status is IncidentStatus.RESOLVED
    assert change.state.active_fingerprints == set()
    assert change.state.tool_sources == {"zabbix", "datadog"}
    assert change.kind is IncidentChangeKind.UPDATED
    assert change.events[0].data["late"] is True


# -- purity -------------------------------------------------------------------------------------


def test_correlate_does_not_change_the_callers_incidents_and_is_deterministic() -> None:
    old = stored()
    alerts = [alert(1, fingerprint="zabbix-2", tool="datadog"), alert(2, resolved=True)]
    first = run(alerts, [old])
    second = run(alerts, [old])
    assert first == second
    assert old == stored()
    assert first.changes[0].state is not old


# -- auto-resolve -------------------------------------------------------------------------------

AUTO = CorrelationSettings(auto_resolve_after=timedelta(minutes=60))


def test_quiet_incident_from_a_tool_without_resolves_is_due_exactly_at_the_quiet_period() -> None:
    incident = stored(tools=("splunk",))
    assert due_for_auto_resolve(incident, AUTO, minutes(60)) is True
    assert due_for_auto_resolve(incident, AUTO, minutes(60) - timedelta(microseconds=1)) is False


def test_incident_with_a_tool_that_sends_resolves_is_not_due_unless_flapping() -> None:
    mixed = stored(tools=("splunk", "zabbix"))
    assert due_for_auto_resolve(mixed, AUTO, minutes(120)) is False
    assert due_for_auto_resolve(stored(tools=("zabbix",), flapping=True), AUTO, minutes(60)) is True


def test_auto_resolve_off_or_already_resolved_is_never_due() -> None:
    assert due_for_auto_resolve(stored(tools=("splunk",)), SETTINGS, minutes(600)) is False
    resolved = stored(status=IncidentStatus.RESOLVED, tools=("splunk",), resolved_at=T0, active=())
    assert due_for_auto_resolve(resolved, AUTO, minutes(600)) is False


def test_auto_resolve_closes_the_incident_and_stops_flapping() -> None:
    # given a flapping incident
    incident = stored(flapping=True, active=("a", "b"))
    # when auto-resolved
    change = auto_resolve(incident, minutes(90))
    # then it is resolved at now, flapping stops, and the caller's copy is untouched
    assert change.state.status is IncidentStatus.RESOLVED
    assert change.state.resolved_at == minutes(90)
    assert change.state.flapping is False
    assert change.state.active_fingerprints == set()
    assert (change.created, change.kind) == (False, IncidentChangeKind.RESOLVED)
    assert change.events == [
        TimelineEvent(
            E.AUTO_RESOLVED,
            minutes(90),
            None,
            {"quiet_since": T0.isoformat(), "closed_fingerprints": ["a", "b"]},
        ),
        TimelineEvent(E.FLAPPING_STOPPED, minutes(90)),
    ]
    assert incident.status is IncidentStatus.NEW
    assert incident.flapping is True


def test_auto_resolve_of_a_resolved_incident_is_refused() -> None:
    resolved = stored(status=IncidentStatus.RESOLVED, resolved_at=T0, active=())
    with pytest.raises(InvalidTransition) as caught:
        auto_resolve(resolved, minutes(90))
    assert caught.value.message == "cannot auto-resolve an incident that is RESOLVED"


# -- settings -----------------------------------------------------------------------------------


def test_settings_defaults_and_from_minutes() -> None:
    assert CorrelationSettings.from_minutes() == CorrelationSettings(
        window=timedelta(minutes=10),
        flap_threshold=3,
        flap_window=timedelta(minutes=30),
        auto_resolve_after=None,
        auto_resolve_tools=frozenset({"splunk"}),
    )
    assert CorrelationSettings.from_minutes(auto_resolve_minutes=60).auto_resolve_after == timedelta(hours=1)


@pytest.mark.parametrize("window_minutes", [5, 15])
def test_window_of_5_to_15_minutes_is_valid(window_minutes: int) -> None:
    settings = CorrelationSettings.from_minutes(window_minutes=window_minutes)
    assert settings.validate() is settings


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            CorrelationSettings.from_minutes(window_minutes=4),
            "correlationWindowMinutes",
            "must be between 5 and 15 minutes",
        ),
        (
            CorrelationSettings.from_minutes(window_minutes=16),
            "correlationWindowMinutes",
            "must be between 5 and 15 minutes",
        ),
        (CorrelationSettings(flap_threshold=0), "flapThreshold", "must be between 1 and 100"),
        (
            CorrelationSettings.from_minutes(flap_window_minutes=0),
            "flapWindowMinutes",
            "must be between 1 minute and 24 hours",
        ),
        (
            CorrelationSettings.from_minutes(auto_resolve_minutes=0),
            "autoResolveMinutes",
            "must be between 1 minute and 7 days, or null",
        ),
        (
            CorrelationSettings(auto_resolve_tools=frozenset({"splunk", "nope"})),
            "autoResolveTools",
            "unknown tools: nope",
        ),
    ],
)
def test_invalid_settings_name_the_field(settings: CorrelationSettings, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        settings.validate()
    assert (caught.value.code, caught.value.field, caught.value.message) == ("INVALID_INPUT", field, message)


def test_copy_keeps_every_field_and_shares_no_container() -> None:
    # given a stored incident with every container filled
    original = stored(active=("a", "b"), tools=("zabbix", "datadog"), flap_times=(T0,), flapping=True)

    # when it is copied
    copy = original.copy()

    # then the copy is equal field by field, and changing it leaves the original alone
    assert copy == original
    assert copy is not original
    copy.active_fingerprints.add("c")
    copy.tool_sources.add("splunk")
    copy.flap_times.append(NOW)
    assert original.active_fingerprints == {"a", "b"}
    assert original.tool_sources == {"zabbix", "datadog"}
    assert original.flap_times == [T0]
