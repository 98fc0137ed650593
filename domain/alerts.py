"""The canonical alert every monitoring tool's payload is normalised into, and its value types."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Severity(enum.StrEnum):
    """Our four severity levels; every tool's scale maps onto these."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Category(enum.StrEnum):
    """The technician skill an alert needs, derived from its signature and asset."""

    NETWORK = "Network"
    DATABASE = "Database"
    SERVER = "Server"
    STORAGE = "Storage"
    SECURITY = "Security"
    APPLICATION = "Application"
    CLOUD = "Cloud"
    OTHER = "Other"


class Tool(enum.StrEnum):
    """Monitoring tools with a native ingest URL (`/api/webhooks/{tool}`); GENERIC is our own JSON."""

    GENERIC = "generic"
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    DATADOG = "datadog"
    CLOUDWATCH = "cloudwatch"
    ZABBIX = "zabbix"
    PAGERDUTY = "pagerduty"
    NAGIOS = "nagios"
    ICINGA = "icinga"
    NEWRELIC = "newrelic"
    SPLUNK = "splunk"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing field of a rejected payload; `field` is a dotted path such as `alerts.3.severity`."""

    field: str
    message: str


class PayloadError(Exception):
    """A payload that cannot be normalised; the webhook answers 422 with `errors`."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class NormalizedAlert:
    """One alert in canonical form, ready to be stored.

    `fingerprint` identifies "the same alert" across repeats and its resolve message (tool dedup key
    when the tool has one, else a hash of tool + asset + signature). `raw` is the tool's own payload for
    this alert, kept so a mapping can be fixed and replayed later.
    """

    asset_name: str
    signature: str
    severity: Severity
    severity_raw: str | None
    message: str
    tool: Tool
    event_time: datetime
    resolved: bool
    fingerprint: str
    category: Category
    dedup_key: str | None = None
    asset_ref: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
