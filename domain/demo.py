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
#: The settings `seed-demo` gives the company `serve --demo` loops on (company columns, minutes),
#: so that a loop that never ends does not pile up what a person would otherwise clear:
#: - a flap window of 5 min: a cycle's problem that comes back `VARIANTS` cycles later (about
#:   14 min) is a new incident, not a flap of the one resolved then (the product default is 30 min);
#: - approvals expire after 10 min (default 60): the database restart's request of an unattended
#:   loop lapses instead of waiting an hour;
#: - quiet flapping incidents auto-resolve after 10 min (default 60).
LOOP_COMPANY_SETTINGS = {"flap_window_minutes": 5, "approval_expiry_minutes": 10, "auto_resolve_minutes": 10}


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
_TOOL = {AM: "Prometheus", DD: "Datadog", ZX: "Zabbix", GF: "Grafana", PD: "PagerDuty"}


#: How many variants of each scenario a looping run plays in turn (its `cycle` picks one). Cycle 1
#: is the scenario as the README tells it; later cycles hit other mounts, routes, hosts and checks,
#: so each cycle's problems are new incidents rather than repeats of the last cycle's (which
#: correlation would fold into the incidents still open, or reopen as flaps). A variant comes back
#: after `VARIANTS` cycles, about 13 minutes at the default step length: past the correlation
#: window (10 min) and the demo company's flap window (`LOOP_COMPANY_SETTINGS`).
VARIANTS = 6
_ROUTES = ("/checkout", "/cart", "/search", "/login", "/api/orders", "/account")
_MOUNTS = ("/var", "/var/log", "/srv", "/opt", "/home", "/var/lib/docker")


def _variant(cycle: int) -> int:
    return (max(cycle, 1) - 1) % VARIANTS


def _disk_cleanup(v: int) -> list[DemoStep]:
    # web-02 is the layout's one non-critical Linux server: the cleanup runs there without approval.
    mount = _MOUNTS[v]
    tool = (AM, GF, DD, ZX, GF, DD)[v]
    if v == 0:
        signature = _DISK
    elif tool is ZX:
        signature = f"{mount}: Disk space is low (used > 90%)"  # Zabbix's template trigger name
    else:
        signature = f"Disk usage high on {mount}"
    full = _a(tool, "web-02", signature, H, f"{mount} on web-02 is 92% full", f"disk-web-02-{v}")
    return [
        DemoStep(
            f"web-02: {mount} at 92% ({_TOOL[tool]}); the disk cleanup runbook runs (simulated)", (full,)
        ),
        # The tool sends its resolve once the cleanup has freed the disk (the incident is resolved by
        # then: the resolve finds nothing open and only goes on the alert's record).
        DemoStep(
            f"web-02: {mount} back to 41% after the cleanup",
            (_ok(full, f"{mount} on web-02 is 41% full"),),
            3.0,
        ),
    ]


def _database_cascade(v: int) -> list[DemoStep]:
    # The root is the same every cycle: while its restart waits for an approval its incident stays
    # open and the next cycle's alert joins it (one decision, one approval per incident); once
    # approved (or after the flap window) the next cycle opens or reopens it and asks again.
    db = _a(AM, "db-primary", "PostgreSQLDown", C, "PostgreSQL on db-primary is not answering", "pg-down")
    route = "" if v == 0 else f" on {_ROUTES[v]}"
    conn = tuple(
        _a(
            DD,
            h,
            f"Database connection errors{route}",
            H,
            f"{h} cannot reach db-primary:5432",
            f"dbconn-{h}-{v}",
        )
        for h in ("web-01", "web-02")
    )
    lb_5xx = _a(
        GF, "lb-01", f"High 5xx rate{route}", H, "lb-01 answers 38% of requests with 5xx", f"lb-5xx-{v}"
    )
    pool_signature = "backend_pool_unhealthy" if v == 0 else f"Backend pool unhealthy for {_ROUTES[v]}"
    pool = _a(PD, "lb-01", pool_signature, C, "No healthy backend in pool web", f"lb-pool-{v}")
    return [
        DemoStep("db-primary: PostgreSQL stops answering (Prometheus)", (db,)),
        DemoStep("web-01, web-02: database connection errors (Datadog)", conn),
        DemoStep("lb-01: 5xx rate climbs (Grafana)", (lb_5xx,)),
        DemoStep(
            "lb-01: backend pool unhealthy (PagerDuty); the PostgreSQL restart waits for an approval",
            (pool,),
        ),
        # The apps fail over to the standby; db-primary itself stays down until someone approves its
        # restart (or the request expires and a technician takes it).
        DemoStep(
            "web-01, web-02 fail over to the standby database; lb-01 recovers (Datadog, Grafana, PagerDuty)",
            (
                *(_ok(a, f"{a.asset} connected to db-standby:5432") for a in conn),
                _ok(lb_5xx, "lb-01 answers 0.1% of requests with 5xx"),
                _ok(pool, "Backends healthy in pool web"),
            ),
            2.0,
        ),
    ]


