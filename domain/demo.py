"""Demo scenarios as data: what each one sends, when, from which tool, in that tool's native payload.

A scenario is a list of `DemoStep`s. Each step waits `wait` step-lengths after the previous one
(ALERTWHISPERER_DEMO_STEP_SECONDS, 3 s by default, so a MIXED run lasts about two minutes) and then
sends its alerts, one webhook request per tool (Alertmanager and Grafana batch theirs), through the
real ingest path (`db.demo`). The incidents, decisions, remediations and SLA clocks that follow are
the product's own work: nothing here writes an incident.

The scenarios are written for the demo layout `DEMO_ASSETS` (the demo company "Acme Retail" has it;
a demo run adds what a company lacks): two Linux web servers behind a load balancer, both on one
PostgreSQL primary.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.alerts import Severity, Tool

DEFAULT_STEP_SECONDS = 3.0
#: Step-lengths between two runs of a looping demo (`serve --demo`).
LOOP_PAUSE_STEPS = 10


class DemoScenario(enum.StrEnum):
    DISK_CLEANUP = "DISK_CLEANUP"
    DATABASE_CASCADE = "DATABASE_CASCADE"
    ALERT_STORM = "ALERT_STORM"
    FLAPPING_SERVICE = "FLAPPING_SERVICE"
    NOISY_SINGLETONS = "NOISY_SINGLETONS"
    SLA_BREACH = "SLA_BREACH"
    MIXED = "MIXED"


class DemoStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    FINISHED = "FINISHED"


@dataclass(frozen=True, slots=True)
class DemoAsset:
    name: str
    type: str
    ip_address: str
    platform: str | None = None
    cloud_instance_id: str | None = None
    is_critical: bool = False
    depends_on: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The asset's fields as `AssetRepository.create` takes them."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "ip_address": self.ip_address}
        if self.platform:
            out["platform"] = self.platform
        if self.cloud_instance_id:
            out["cloud_instance_id"] = self.cloud_instance_id
        if self.is_critical:
            out["is_critical"] = True
        return out


# Upstream first: an asset's dependencies come before it (they are created in this order).
DEMO_ASSETS: tuple[DemoAsset, ...] = (
    DemoAsset("db-primary", "database", "10.0.2.10", "LINUX", "i-0a1b2c3d4e5f60003", is_critical=True),
    DemoAsset("web-01", "server", "10.0.1.11", "LINUX", "i-0a1b2c3d4e5f60001", True, ("db-primary",)),
    DemoAsset("web-02", "server", "10.0.1.12", "LINUX", "i-0a1b2c3d4e5f60002", False, ("db-primary",)),
    DemoAsset("lb-01", "network", "10.0.0.5", depends_on=("web-01", "web-02")),
)

#: The SLA targets the SLA_BREACH scenario gives the demo company for low-severity incidents (in
#: minutes): short enough to see a real breach within the run's minute, set for real (audited).
SLA_BREACH_SEVERITY = Severity.LOW
SLA_BREACH_TARGETS = (1, 5)  # response, resolution


@dataclass(frozen=True, slots=True)
class DemoAlert:
    """One alert as its tool reports it: `key` is the tool's own id of the problem (fingerprint, cycle
    key, event id, dedup key), the same on its repeats and its resolve."""

    tool: Tool
    asset: str
    signature: str
    severity: Severity
    message: str
    key: str
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class DemoStep:
    note: str
    alerts: tuple[DemoAlert, ...] = ()
    wait: float = 1.0  # step-lengths after the previous step
    # Before its alerts: give the company the short SLA targets (`SLA_BREACH_TARGETS`).
    short_sla: bool = False


def _a(tool: Tool, asset: str, signature: str, severity: Severity, message: str, key: str) -> DemoAlert:
    return DemoAlert(tool, asset, signature, severity, message, key)


def _ok(alert: DemoAlert, message: str) -> DemoAlert:
    return DemoAlert(alert.tool, alert.asset, alert.signature, alert.severity, message, alert.key, True)


C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
AM, DD, ZX, GF, PD = Tool.ALERTMANAGER, Tool.DATADOG, Tool.ZABBIX, Tool.GRAFANA, Tool.PAGERDUTY

_DISK = "HighDiskUsage"


def _disk_cleanup() -> list[DemoStep]:
    full = _a(AM, "web-02", _DISK, H, "/var on web-02 is 92% full", "disk-web-02-var")
    return [
        DemoStep("web-02: /var at 92% (Prometheus); the disk cleanup runbook runs (simulated)", (full,)),
        # Prometheus sends the resolve once the cleanup has freed the disk.
        DemoStep(
            "web-02: /var back to 41% after the cleanup", (_ok(full, "/var on web-02 is 41% full"),), 3.0
        ),
    ]


def _database_cascade() -> list[DemoStep]:
    db = _a(AM, "db-primary", "PostgreSQLDown", C, "PostgreSQL on db-primary is not answering", "pg-down")
    return [
        DemoStep("db-primary: PostgreSQL stops answering (Prometheus)", (db,)),
        DemoStep(
            "web-01, web-02: database connection errors (Datadog)",
            tuple(
                _a(DD, h, "Database connection errors", H, f"{h} cannot reach db-primary:5432", f"dbconn-{h}")
                for h in ("web-01", "web-02")
            ),
        ),
        DemoStep(
            "lb-01: 5xx rate climbs (Grafana)",
            (_a(GF, "lb-01", "High 5xx rate", H, "lb-01 answers 38% of requests with 5xx", "lb-5xx"),),
        ),
        DemoStep(
            "lb-01: backend pool unhealthy (PagerDuty); the PostgreSQL restart waits for an approval",
            (_a(PD, "lb-01", "backend_pool_unhealthy", C, "No healthy backend in pool web", "lb-pool"),),
        ),
    ]


def _alert_storm() -> list[DemoStep]:
    hosts = ("web-01", "web-02", "lb-01", "db-primary", "edge-fw-01", "edge-fw-02")

    def batch(round_: int) -> tuple[DemoAlert, ...]:
        return tuple(
            _a(
                AM,
                h,
                "HighPacketLoss",
                H,
                f"{h}: {8 + round_ * 3}% packet loss on eth0",
                f"loss-{h}-{round_}",
            )
            for h in hosts
        )

    return [
        DemoStep(f"packet loss on six hosts, round {n + 1} (Prometheus)", batch(n), wait=0.5)
        for n in range(4)
    ]


def _flapping_service() -> list[DemoStep]:
    check = _a(
        PD, "web-01", "http_check_failed", M, "checkout on web-01 fails its health check", "chk-web-01"
    )
    steps = []
    for n in range(5):
        steps.append(DemoStep(f"web-01: checkout health check fails ({n + 1}/5, PagerDuty)", (check,), 0.5))
        if n < 4:
            steps.append(
                DemoStep("web-01: checkout recovers", (_ok(check, "checkout on web-01 is healthy"),), 0.5)
            )
    return steps


def _noisy_singletons() -> list[DemoStep]:
    ntp = _a(ZX, "web-01", "NTP time offset above 100 ms", L, "Clock offset 142 ms", "zbx-ntp-web-01")
    return [
        DemoStep("web-01: NTP offset (Zabbix)", (ntp,), 0.5),
        DemoStep(
            "lb-01: certificate expires in 25 days (Datadog)",
            (
                _a(
                    DD,
                    "lb-01",
                    "TLS certificate expires soon",
                    L,
                    "shop.acme.example expires in 25 days",
                    "dd-cert",
                ),
            ),
            0.5,
        ),
        DemoStep(
            "db-primary: SMART pre-failure warning (Zabbix)",
            (
                _a(
                    ZX,
                    "db-primary",
                    "SMART pre-failure warning on sdb",
                    M,
                    "Reallocated sectors: 12",
                    "zbx-smart",
                ),
            ),
            0.5,
        ),
        DemoStep("web-01: NTP offset back to normal", (_ok(ntp, "Clock offset 3 ms"),), 0.5),
        DemoStep(
            "web-02: one slow request burst (Grafana)",
            (_a(GF, "web-02", "Slow requests p99", L, "p99 latency 1.8 s for 2 minutes", "gf-p99-web-02"),),
            0.5,
        ),
    ]


def _sla_breach() -> list[DemoStep]:
    response, resolution = SLA_BREACH_TARGETS
    return [
        DemoStep(
            f"SLA: low-severity incidents get {response} min to a response, {resolution} min to resolve",
            short_sla=True,
            wait=0.5,
        ),
        DemoStep(
            "db-primary: nightly backup failed (Zabbix); nobody responds within the minute",
            (_a(ZX, "db-primary", "Nightly backup failed", L, "pg_basebackup exited 1", "zbx-backup"),),
        ),
    ]


_SCENARIOS = {
    DemoScenario.DISK_CLEANUP: _disk_cleanup,
    DemoScenario.DATABASE_CASCADE: _database_cascade,
    DemoScenario.ALERT_STORM: _alert_storm,
    DemoScenario.FLAPPING_SERVICE: _flapping_service,
    DemoScenario.NOISY_SINGLETONS: _noisy_singletons,
    DemoScenario.SLA_BREACH: _sla_breach,
}
# MIXED: every scenario, one after the other, with a pause between them.
_MIXED_ORDER = (  # the first alert goes out at once
    DemoScenario.DISK_CLEANUP,
    DemoScenario.SLA_BREACH,
    DemoScenario.DATABASE_CASCADE,
    DemoScenario.NOISY_SINGLETONS,
    DemoScenario.FLAPPING_SERVICE,
    DemoScenario.ALERT_STORM,
)


def steps(scenario: DemoScenario) -> tuple[DemoStep, ...]:
    if scenario is DemoScenario.MIXED:
        out: list[DemoStep] = []
        for part in _MIXED_ORDER:
            first, *rest = _SCENARIOS[part]()
            out += [DemoStep(first.note, first.alerts, 3.0 if out else 0.0, first.short_sla), *rest]
        return tuple(out)
    first, *rest = _SCENARIOS[scenario]()
    return (DemoStep(first.note, first.alerts, 0.0, first.short_sla), *rest)


def total_steps(scenario: DemoScenario) -> int:
    return len(steps(scenario))


def run_seconds(scenario: DemoScenario, step_seconds: float = DEFAULT_STEP_SECONDS) -> float:
    """How long a run takes from its start to its last step."""
    return sum(s.wait for s in steps(scenario)) * step_seconds


def demo_key(run_key: str, alert: DemoAlert) -> str:
    """The alert's native id within one run (and one cycle of a looping run): repeats and resolves
    share it, another run's alerts do not."""
    return f"{alert.key}-{run_key}"


