"""Correlation: which incident each incoming alert belongs to, and what that does to the incident.

The correlation worker claims a batch of stored alerts of one company, loads the latest incident per
correlation key, calls `correlate` and writes the result back in a few set-based statements. The rules
here are pure and deterministic: the same alerts, incidents, settings, `now` and id sequence give the
same result, so a crashed batch can simply be rerun.

Rules (alerts are processed in event-time order, ties by id):

a. A firing alert joins the key's open (not RESOLVED) incident when it lies within `window` of that
   incident's alerts (edges inclusive). For an alert at or after the incident's last alert, the normal
   case, that is `event_time - last_alert_at <= window`; a late alert that falls inside the incident's
   span joins it too. Otherwise a new incident opens, even if an older one is still open.
b. A fingerprint that is already firing on the incident is a duplicate. `alert_count` counts every
   firing alert attached (duplicates included); `duplicate_count` counts the duplicates. Resolve
   messages are attached to the incident's timeline but counted in neither, and leave `tool_sources`,
   `severity` and `last_alert_at` alone: a recovery must not raise an incident's priority or postpone its
   auto-resolve.
c. A resolve message closes its fingerprint on the key's open incident (the latest one where it is
   firing, else the latest open one). When the incident's last firing fingerprint closes, the incident
   becomes RESOLVED at the message's event time, unless it is flapping.
d. A firing alert after the key's latest incident was resolved, within `flap_window` of `resolved_at`,
   reopens that incident (status NEW) and counts a flap. More than `flap_threshold` flaps inside
   `flap_window` mark it flapping: resolve messages then no longer resolve it; auto-resolve or a
   technician closes it. A firing alert older than the resolution (a late delivery) is attached to the
   resolved incident as history and is closed at once (`AlertOutcome.resolved_at`).
e. Manual statuses (ACKNOWLEDGED, IN_PROGRESS, ESCALATED) are kept when alerts join.

The tool is not part of the correlation key: the same asset and signature from two tools is one
incident with both in `tool_sources`. The signature in the key is the canonical one
(`domain.signatures.canonical_signature`: case, separators, camelCase, the asset's own name and the
company's and built-in aliases folded away), so "Disk usage high" from Datadog and "DiskFull" from
Alertmanager on one host are one incident too; the incident keeps every original signature it saw
(`signatures`, in the order seen).

Before `correlate`, the worker settles three things per claimed alert with the functions below:
which assets the batch discovers (`discovered_assets`), which key an alert is correlated under
(`pending_alert`: a resolve message follows its fingerprint), and which alerts a maintenance window
holds back (`exempt_for_maintenance`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from domain.alerts import Category, Severity, Tool
from domain.errors import InvalidInput, InvalidTransition
from domain.incidents import IncidentChangeKind, IncidentEventKind, IncidentStatus, TimelineEvent
from domain.maintenance import MaintenanceWindow
from domain.signatures import canonical_signature

KEY_MAX_LENGTH = 200
MIN_WINDOW = timedelta(minutes=5)
MAX_WINDOW = timedelta(minutes=15)
MAX_FLAP_THRESHOLD = 100
MAX_FLAP_WINDOW = timedelta(hours=24)
MAX_AUTO_RESOLVE_AFTER = timedelta(days=7)
# An incident keeps at most this many original signatures: a tool templating a counter into its names
# must not grow the row without bound (later spellings still join; they are just not listed).
MAX_INCIDENT_SIGNATURES = 50

_EventKind = IncidentEventKind
_RESOLVED = IncidentStatus.RESOLVED


def correlation_key(asset_key: str, signature: str) -> str:
    """The stable key alerts of one problem share: `asset|signature`, trimmed and lowercased.

    `asset_key` is the asset's identity as the worker knows it (its inventory id when the alert matched
    an asset, else its name). A `|` or `\\` inside a part is escaped so two different pairs never give
    the same key. Keys longer than 200 characters become `sha256:<hex>` (71 characters).
    """
    key = f"{_key_part(asset_key)}|{_key_part(signature)}"
    if len(key) > KEY_MAX_LENGTH:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def signature_key(
    asset_id: UUID | None, asset_name: str, signature: str, aliases: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The correlation key of `signature` on an asset (its inventory id if known, else its name), and
    the canonical signature the key is made of.

    Also how a stored incident is re-keyed when the folding rules change (a migration, a company's
    aliases): from its asset and first signature, as its next alert will be keyed.
    """
    canonical = canonical_signature(signature, asset_name, aliases)
    return correlation_key(str(asset_id) if asset_id else asset_name, canonical), canonical


