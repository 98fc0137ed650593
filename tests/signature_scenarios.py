"""A labelled set of cross-tool alert streams for signature folding: the same problem on one host as
each tool names it (Zabbix with the host in its event names, CloudWatch with it in the alarm name),
and look-alikes that are different problems on the same hosts, each alert labelled with the problem a
person would say it is. `measure` correlates every stream with the real rules (`pending_alert` and
`correlate`) and scores the merging pairwise: two alerts of one label on one incident are a true
merge, two of different labels on one incident a false one. `bench/signature_folding.py` prints the
figures, against exact matching (the key before folding); a test holds them.

Decisions the labels encode: a disk problem naming a mount path (`/var`) is its own problem, apart
from one on another mount and from a path-less "disk full" (two filesystems, two fixes; a path-less
name cannot say which one it means). A service named in the signature ("Service nginx is down") is
its own problem, apart from a bare "ServiceDown". The two `KNOWN_MISSES` are real names the built-in
set does not know (a company alias covers them): they count against recall, as they should.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations

from domain.alerts import Category, Severity
from domain.correlation import CorrelationSettings, PendingAlert, correlate, correlation_key, pending_alert

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

# (tool, host as the tool spells it, signature, problem label); one stream per host
STREAMS: dict[str, list[tuple[str, str, str, str]]] = {
    "web-01": [
        ("datadog", "web-01", "Disk usage high", "web-01 disk full"),
        ("alertmanager", "web-01", "DiskFull", "web-01 disk full"),
        ("generic", "web-01", "disk_full", "web-01 disk full"),
        ("zabbix", "web-01", "Disk space is low on web-01", "web-01 disk full"),
        ("grafana", "web-01", "disk-full", "web-01 disk full"),
        ("alertmanager", "web-01", "NodeFilesystemAlmostOutOfSpace", "web-01 disk full"),
        ("datadog", "web-01", "Disk IO high", "web-01 disk io"),
        ("alertmanager", "web-01", "Inode usage high", "web-01 inodes"),
        ("zabbix", "web-01", "/var: Disk space is critically low (used > 90%)", "web-01 /var full"),
        ("nagios", "web-01", "Disk Usage /var", "web-01 /var full"),
        ("zabbix", "web-01", "/: Disk space is low", "web-01 / full"),
    ],
    "web-02": [
        ("alertmanager", "web-02", "DiskFull", "web-02 disk full"),
        ("datadog", "web-02", "Disk space is low", "web-02 disk full"),
    ],
    "db-01": [
        ("cloudwatch", "db-01", "db-01-cpu-high", "db-01 cpu"),
        ("zabbix", "db-01", "High CPU utilization (over 90% for 5m)", "db-01 cpu"),
        ("alertmanager", "db-01.acme.local", "HostHighCpuLoad", "db-01 cpu"),
        ("datadog", "db-01", "CPU usage high", "db-01 cpu"),
        ("newrelic", "db-01", "High CPU", "db-01 cpu"),
        ("zabbix", "db-01", "High CPU on db-01", "db-01 cpu"),
        ("datadog", "db-01", "CPU steal high", "db-01 cpu steal"),
        ("alertmanager", "db-01", "Swap usage high", "db-01 swap"),
        ("generic", "db-01", "replication_lag", "db-01 replication"),
        ("alertmanager", "db-01", "ReplicationLag", "db-01 replication"),
    ],
    "app-03": [
        ("zabbix", "app-03", "High memory usage on app-03", "app-03 memory"),
        ("grafana", "app-03", "High memory usage", "app-03 memory"),
        ("alertmanager", "app-03", "HostOutOfMemory", "app-03 memory"),
        ("datadog", "app-03", "Memory usage high", "app-03 memory"),
        ("zabbix", "app-03", "Lack of available memory on app-03", "app-03 memory"),
        ("datadog", "app-03", "Memory leak suspected", "app-03 leak"),
    ],
    "router-7": [
        ("nagios", "router-7", "host_down", "router-7 down"),
        ("icinga", "router-7", "host_down", "router-7 down"),
        ("zabbix", "router-7", "Unavailable by ICMP ping", "router-7 down"),
        ("alertmanager", "router-7", "InstanceDown", "router-7 down"),
        ("datadog", "router-7", "router-7: Host not reporting", "router-7 down"),
        ("zabbix", "router-7", "Zabbix agent is not available", "router-7 down"),  # known miss
    ],
    "mail-01": [
        ("alertmanager", "mail-01", "ServiceDown", "mail-01 service"),
        ("pagerduty", "mail-01", "Service down", "mail-01 service"),
        ("icinga", "mail-01", "Process not running", "mail-01 service"),
        ("nagios", "mail-01", "Service nginx is down", "mail-01 nginx"),
        ("nagios", "mail-01", "Service postfix is down", "mail-01 postfix"),
    ],
    "shop-01": [
        ("alertmanager", "shop-01", "SSLCertExpiringSoon", "shop-01 cert"),
        ("zabbix", "shop-01", "SSL certificate expires soon (less than 7 days)", "shop-01 cert"),
        ("datadog", "shop-01", "Certificate expiry", "shop-01 cert"),
        ("alertmanager", "shop-01", "HighLatency", "shop-01 latency"),
        ("newrelic", "shop-01", "Response time high", "shop-01 latency"),
        ("datadog", "shop-01", "Slow response", "shop-01 latency"),
    ],
    "checkout-api": [
        ("newrelic", "checkout-api", "Error rate above 5%", "checkout errors"),
        ("alertmanager", "checkout-api", "HighErrorRate", "checkout errors"),
        ("datadog", "checkout-api", "checkout-api: Error rate high", "checkout errors"),
        ("splunk", "checkout-api", "HTTP 5xx high", "checkout errors"),
        ("alertmanager", "checkout-api", "KubePodCrashLooping", "checkout crashloop"),
        ("newrelic", "checkout-api", "Error rate above 5% for at least 5 minutes", "checkout errors"),
        ("datadog", "checkout-api", "Too many 5xx responses", "checkout errors"),  # known miss
    ],
}
KNOWN_MISSES = {"Zabbix agent is not available", "Too many 5xx responses"}


@dataclass(frozen=True)
class Quality:
    alerts: int
    incidents: int
    expected_incidents: int
    true_merges: int
    false_merges: int
    missed_merges: int
    missed: list[tuple[str, str, str]]  # (host, signature, signature) pairs that should be one incident
    wrong: list[tuple[str, str, str]]  # pairs merged that are different problems

    @property
    def precision(self) -> float:
        merged = self.true_merges + self.false_merges
        return self.true_merges / merged if merged else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_merges + self.missed_merges
        return self.true_merges / wanted if wanted else 1.0


def _stream(host: str, items: list[tuple[str, str, str, str]]) -> list[PendingAlert]:
    # The inventory knows the host whatever the tool calls it (its name or its external id), so every
    # alert of a stream is on one asset.
    asset_id = uuid.uuid5(uuid.NAMESPACE_DNS, host)
    return [
        pending_alert(
            alert_id=uuid.UUID(int=i + 1),
            asset_name=name,
            signature=signature,
            severity=Severity.HIGH,
            category=Category.SERVER,
            tool=tool,
            event_time=T0 + timedelta(seconds=30 * i),
            resolved=False,
            fingerprint=f"{tool}:{name}:{signature}",
            asset_id=asset_id,
            critical_asset=False,
        )
        for i, (tool, name, signature, _) in enumerate(items)
    ]


def exact_key(alert: PendingAlert) -> PendingAlert:
    """The alert under the key before folding: asset and signature as sent (lowercased)."""
    return dataclasses.replace(alert, key=correlation_key(str(alert.asset_id), alert.signature))


def measure(keyed: Callable[[PendingAlert], PendingAlert] = lambda a: a) -> Quality:
    alerts = incidents = expected = tp = fp = fn = 0
    missed, wrong = [], []
    for host, items in STREAMS.items():
        stream = [keyed(a) for a in _stream(host, items)]
        ids = (uuid.UUID(int=n) for n in range(1, 10_000))
        result = correlate(stream, {}, CorrelationSettings(), T0, ids.__next__)
        incident_of = {o.alert_id: o.incident_id for o in result.outcomes}
        labelled = [(incident_of[a.id], item) for a, item in zip(stream, items, strict=True)]
        alerts += len(items)
        incidents += len({i for i, _ in labelled})
        expected += len({item[3] for item in items})
        for (inc_a, a), (inc_b, b) in combinations(labelled, 2):
            same_problem, same_incident = a[3] == b[3], inc_a == inc_b
            if same_problem and same_incident:
                tp += 1
            elif same_incident:
                fp += 1
                wrong.append((host, a[2], b[2]))
            elif same_problem:
                fn += 1
                missed.append((host, a[2], b[2]))
    return Quality(alerts, incidents, expected, tp, fp, fn, missed, wrong)