# ---- native payloads ---------------------------------------------------------------------------------

_AM_SEVERITY = {C: "critical", H: "error", M: "warning", L: "info"}
_DD_PRIORITY = {C: "P1", H: "P2", M: "P3", L: "P4"}
_ZX_SEVERITY = {C: (5, "Disaster"), H: (4, "High"), M: (2, "Warning"), L: (1, "Information")}
_PD_SEVERITY = {C: "critical", H: "error", M: "warning", L: "info"}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alertmanager_alert(alert: DemoAlert, run_key: str, at: datetime) -> dict[str, Any]:
    return {
        "status": "resolved" if alert.resolved else "firing",
        "labels": {
            "alertname": alert.signature,
            "instance": f"{alert.asset}:9100",
            "job": "node",
            "severity": _AM_SEVERITY[alert.severity],
        },
        "annotations": {"summary": alert.message},
        "startsAt": _iso(at),
        "endsAt": _iso(at) if alert.resolved else _ZERO_TIME,
        "generatorURL": "http://prometheus.acme.example:9090/graph",
        "fingerprint": demo_key(run_key, alert),
    }


def _alertmanager(alerts: list[DemoAlert], run_key: str, at: datetime) -> dict[str, Any]:
    name = alerts[0].signature
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "status": "firing" if any(not a.resolved for a in alerts) else "resolved",
        "receiver": "alertwhisperer",
        "groupLabels": {"alertname": name},
        "commonLabels": {"job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.acme.example:9093",
        "alerts": [_alertmanager_alert(a, run_key, at) for a in alerts],
    }