def _key_part(value: str) -> str:
    return value.strip().lower().replace("\\", "\\\\").replace("|", "\\|")


@dataclass(frozen=True, slots=True)
class CorrelationSettings:
    """A company's correlation settings. Call `validate()` on anything a user entered."""

    window: timedelta = timedelta(minutes=10)
    flap_threshold: int = 3
    flap_window: timedelta = timedelta(minutes=30)
    auto_resolve_after: timedelta | None = None
    auto_resolve_tools: frozenset[str] = frozenset({"splunk"})

    @classmethod
    def from_minutes(
        cls,
        window_minutes: int = 10,
        flap_threshold: int = 3,
        flap_window_minutes: int = 30,
        auto_resolve_minutes: int | None = None,
        auto_resolve_tools: Iterable[str] = ("splunk",),
    ) -> CorrelationSettings:
        """Settings from the company row's minute columns."""
        auto_resolve_after = None if auto_resolve_minutes is None else timedelta(minutes=auto_resolve_minutes)
        return cls(
            window=timedelta(minutes=window_minutes),
            flap_threshold=flap_threshold,
            flap_window=timedelta(minutes=flap_window_minutes),
            auto_resolve_after=auto_resolve_after,
            auto_resolve_tools=frozenset(auto_resolve_tools),
        )

    def validate(self) -> CorrelationSettings:
        """Return self, or raise InvalidInput naming the GraphQL input field that is wrong."""
        if not MIN_WINDOW <= self.window <= MAX_WINDOW:
            raise InvalidInput("must be between 5 and 15 minutes", field="correlationWindowMinutes")
        if not 1 <= self.flap_threshold <= MAX_FLAP_THRESHOLD:
            raise InvalidInput(f"must be between 1 and {MAX_FLAP_THRESHOLD}", field="flapThreshold")
        if not timedelta(minutes=1) <= self.flap_window <= MAX_FLAP_WINDOW:
            raise InvalidInput("must be between 1 minute and 24 hours", field="flapWindowMinutes")
        if self.auto_resolve_after is not None and not (
            timedelta(minutes=1) <= self.auto_resolve_after <= MAX_AUTO_RESOLVE_AFTER
        ):
            raise InvalidInput("must be between 1 minute and 7 days, or null", field="autoResolveMinutes")
        known = {tool.value for tool in Tool}
        unknown = sorted(tool for tool in self.auto_resolve_tools if tool not in known)
        if unknown:
            raise InvalidInput(f"unknown tools: {', '.join(unknown)}", field="autoResolveTools")
        return self


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """A stored alert waiting for correlation; `key` is `correlation_key(...)` of its asset and signature."""

    id: UUID
    key: str
    asset_id: UUID | None
    asset_name: str
    signature: str
    severity: Severity
    category: Category
    tool: str
    event_time: datetime
    resolved: bool
    fingerprint: str
    critical_asset: bool
    canonical_signature: str = ""


