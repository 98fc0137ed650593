"""The GraphQL enums that mirror a domain enum: the domain keeps the values (what is stored), this
module gives each value the description integrators read by introspection.

Each GraphQL member is named after the domain member (`NETWORK`) and holds its value (`"Network"`),
so `Category(row.category)` reads a stored value and `member.value` is what gets stored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import strawberry

from domain import alerts as domain_alerts
from domain import demo as domain_demo
from domain import incidents as domain_incidents
from domain.assets import AssetType as DomainAssetType
from domain.maintenance import RecurrenceFrequency as DomainFrequency
from graph.core import area_error_codes


def mirror(
    name: str,
    source: type[enum.Enum],
    description: str,
    values: Mapping[str, str],
    deprecated: Mapping[str, str] | None = None,
) -> Any:
    """A GraphQL enum with the members of `source`, each described by `values[member name]` and
    deprecated with `deprecated[member name]` when given. A member missing from `values` is left
    undescribed (tests/api/test_schema_contract.py fails on it) rather than breaking the import."""
    deprecated = deprecated or {}
    members = [
        (
            m.name,
            strawberry.enum_value(
                m.value, description=values.get(m.name), deprecation_reason=deprecated.get(m.name)
            ),
        )
        for m in source
    ]
    return strawberry.enum(enum.Enum(name, members), description=description)  # type: ignore[call-overload]


Severity = mirror(
    "Severity",
    domain_alerts.Severity,
    "How bad an alert or incident is; every tool's scale maps onto these four.",
    {
        "CRITICAL": "Service down or data at risk: act now (priority base 90).",
        "HIGH": "Serious degradation that needs attention soon (priority base 60).",
        "MEDIUM": "A problem that can wait for working hours (priority base 30).",
        "LOW": "Informational or minor (priority base 10).",
    },
)

MonitoringTool = mirror(
    "MonitoringTool",
    domain_alerts.Tool,
    "A monitoring tool with its own ingest URL (`/api/webhooks/{tool}`, the value in lower case).",
    {
        "GENERIC": "Our own JSON format, for scripts and tools without a native integration.",
        "ALERTMANAGER": "Prometheus Alertmanager webhook receiver (payload version 4).",
        "GRAFANA": "Grafana alerting webhook contact point.",
        "DATADOG": "Datadog webhook integration (our template or Datadog's default payload).",
        "CLOUDWATCH": "Amazon CloudWatch alarms delivered by an SNS HTTPS subscription.",
        "ZABBIX": "Zabbix webhook media type.",
        "PAGERDUTY": "PagerDuty Events API v2, from tools that can send to PagerDuty.",
        "NAGIOS": "Nagios or Naemon notification command posting the macros as JSON.",
        "ICINGA": "Icinga 2 notification command posting the runtime macros as JSON.",
        "NEWRELIC": "New Relic workflow webhook destination.",
        "SPLUNK": "Splunk webhook alert action; never sends a resolve, so it is auto-resolved.",
    },
)

Category = mirror(
    "Category",
    domain_alerts.Category,
    "A technician skill: the one an alert needs (guessed from its signature, asset and tags), or a technician has.",
    {
        "NETWORK": "Connectivity: interfaces, packet loss, latency, DNS, VPN, routers and switches.",
        "DATABASE": "Database servers: PostgreSQL, MySQL, SQL Server, Redis, MongoDB.",
        "SERVER": "The host itself: CPU, memory, load, swap, a host or instance down.",
        "STORAGE": "Disks, volumes, inodes, file systems and object storage.",
        "SECURITY": "Authentication, certificates, firewalls, intrusion and malware.",
        "APPLICATION": "Applications and services: HTTP errors, error rates, slow APIs, deployments.",
        "CLOUD": "Cloud provider services (AWS, Azure, GCP, Lambda, EC2).",
        "OTHER": "Nothing more specific matched.",
    },
)

AssetType = mirror(
    "AssetType",
    DomainAssetType,
    "What kind of thing an asset is.",
    {
        "SERVER": "A physical or virtual host.",
        "DATABASE": "A database server or managed database.",
        "NETWORK": "A network device: router, switch, firewall, load balancer.",
        "STORAGE": "A storage system: NAS, SAN, a volume or bucket.",
        "APPLICATION": "An application or service, wherever it runs.",
        "CONTAINER": "A container or pod.",
        "CLOUD": "A cloud resource that is none of the above.",
        "OTHER": "Anything else.",
    },
)

IncidentStatus = mirror(
    "IncidentStatus",
    domain_incidents.IncidentStatus,
    "Where an incident stands; RESOLVED is the only closed status.",
    {
        "NEW": "Opened (or reopened) and not yet looked at.",
        "ACKNOWLEDGED": "A technician has seen it.",
        "IN_PROGRESS": "A technician is working on it.",
        "RESOLVED": "Closed: by a resolve message, auto-resolve, a runbook or a technician.",
        "ESCALATED": "Handed to a higher support level.",
        "WAITING_ON_CLIENT": "Paused until the client company answers.",
    },
)

IncidentEventKind = mirror(
    "IncidentEventKind",
    domain_incidents.IncidentEventKind,
    "What an entry of an incident's timeline records.",
    {
        "CREATED": "The incident was opened by its first alert.",
        "ALERT_ADDED": "A firing alert joined the incident.",
        "DUPLICATE": "A repeat of an alert already firing (older entries only).",
        "SEVERITY_RAISED": "An alert of a higher severity raised the incident's severity.",
        "ALERT_RESOLVED": "A resolve message closed one of its firing alerts.",
        "RESOLVED": "Its last firing alert resolved, which closed the incident.",
        "AUTO_RESOLVED": "Closed after the quiet period, for tools that never send a resolve or while flapping.",
        "REOPENED": "A resolved incident was opened again, by a new alert or a person.",
        "FLAPPING_STARTED": "It fired and resolved too often within the flap window: resolves no longer close it.",
        "FLAPPING_STOPPED": "It is no longer flapping.",
        "ACKNOWLEDGED": "A technician acknowledged it.",
        "MANUALLY_RESOLVED": "A person (or a runbook that fixed it) resolved it.",
        "ESCALATED": "It was escalated.",
        "WORK_STARTED": "A technician started working on it.",
        "WAITING_ON_CLIENT": "It was paused until the client answers.",
        "ASSIGNED": "It was assigned to a technician (automatically or by an admin); the reason is in `data`.",
        "UNASSIGNED": "It needed a person and no technician could take it; the company's admins were told.",
        "COMMENT": "A person added a note.",
        "DECIDED": "The remediation engine decided what to do: run a runbook, ask for approval or leave it to a technician.",
        "APPROVAL_REQUESTED": "A runbook run is waiting for a company admin's approval.",
        "APPROVED": "A company admin approved the runbook run.",
        "REJECTED": "A company admin rejected the runbook run.",
        "APPROVAL_EXPIRED": "Nobody answered the approval request in time; a technician handles it.",
        "APPROVAL_WITHDRAWN": "The incident resolved before anyone decided: its approval request was withdrawn.",
        "REMEDIATION_STARTED": "A runbook started running on the asset.",
        "REMEDIATION_SUCCEEDED": "The runbook finished successfully.",
        "REMEDIATION_FAILED": "The runbook failed or timed out.",
        "REMEDIATION_NOT_HELD": "The runbook succeeded but the alert fired again soon after: the fix did not hold.",
        "SLA_WARNING": "Its SLA deadline is near.",
        "SLA_BREACHED": "Its SLA deadline passed.",
    },
    deprecated={"DUPLICATE": "No longer written: a repeat is counted in `Incident.duplicateCount`."},
)

IncidentChangeKind = mirror(
    "IncidentChangeKind",
    domain_incidents.IncidentChangeKind,
    "The kind of change announced to `incidentChanged` subscribers.",
    {
        "CREATED": "A new incident was opened.",
        "UPDATED": "An open incident changed (alerts, status, severity, assignment...).",
        "RESOLVED": "The incident was resolved.",
    },
)

RecurrenceFrequency = mirror(
    "RecurrenceFrequency",
    DomainFrequency,
    "How often a recurring maintenance window repeats.",
    {
        "DAILY": "Every day at the window's wall-clock times.",
        "WEEKLY": "On the given days of the week at the window's wall-clock times.",
    },
)


# Areas' error codes: the shared codes they answer (described once, in graph.core.ErrorCode) and their own.
RemediationErrorCode = area_error_codes(
    "RemediationErrorCode",
    "Why a remediation mutation was refused.",
    ("INVALID_INPUT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED", "CONFLICT"),
    {
        "ALREADY_DECIDED": "The request was approved, rejected or withdrawn already.",
        "APPROVAL_EXPIRED": "The request expired.",
        "INCIDENT_RESOLVED": "The incident resolved already: there is nothing left to fix.",
        "APPROVAL_PENDING": "The incident already has a request waiting for approval.",
        "NO_INSTANCE_ID": "An asset has no cloud instance id to run on.",
        "WRONG_PLATFORM": "An asset's platform is not the runbook's.",
        "AWS_NOT_CONFIGURED": "The company has no AWS settings to run through.",
    },
)

SlaErrorCode = area_error_codes(
    "SlaErrorCode",
    "Machine-readable reason `slaPolicyUpdate` was refused.",
    ("INVALID_INPUT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED"),
    {
        "UNKNOWN_TIME_ZONE": "The business hours' time zone is not an IANA time zone.",
        "INVALID_BUSINESS_HOURS": "Business hours end before they start, or name no day.",
        "TARGET_OUT_OF_RANGE": "A response or resolution target is under 1 minute or too long.",
        "UNKNOWN_COUNTRY": "The holiday calendar's country (or region) is unknown.",
    },
)

DemoScenario = mirror(
    "DemoScenario",
    domain_demo.DemoScenario,
    "A demo mode scenario: alerts a demo company's monitoring tools send over a minute or two.",
    {
        "DISK_CLEANUP": "A disk fills up; the low-risk disk cleanup runbook runs (simulated) and resolves it.",
        "DATABASE_CASCADE": "The database stops; app servers and the load balancer follow. The database "
        "restart (medium risk) waits for an admin's approval.",
        "ALERT_STORM": "Packet loss on six hosts, four rounds: one incident per host, a storm.",
        "FLAPPING_SERVICE": "A health check fails and recovers five times: the incident is flapping.",
        "NOISY_SINGLETONS": "One-off low-severity alerts from several tools, some recovering by themselves.",
        "SLA_BREACH": "Low-severity incidents get a 1-minute response target; a backup failure nobody "
        "answers breaches it.",
        "MIXED": "All of the above, one after the other (about two minutes).",
    },
)

DemoStatus = mirror(
    "DemoStatus",
    domain_demo.DemoStatus,
    "Where a demo run stands.",
    {
        "RUNNING": "Steps are being sent.",
        "STOPPED": "Stopped by `demoStop` (or because it could not go on: `message` says why).",
        "FINISHED": "Every step was sent.",
    },
)

DemoErrorCode = area_error_codes(
    "DemoErrorCode",
    "Why a demo mutation was refused.",
    ("INVALID_INPUT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED"),
    {
        "ALREADY_RUNNING": "The company has a demo run under way: stop it first.",
        "NOT_RUNNING": "The company has no demo run under way.",
        "NOT_DEMO_COMPANY": "Only demo companies (seeded by `serve --demo` / `seed-demo`) take demo runs: "
        "their alerts are made up and their remediations simulated.",
    },
)

SignatureAliasErrorCode = area_error_codes(
    "SignatureAliasErrorCode",
    "Why a signature alias mutation was refused.",
    ("INVALID_INPUT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED"),
    {
        "EMPTY_SIGNATURE": "No signature was given, or a signature (or the canonical name) is blank.",
        "TOO_MANY_SIGNATURES": "More signatures than one alias group holds (50).",
        "SIGNATURE_TOO_LONG": "A signature or the canonical name is longer than 200 characters.",
        "ALIAS_CONFLICT": "A signature already belongs to another of the company's alias groups.",
    },
)