def _grafana(alerts: list[DemoAlert], run_key: str, at: datetime) -> dict[str, Any]:
    firing = [a for a in alerts if not a.resolved]
    body = _alertmanager(alerts, run_key, at)
    for a, out in zip(alerts, body["alerts"], strict=True):
        out["labels"] = {"alertname": a.signature, "host": a.asset, "severity": _AM_SEVERITY[a.severity]}
        out["generatorURL"] = "https://grafana.acme.example/alerting/demo/edit"
        out["silenceURL"] = "https://grafana.acme.example/alerting/silence/new"
        out["dashboardURL"] = out["panelURL"] = ""
        out["values"] = {"A": 1}
    state = "FIRING" if firing else "RESOLVED"
    return body | {
        "orgId": 1,
        "version": "1",
        "externalURL": "https://grafana.acme.example/",
        "title": f"[{state}:{len(alerts)}] {alerts[0].signature}",
        "state": "alerting" if firing else "ok",
        "message": alerts[0].message,
    }


def _datadog(alert: DemoAlert, run_key: str, at: datetime) -> dict[str, Any]:
    transition = "Recovered" if alert.resolved else "Triggered"
    millis = str(int(at.timestamp() * 1000))
    title = f"[{transition} on {{host:{alert.asset}}}] {alert.signature}"
    return {
        "id": f"{demo_key(run_key, alert)}-{millis}",
        "alert_id": demo_key(run_key, alert),
        "alert_title": title,
        "event_title": title,
        "event_msg": alert.message,
        "event_type": "query_alert_monitor",
        "alert_transition": transition,
        "alert_priority": _DD_PRIORITY[alert.severity],
        "alert_type": "success" if alert.resolved else "error",
        "alert_scope": f"host:{alert.asset}",
        "hostname": alert.asset,
        "date": millis,
        "last_updated": millis,
        "alert_cycle_key": demo_key(run_key, alert),
        "org_id": "424242",
        "tags": "env:demo,source:alertwhisperer-demo",
    }