def pending_alert(
    *,
    alert_id: UUID,
    asset_name: str,
    signature: str,
    severity: Severity,
    category: Category,
    tool: str,
    event_time: datetime,
    resolved: bool,
    fingerprint: str,
    asset_id: UUID | None,
    critical_asset: bool,
    firing_key: str | None = None,
    firing_asset_id: UUID | None = None,
    firing_critical: bool = False,
    aliases: Mapping[str, str] | None = None,
) -> PendingAlert:
    """A claimed alert as `correlate` takes it, under the key it is correlated by.

    An alert goes under its asset (`asset_id`, the inventory's id when the alert matched an asset, else
    its name) and signature. A resolve message goes to the open incident its fingerprint is firing on
    when there is one (`firing_key`, with that incident's asset and criticality), even when it names the
    asset differently or not at all (a PagerDuty resolve carries only the dedup key, a tool may spell
    the host another way): the fingerprint says which problem it ends, the name does not. A firing
    alert never follows a fingerprint: the same fingerprint on another asset is another problem.

    The key's signature is `canonical_signature(signature, asset_name, aliases)`, `aliases` being the
    company's alias rules (`domain.signatures.alias_rules`).
    """
    if resolved and firing_key is not None:
        canonical = canonical_signature(signature, asset_name, aliases)
        key, asset_id, critical_asset = firing_key, firing_asset_id, firing_critical
    else:
        key, canonical = signature_key(asset_id, asset_name, signature, aliases)
    return PendingAlert(
        alert_id,
        key,
        asset_id,
        asset_name,
        signature,
        severity,
        category,
        tool,
        event_time,
        resolved,
        fingerprint,
        critical_asset,
        canonical,
    )


def exempt_for_maintenance(
    alerts: list[PendingAlert],
    windows: Sequence[MaintenanceWindow],
    aliases: Mapping[str, str] | None = None,
) -> tuple[list[PendingAlert], dict[UUID, UUID]]:
    """Split one company's alerts into those correlation goes on with and those stored as suppressed
    (alert id -> id of the window that suppresses it).

    A firing alert is suppressed by the first window, in the order given, that covers its asset and
    signature at its event time (`MaintenanceWindow.suppresses`: [starts_at, ends_at), or an occurrence
    of a recurring window). A window covers a signature it names, and one whose canonical signature
    (the alert's, as its key was made) is a named one's canonical form under the company's `aliases`.
    A resolve message is never suppressed: the problem it ends may have opened an incident before the
    window began, and that incident must still close. With no windows, `alerts` itself comes back.
    """
    if not windows:
        return alerts, {}
    # Each window's names folded once per batch, not once per alert.
    names = {w.id: w.canonical_names(aliases) for w in windows if w.signatures}
    kept: list[PendingAlert] = []
    suppressed: dict[UUID, UUID] = {}
    for alert in alerts:
        if not alert.resolved:
            window = next(
                (
                    w
                    for w in windows
                    if w.suppresses(
                        alert.asset_name,
                        alert.signature,
                        alert.event_time,
                        alert.canonical_signature,
                        names.get(w.id, frozenset()),
                    )
                ),
                None,
            )
            if window is not None:
                suppressed[alert.id] = window.id
                continue
        kept.append(alert)
    return kept, suppressed


class AssetMention(NamedTuple):
    """A claimed alert naming an asset the company's inventory does not have (its `asset_ref` matched
    no asset's external id and its name no asset's name)."""

    company_id: UUID
    name: str
    ref: str | None
    firing: bool


@dataclass(frozen=True, slots=True)
class DiscoveredAsset:
    """An asset to add to a company's inventory because an alert named it (`discovered`, type other)."""

    id: UUID
    company_id: UUID
    name: str
    external_id: str | None