# (Alertmanager alert name, the steps' words for it, what the message says, its figure's unit) of
# the network problem a storm is.
_STORMS = (
    ("HighPacketLoss", "packet loss", "packet loss on eth0", "%"),
    ("HighNetworkLatency", "high latency", "round trip to the gateway", "0 ms"),
    ("NetworkReceiveErrors", "receive errors", "receive errors per second on eth0", ""),
    ("HighTcpRetransmitRate", "TCP retransmits", "TCP segments retransmitted", "%"),
    ("DnsLookupFailures", "DNS failures", "DNS lookups failing", "%"),
    ("NtpServerUnreachable", "NTP server unreachable", "NTP polls unanswered", "%"),
)


def _alert_storm(v: int) -> list[DemoStep]:
    hosts = ("web-01", "web-02", "lb-01", "db-primary", "edge-fw-01", "edge-fw-02")
    name, what_short, what, unit = _STORMS[v]

    def alert(h: str, round_: int) -> DemoAlert:
        return _a(AM, h, name, H, f"{h}: {8 + round_ * 3}{unit} {what}", f"storm{v}-{h}-{round_}")

    return [
        *(
            DemoStep(
                f"{what_short} on six hosts, round {n + 1} (Prometheus)",
                tuple(alert(h, n) for h in hosts),
                wait=0.5,
            )
            for n in range(4)
        ),
        # Each round's alerts end with their own resolve (one notification per round's group).
        *(
            DemoStep(
                f"{what_short} over: the upstream link is back ({n + 1}/4, Prometheus resolves)",
                tuple(_ok(alert(h, n), f"{h}: back to normal") for h in hosts),
                wait=1.0 if n == 0 else 0.25,
            )
            for n in range(4)
        ),
    ]


def _flapping_service(v: int) -> list[DemoStep]:
    host = ("web-01", "web-02")[v % 2]
    route = _ROUTES[v]
    service = route.strip("/").replace("/", " ")
    signature = "http_check_failed" if v == 0 else f"http_check_failed {route}"
    check = _a(PD, host, signature, M, f"{service} on {host} fails its health check", f"chk-{host}-{v}")
    healthy = _ok(check, f"{service} on {host} is healthy")
    steps = []
    for n in range(5):
        steps.append(DemoStep(f"{host}: {service} health check fails ({n + 1}/5, PagerDuty)", (check,), 0.5))
        steps.append(DemoStep(f"{host}: {service} recovers", (healthy,), 0.5))
    # The last recovery holds; a flapping incident ignores resolves, and auto-resolve closes it
    # once it has been quiet for the company's auto-resolve time.
    steps[-1] = DemoStep(f"{host}: {service} recovers and stays healthy", (healthy,), 0.5)
    return steps


_NTP_HOSTS = ("web-01", "web-02", "db-primary", "lb-01", "edge-fw-01", "edge-fw-02")
_CERTS = ("shop", "api", "admin", "cdn", "auth", "status")
_SMART = ("sdb", "sdc", "sdd", "sde", "sdf", "sdg")
_P99 = ("web-02", "web-01", "web-02", "web-01", "web-02", "web-01")