def _zabbix(alert: DemoAlert, run_key: str, at: datetime) -> dict[str, Any]:
    nseverity, name = _ZX_SEVERITY[alert.severity]
    day, time = at.astimezone(UTC).strftime("%Y.%m.%d"), at.astimezone(UTC).strftime("%H:%M:%S")
    return {
        "EVENT.ID": demo_key(run_key, alert),
        "EVENT.NAME": alert.signature,
        "EVENT.NSEVERITY": str(nseverity),
        "EVENT.SEVERITY": name,
        "EVENT.VALUE": "0" if alert.resolved else "1",
        "EVENT.STATUS": "RESOLVED" if alert.resolved else "PROBLEM",
        "EVENT.DATE": day,
        "EVENT.TIME": time,
        "EVENT.RECOVERY.DATE": day if alert.resolved else "{EVENT.RECOVERY.DATE}",
        "EVENT.RECOVERY.TIME": time if alert.resolved else "{EVENT.RECOVERY.TIME}",
        "EVENT.UPDATE.STATUS": "0",
        "EVENT.TAGSJSON": '[{"tag":"env","value":"demo"}]',
        "HOST.NAME": alert.asset,
        "HOST.HOST": alert.asset,
        "TRIGGER.ID": alert.key,
        "TRIGGER.NAME": alert.signature,
        "TRIGGER.DESCRIPTION": alert.message,
        "ALERT.SUBJECT": f"{'Resolved' if alert.resolved else 'Problem'}: {alert.signature}",
        "ALERT.MESSAGE": alert.message,
    }


def _pagerduty(alert: DemoAlert, run_key: str, at: datetime) -> dict[str, Any]:
    return {
        "routing_key": "alertwhisperer-demo-routing-key-0",
        "dedup_key": demo_key(run_key, alert),
        "event_action": "resolve" if alert.resolved else "trigger",
        "payload": {
            "summary": alert.message,
            "timestamp": _iso(at),
            "severity": _PD_SEVERITY[alert.severity],
            "source": alert.asset,
            "class": alert.signature,
            "custom_details": {"demo": True},
        },
        "client": "AlertWhisperer demo",
    }


_BATCHED = {AM: _alertmanager, GF: _grafana}
_SINGLE = {DD: _datadog, ZX: _zabbix, PD: _pagerduty}


@dataclass(frozen=True, slots=True)
class DemoRequest:
    """One webhook request of a step: the tool's ingest URL, its body, and its delivery id (stable,
    so a step resumed after a crash is a replay the webhook answers once)."""

    tool: Tool
    body: Mapping[str, Any]
    delivery_id: str
    alerts: int = field(default=1)


def requests(step: DemoStep, run_key: str, step_index: int, at: datetime) -> list[DemoRequest]:
    """The webhook requests of `step` (run `run_key`, sent at `at`), one per tool or per alert."""
    out: list[DemoRequest] = []
    by_tool: dict[Tool, list[DemoAlert]] = {}
    for alert in step.alerts:
        by_tool.setdefault(alert.tool, []).append(alert)
    for tool, alerts in by_tool.items():
        if tool in _BATCHED:
            delivery = f"demo-{run_key}-{step_index}-{tool.value}"
            out.append(DemoRequest(tool, _BATCHED[tool](alerts, run_key, at), delivery, len(alerts)))
            continue
        for n, alert in enumerate(alerts):
            delivery = f"demo-{run_key}-{step_index}-{tool.value}-{n}"
            out.append(DemoRequest(tool, _SINGLE[tool](alert, run_key, at), delivery))
    return out