def discovered_assets(mentions: Iterable[AssetMention], new_id: Callable[[], UUID]) -> list[DiscoveredAsset]:
    """The assets a batch's mentions of unknown assets create, in the order of their first mention.

    Only a firing alert creates an asset: a resolve naming an unknown asset ends nothing there and stays
    without one. Names are one asset per company whatever their case (as the inventory's unique index
    has it), spelled as the first firing alert spells them. The asset keeps that alert's reference as
    its external id, so other tools sending the same id find it, unless an earlier asset of the batch
    already took that reference (external ids are unique per company): two names for one id are two
    assets, and the id stays with the first. `new_id` is called once per asset, in that order.
    """
    created: dict[tuple[UUID, str], DiscoveredAsset] = {}
    taken_refs: set[tuple[UUID, str]] = set()
    for m in mentions:
        if not m.firing:
            continue
        key = (m.company_id, m.name.lower())
        if key in created:
            continue
        ref = m.ref if (m.company_id, m.ref) not in taken_refs else None
        if ref:
            taken_refs.add((m.company_id, ref))
        created[key] = DiscoveredAsset(new_id(), m.company_id, m.name, ref)
    return list(created.values())


@dataclass(slots=True)
class IncidentState:
    """A working copy of a stored incident; `correlate` never changes the caller's instances."""

    id: UUID
    key: str
    asset_id: UUID | None
    asset_name: str
    signature: str
    status: IncidentStatus
    severity: Severity
    category: Category
    alert_count: int
    duplicate_count: int
    tool_sources: set[str]
    first_alert_at: datetime
    last_alert_at: datetime
    resolved_at: datetime | None
    # Fingerprints currently firing.
    active_fingerprints: set[str]
    # Times of resolve -> refire cycles inside the flap window.
    flap_times: list[datetime]
    flapping: bool
    critical_asset: bool
    created_at: datetime
    # Every original signature of its firing alerts, in the order first seen (the first is `signature`).
    signatures: list[str] = field(default_factory=list)
    # The signature its key was made of (`canonical_signature`); "" for incidents stored before 0035.
    canonical_signature: str = ""

    def copy(self) -> IncidentState:
        # Spelled out: dataclasses.replace costs several times more, and the worker copies per key.
        return IncidentState(
            id=self.id,
            key=self.key,
            asset_id=self.asset_id,
            asset_name=self.asset_name,
            signature=self.signature,
            status=self.status,
            severity=self.severity,
            category=self.category,
            alert_count=self.alert_count,
            duplicate_count=self.duplicate_count,
            tool_sources=set(self.tool_sources),
            first_alert_at=self.first_alert_at,
            last_alert_at=self.last_alert_at,
            resolved_at=self.resolved_at,
            active_fingerprints=set(self.active_fingerprints),
            flap_times=list(self.flap_times),
            flapping=self.flapping,
            critical_asset=self.critical_asset,
            created_at=self.created_at,
            signatures=list(self.signatures),
            canonical_signature=self.canonical_signature,
        )


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """Where one alert went. `resolved_at` is set for a firing alert already closed when the batch ends
    (a later resolve message in the batch, or a late delivery to a resolved incident)."""

    alert_id: UUID
    incident_id: UUID | None
    duplicate: bool
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One incident's new state and the timeline events that led there.

    `kind` is CREATED when the incident was opened in this batch, RESOLVED when it was resolved in it
    (and still is), else UPDATED.
    """

    state: IncidentState
    created: bool
    kind: IncidentChangeKind
    events: list[TimelineEvent]


@dataclass(frozen=True, slots=True)
class CorrelationResult:
    """What the worker writes back.

    `outcomes` follow processing order (event time, then id). `changes` hold one entry per touched
    incident, in the order they were first touched. `resolved_fingerprints` maps (incident id,
    fingerprint) to the time of the first resolve message that closed it in this batch: apply it to
    the incident's firing alerts stored *before* this batch (this batch's own alerts carry
    `AlertOutcome.resolved_at`), e.g. before writing the outcomes, or guarded by `correlated_at IS NOT NULL`.
    """

    outcomes: list[AlertOutcome]
    changes: list[IncidentChange]
    resolved_fingerprints: dict[tuple[UUID, str], datetime]


def correlate(
    alerts: Sequence[PendingAlert],
    latest: Mapping[str, IncidentState],
    settings: CorrelationSettings,
    now: datetime,
    new_id: Callable[[], UUID],
) -> CorrelationResult:
    """Correlate one company's batch of alerts against the latest stored incident per key.

    `latest` maps a key to its most recent incident (largest `last_alert_at`); keys without one are
    simply missing. `new_id` is called once per new incident, in processing order.
    """
    run = _Run(latest, settings, now, new_id)
    for alert in sorted(alerts, key=lambda a: (a.event_time, a.id)):
        if alert.resolved:
            run.resolve(alert)
        else:
            run.fire(alert)
    return run.result()


def due_for_auto_resolve(incident: IncidentState, settings: CorrelationSettings, now: datetime) -> bool:
    """Whether an open incident has been quiet long enough to close by itself.

    Only incidents whose every tool never sends resolve messages (`auto_resolve_tools`), or that are
    flapping, are closed this way; the others wait for their resolve message or a technician.
    """
    if incident.status == _RESOLVED or settings.auto_resolve_after is None:
        return False
    if now - incident.last_alert_at < settings.auto_resolve_after:
        return False
    tools = {tool.lower() for tool in settings.auto_resolve_tools}
    return incident.flapping or all(tool.lower() in tools for tool in incident.tool_sources)


def auto_resolve(incident: IncidentState, now: datetime) -> IncidentChange:
    """Close a quiet incident at `now`; the worker closes its still-firing alerts with it."""
    if incident.status == _RESOLVED:
        raise InvalidTransition("cannot auto-resolve an incident that is RESOLVED", field="status")
    state = incident.copy()
    events = [
        TimelineEvent(
            _EventKind.AUTO_RESOLVED,
            now,
            None,
            {
                "quiet_since": state.last_alert_at.isoformat(),
                "closed_fingerprints": sorted(state.active_fingerprints),
            },
        )
    ]
    if state.flapping:
        state.flapping = False
        events.append(TimelineEvent(_EventKind.FLAPPING_STOPPED, now))
    state.status = _RESOLVED
    state.resolved_at = now
    state.active_fingerprints.clear()
    return IncidentChange(state, created=False, kind=IncidentChangeKind.RESOLVED, events=events)


@dataclass(slots=True)
class _Touched:
    state: IncidentState
    created: bool
    events: list[TimelineEvent] = field(default_factory=list)


class _Run:
    """The working state of one `correlate` call."""

    def __init__(
        self,
        latest: Mapping[str, IncidentState],
        settings: CorrelationSettings,
        now: datetime,
        new_id: Callable[[], UUID],
    ) -> None:
        self.latest = latest
        self.settings = settings
        self.now = now
        self.new_id = new_id
        self.candidates: dict[str, list[IncidentState]] = {}
        self.touched: dict[UUID, _Touched] = {}
        self.outcomes: dict[UUID, AlertOutcome] = {}
        # Firing alerts of this batch still open, by (incident id, fingerprint).
        self.open_in_batch: dict[tuple[UUID, str], list[UUID]] = {}
        self.resolved_fingerprints: dict[tuple[UUID, str], datetime] = {}

    # -- the rules -----------------------------------------------------------------------------

    def fire(self, alert: PendingAlert) -> None:
        t = alert.event_time
        incidents = self._incidents(alert.key)
        joinable = [i for i in incidents if i.status != _RESOLVED and _gap(i, t) <= self.settings.window]
        if joinable:
            self._attach_firing(_latest(joinable), alert)
            return
        if incidents:
            last = _latest(incidents)
            if (
                last.status == _RESOLVED
                and last.resolved_at is not None
                and last.resolved_at <= t <= last.resolved_at + self.settings.flap_window
            ):
                self._reopen(last, alert)
                return
        history = [
            i
            for i in incidents
            if i.status == _RESOLVED
            and i.resolved_at is not None
            and t < i.resolved_at
            and _gap(i, t) <= self.settings.window
        ]
        if history:
            self._attach_firing(_latest(history), alert, late=True)
            return
        self._open_incident(alert)

    def resolve(self, alert: PendingAlert) -> None:
        fingerprint = alert.fingerprint
        open_incidents = [i for i in self._incidents(alert.key) if i.status != _RESOLVED]
        if not open_incidents:
            self.outcomes[alert.id] = AlertOutcome(alert.id, None, duplicate=False)
            return
        firing = [i for i in open_incidents if fingerprint in i.active_fingerprints]
        incident = _latest(firing or open_incidents)
        events = self._touch(incident).events
        t = alert.event_time
        closes = fingerprint in incident.active_fingerprints
        events.append(
            TimelineEvent(
                _EventKind.ALERT_RESOLVED,
                t,
                alert.id,
                {"tool": alert.tool, "fingerprint": fingerprint, "closed": closes},
            )
        )
        if closes:
            incident.active_fingerprints.discard(fingerprint)
            self.resolved_fingerprints.setdefault((incident.id, fingerprint), t)
            for alert_id in self.open_in_batch.pop((incident.id, fingerprint), []):
                self.outcomes[alert_id] = dataclasses.replace(self.outcomes[alert_id], resolved_at=t)
            if not incident.active_fingerprints and not incident.flapping:
                incident.status = _RESOLVED
                incident.resolved_at = t
                events.append(TimelineEvent(_EventKind.RESOLVED, t, alert.id))
        self.outcomes[alert.id] = AlertOutcome(alert.id, incident.id, duplicate=False)

    def _open_incident(self, alert: PendingAlert) -> None:
        incident = IncidentState(
            id=self.new_id(),
            key=alert.key,
            asset_id=alert.asset_id,
            asset_name=alert.asset_name,
            signature=alert.signature,
            status=IncidentStatus.NEW,
            severity=alert.severity,
            category=alert.category,
            alert_count=1,
            duplicate_count=0,
            tool_sources={alert.tool},
            first_alert_at=alert.event_time,
            last_alert_at=alert.event_time,
            resolved_at=None,
            active_fingerprints={alert.fingerprint},
            flap_times=[],
            flapping=False,
            critical_asset=alert.critical_asset,
            created_at=self.now,
            signatures=[alert.signature],
            canonical_signature=alert.canonical_signature,
        )
        self._incidents(alert.key).append(incident)
        touched = self.touched[incident.id] = _Touched(incident, created=True)
        touched.events.append(
            TimelineEvent(_EventKind.CREATED, alert.event_time, alert.id, _alert_data(alert))
        )
        self._track_open(incident, alert)
        self.outcomes[alert.id] = AlertOutcome(alert.id, incident.id, duplicate=False)

    def _reopen(self, incident: IncidentState, alert: PendingAlert) -> None:
        assert incident.resolved_at is not None
        self._touch(incident).events.append(
            TimelineEvent(
                _EventKind.REOPENED,
                alert.event_time,
                alert.id,
                {"resolved_at": incident.resolved_at.isoformat()},
            )
        )
        incident.status = IncidentStatus.NEW
        incident.resolved_at = None
        self._attach_firing(incident, alert, refire=True)

    def _attach_firing(
        self, incident: IncidentState, alert: PendingAlert, *, late: bool = False, refire: bool = False
    ) -> None:
        events = self._touch(incident).events
        t = alert.event_time
        # A flapping incident stays open while quiet; its next alert is a refire like a reopen.
        refire = refire or (incident.flapping and not incident.active_fingerprints and not late)
        duplicate = alert.fingerprint in incident.active_fingerprints
        incident.alert_count += 1
        if duplicate:
            incident.duplicate_count += 1
        incident.tool_sources.add(alert.tool)
        incident.first_alert_at = min(incident.first_alert_at, t)
        incident.last_alert_at = max(incident.last_alert_at, t)
        incident.critical_asset = incident.critical_asset or alert.critical_asset
        if alert.signature not in incident.signatures and len(incident.signatures) < MAX_INCIDENT_SIGNATURES:
            incident.signatures.append(alert.signature)
        if incident.asset_id is None:
            incident.asset_id = alert.asset_id
        if incident.category == Category.OTHER:
            incident.category = alert.category
        if not duplicate:
            # A repeat of a fingerprint already firing here is counted (alert_count, duplicate_count,
            # the alert itself is linked as a duplicate) but adds no timeline entry, as in Alerta
            # and PagerDuty: a noisy source would otherwise bury the entries that say what changed.
            data = _alert_data(alert)
            if late:
                data["late"] = True
            events.append(TimelineEvent(_EventKind.ALERT_ADDED, t, alert.id, data))
        if alert.severity.rank > incident.severity.rank:
            events.append(
                TimelineEvent(
                    _EventKind.SEVERITY_RAISED,
                    t,
                    alert.id,
                    {"from": incident.severity.value, "to": alert.severity.value},
                )
            )
            incident.severity = alert.severity
        if refire:
            self._count_flap(incident, alert)
        if late:
            # Older than the incident's resolution: history only, closed as it arrives.
            self.outcomes[alert.id] = AlertOutcome(alert.id, incident.id, duplicate, incident.resolved_at)
            return
        incident.active_fingerprints.add(alert.fingerprint)
        self._track_open(incident, alert)
        self.outcomes[alert.id] = AlertOutcome(alert.id, incident.id, duplicate)

    def _count_flap(self, incident: IncidentState, alert: PendingAlert) -> None:
        t = alert.event_time
        window = self.settings.flap_window
        incident.flap_times = [x for x in incident.flap_times if t - x <= window]
        incident.flap_times.append(t)
        if not incident.flapping and len(incident.flap_times) > self.settings.flap_threshold:
            incident.flapping = True
            self._touch(incident).events.append(
                TimelineEvent(
                    _EventKind.FLAPPING_STARTED,
                    t,
                    alert.id,
                    {"flaps": len(incident.flap_times), "window_minutes": int(window.total_seconds() // 60)},
                )
            )

    # -- bookkeeping ---------------------------------------------------------------------------

    def _incidents(self, key: str) -> list[IncidentState]:
        incidents = self.candidates.get(key)
        if incidents is None:
            stored = self.latest.get(key)
            incidents = self.candidates[key] = [] if stored is None else [stored.copy()]
        return incidents

    def _touch(self, incident: IncidentState) -> _Touched:
        touched = self.touched.get(incident.id)
        if touched is None:
            touched = self.touched[incident.id] = _Touched(incident, created=False)
        return touched

    def _track_open(self, incident: IncidentState, alert: PendingAlert) -> None:
        self.open_in_batch.setdefault((incident.id, alert.fingerprint), []).append(alert.id)

    def result(self) -> CorrelationResult:
        changes = []
        for touched in self.touched.values():
            if touched.created:
                kind = IncidentChangeKind.CREATED
            elif touched.state.status == _RESOLVED and any(
                e.kind == _EventKind.RESOLVED for e in touched.events
            ):
                kind = IncidentChangeKind.RESOLVED
            else:
                kind = IncidentChangeKind.UPDATED
            changes.append(IncidentChange(touched.state, touched.created, kind, touched.events))
        return CorrelationResult(list(self.outcomes.values()), changes, self.resolved_fingerprints)


def _gap(incident: IncidentState, t: datetime) -> timedelta:
    """How far `t` lies outside the incident's [first_alert_at, last_alert_at] span (zero inside)."""
    if t > incident.last_alert_at:
        return t - incident.last_alert_at
    if t < incident.first_alert_at:
        return incident.first_alert_at - t
    return timedelta(0)


def _latest(incidents: list[IncidentState]) -> IncidentState:
    # max() keeps the first of equals: stored incident before those opened in this batch.
    return max(incidents, key=lambda i: i.last_alert_at)


def _alert_data(alert: PendingAlert) -> dict[str, Any]:
    return {"tool": alert.tool, "fingerprint": alert.fingerprint, "severity": alert.severity.value}