def _noisy_singletons(v: int) -> list[DemoStep]:
    ntp_host = _NTP_HOSTS[v]
    ntp_key = "zbx-ntp-web-01" if v == 0 else f"zbx-ntp-{ntp_host}-{v}"
    ntp = _a(ZX, ntp_host, "NTP time offset above 100 ms", L, "Clock offset 142 ms", ntp_key)
    domain_ = f"{_CERTS[v]}.acme.example"
    cert_sig = "TLS certificate expires soon" if v == 0 else f"TLS certificate of {domain_} expires soon"
    cert = _a(DD, "lb-01", cert_sig, L, f"{domain_} expires in 25 days", f"dd-cert-{v}")
    smart = _a(
        ZX,
        "db-primary",
        f"SMART pre-failure warning on {_SMART[v]}",
        M,
        "Reallocated sectors: 12",
        f"zbx-smart-{v}",
    )
    route = "" if v == 0 else f" on {_ROUTES[v]}"
    p99_host = _P99[v]
    p99 = _a(
        GF,
        p99_host,
        f"Slow requests p99{route}",
        L,
        "p99 latency 1.8 s for 2 minutes",
        f"gf-p99-{p99_host}-{v}",
    )
    return [
        DemoStep(f"{ntp_host}: NTP offset (Zabbix)", (ntp,), 0.5),
        DemoStep(f"lb-01: certificate of {domain_} expires in 25 days (Datadog)", (cert,), 0.5),
        DemoStep(f"db-primary: SMART pre-failure warning on {_SMART[v]} (Zabbix)", (smart,), 0.5),
        DemoStep(f"{ntp_host}: NTP offset back to normal", (_ok(ntp, "Clock offset 3 ms"),), 0.5),
        DemoStep(f"{p99_host}: one slow request burst (Grafana)", (p99,), 0.5),
        DemoStep(
            "the rest recovers: certificate renewed, SMART counters stable, latency normal",
            (
                _ok(cert, f"{domain_} expires in 89 days"),
                _ok(smart, "Reallocated sectors: 12 (no change in 24 h)"),
                _ok(p99, "p99 latency 240 ms"),
            ),
            1.0,
        ),
    ]


# (asset, Zabbix trigger, message) of the low-severity problem nobody answers in time: none has a
# runbook (but the first, whose verification needs an approval), so it waits for a technician and
# breaches its response SLA. In a MIXED run it is fixed at the end (`_late_fix`), after the breach.
_UNANSWERED = (
    ("db-primary", "Nightly backup failed", "pg_basebackup exited 1"),
    ("web-01", "Log shipping stalled", "filebeat has sent nothing for 15 minutes"),
    ("web-02", "Cron job report-export missed its schedule", "report-export last ran 26 h ago"),
    ("db-primary", "WAL archiving lagging", "47 WAL segments waiting for archive_command"),
    ("lb-01", "Configuration sync to standby stalled", "lb-02 config is 3 revisions behind"),
    ("web-02", "Antivirus signatures outdated", "ClamAV database is 9 days old"),
)


def _unanswered(v: int) -> DemoAlert:
    asset, trigger, message = _UNANSWERED[v]
    key = "zbx-backup" if v == 0 else f"zbx-unanswered-{v}"
    return _a(ZX, asset, trigger, L, message, key)


#: Step-lengths from the MIXED run's last step to the late fix of its unanswered problem: with the
#: 1-minute response target, the fix comes some 100 s after the alert, past the deadline and the
#: SLA monitor's 15 s check, so the breach is recorded first.
LATE_FIX_WAIT = 5.0


def _late_fix(v: int) -> DemoStep:
    """A technician fixes the unanswered problem at last: a loop that never ends does not pile up a
    breached incident per cycle (some 27 an hour) that a person would have closed."""
    alert = _unanswered(v)
    return DemoStep(
        f"{alert.asset}: {alert.signature.lower()} fixed at last, after its response deadline (Zabbix)",
        (_ok(alert, "resolved by the on-call technician"),),
        LATE_FIX_WAIT,
    )


def _sla_breach(v: int) -> list[DemoStep]:
    response, resolution = SLA_BREACH_TARGETS
    alert = _unanswered(v)
    asset, trigger = alert.asset, alert.signature
    return [
        DemoStep(
            f"SLA: low-severity incidents get {response} min to a response, {resolution} min to resolve",
            short_sla=True,
            wait=0.5,
        ),
        DemoStep(
            f"{asset}: {trigger.lower()} (Zabbix); nobody responds within the minute",
            (alert,),
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


def steps(scenario: DemoScenario, cycle: int = 1) -> tuple[DemoStep, ...]:
    """The scenario's steps in the variant of `cycle` (a looping run's count, 1 for the first run):
    the same number of steps and the same timing whatever the cycle."""
    v = _variant(cycle)
    if scenario is DemoScenario.MIXED:
        out: list[DemoStep] = []
        for part in _MIXED_ORDER:
            first, *rest = _SCENARIOS[part](v)
            out += [DemoStep(first.note, first.alerts, 3.0 if out else 0.0, first.short_sla), *rest]
        return (*out, _late_fix(v))
    first, *rest = _SCENARIOS[scenario](v)
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
