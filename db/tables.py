"""SQLAlchemy 2 typed tables. Every tenant-owned table carries `company_id`.

Relationships are not declared: every load is an explicit query in a repository, so nothing is
lazy-loaded behind a resolver's back.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain import priority

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        uuid.UUID: UUID(as_uuid=True),
        dict[str, Any]: JSONB,
    }


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Company(Base):
    """A client company of the MSP: the tenant. Holds its webhook credentials and settings."""

    __tablename__ = "companies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # sha256 of the API key; the key itself is shown once and never stored.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_hint: Mapped[str] = mapped_column(String(16))
    # HMAC secret encrypted with the data key (Fernet token).
    hmac_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # The integrations (tool endpoints, `domain.alerts.Tool` values) whose requests must be signed.
    signed_integrations: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), server_default=text("'{}'::varchar[]")
    )
    # The credentials before the last rotation, valid until their expiry so tools can roll over.
    previous_api_key_hash: Mapped[str | None] = mapped_column(String(64))
    previous_api_key_hint: Mapped[str | None] = mapped_column(String(16))
    previous_api_key_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    previous_hmac_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_hmac_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rate_limit_per_second: Mapped[float] = mapped_column(Float, server_default=text("100"))
    rate_limit_burst: Mapped[int] = mapped_column(Integer, server_default=text("500"))
    correlation_window_minutes: Mapped[int] = mapped_column(Integer, server_default=text("10"))
    flap_threshold: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    flap_window_minutes: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    auto_resolve_minutes: Mapped[int | None] = mapped_column(Integer, server_default=text("60"))
    auto_resolve_tools: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), server_default=text("ARRAY['splunk']::varchar[]")
    )
    # Unread until the SLA clocks (issue 17) take it over: per-severity response/resolve targets.
    sla_policy: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Remediation (issue 15): whether matched runbooks may run at all, whether a critical asset always
    # needs an admin's approval, and how long an approval request waits before the incident escalates.
    auto_remediation_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    approval_on_critical_assets: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    approval_expiry_minutes: Mapped[int] = mapped_column(Integer, server_default=text("60"))
    # LLM analysis (issue 18): off by default; tokens a month it may spend.
    llm_analysis_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    llm_monthly_token_budget: Mapped[int] = mapped_column(Integer, server_default=text("200000"))
    # Alerts received longer ago than this are deleted by the retention loop (db/retention.py).
    alert_retention_days: Mapped[int] = mapped_column(Integer, server_default=text("90"))
    # A demo tenant's company (set by seed_demo): it takes demo runs, and its remediations run through
    # the simulated executor (marked `simulated`), never through AWS.
    demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Set by companyDelete: the company is gone from every API surface at once, and the sweeper purges
    # its rows in batches (db/company_purge.py) before it deletes this one.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        # A deleted company's name is free at once for a new company.
        Index(
            "uq_companies_lower_name",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_companies_deleted", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
        Index(
            "ix_companies_previous_api_key",
            "previous_api_key_hash",
            postgresql_where=text("previous_api_key_hash IS NOT NULL"),
        ),
        CheckConstraint("correlation_window_minutes BETWEEN 5 AND 15", name="window_range"),
        CheckConstraint("rate_limit_per_second > 0 AND rate_limit_burst >= 1", name="rate_limit_positive"),
        CheckConstraint("approval_expiry_minutes BETWEEN 5 AND 10080", name="approval_expiry_range"),
        CheckConstraint("llm_monthly_token_budget BETWEEN 0 AND 100000000", name="llm_budget_range"),
        CheckConstraint("alert_retention_days BETWEEN 1 AND 3650", name="alert_retention_range"),
    )


class User(Base):
    """A person who signs in: MSP admin, company admin or technician."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    # Technician skill category (Network, Database, ...); empty for admins.
    category: Mapped[str | None] = mapped_column(String(32))
    on_call: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Every token carries the generation it was issued under (claim `gen`); revoking a user's tokens
    # (or deactivating the user) moves it on, so every earlier token stops verifying at once, with
    # no clock involved (a timestamp against `iat` would mis-judge tokens of the same second).
    token_generation: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # A technician's profile (`domain.assignment`): the alert categories they handle (`category` is the
    # single skill older clients set; the migration carried it here), their time zone, how many open
    # incidents they take at most, whether they take new ones, and when they last got one.
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default=text("'{}'"))
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    max_concurrent_incidents: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    assignable: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The notification kinds emailed to this user (`domain.notifications`); NULL: every kind.
    notification_email_kinds: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))
    # sha256 of the secret in the user's calendar feed URL (`/api/schedules/{token}.ics`); NULL: none.
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    calendar_token_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("uq_users_lower_email", func.lower(text("email")), unique=True),
        CheckConstraint("role IN ('msp_admin', 'company_admin', 'technician')", name="role_known"),
        CheckConstraint("max_concurrent_incidents BETWEEN 1 AND 100", name="max_concurrent_bounded"),
    )


class Membership(Base):
    """Which companies a company admin or technician works for (MSP admins see all)."""

    __tablename__ = "memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = _now()


class LoginFailure(Base):
    """Failed sign-ins, kept in the database so throttling holds across replicas. Counted per email
    and source (the client's address), so failures from one place never lock the account elsewhere."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    source: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_login_failures_email_source_at", "email", "source", "at"),)


class Asset(Base):
    """A monitored thing: server, database, network device... `cloud_instance_id` is the SSM target."""

    __tablename__ = "assets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(40), server_default=text("'server'"))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    cloud_instance_id: Mapped[str | None] = mapped_column(String(64))
    # LINUX or WINDOWS: which runbooks can run on it (and through which SSM document); unknown: none.
    platform: Mapped[str | None] = mapped_column(String(10))
    # The monitoring tools' own id for the asset (a CMDB id, New Relic's entity guid): an alert whose
    # `asset_id` equals it is this asset's, whatever name the tool gives.
    external_id: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    is_critical: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Created automatically from an alert naming an unknown asset.
    discovered: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("uq_assets_company_lower_name", "company_id", func.lower(text("name")), unique=True),
        Index(
            "uq_assets_company_external_id",
            "company_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        UniqueConstraint("company_id", "id", name="uq_assets_company_id_id"),
        CheckConstraint("platform IN ('LINUX', 'WINDOWS')", name="platform_known"),
    )


class AssetDependency(Base):
    """Topology edge: `asset_id` depends on `depends_on_id` (both in one company)."""

    __tablename__ = "asset_dependencies"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    asset_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    depends_on_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    __table_args__ = (
        # Composite keys make a cross-tenant edge impossible, not just unlikely.
        ForeignKeyConstraint(
            ["company_id", "asset_id"],
            ["assets.company_id", "assets.id"],
            ondelete="CASCADE",
            name="fk_asset_dependencies_asset",
        ),
        ForeignKeyConstraint(
            ["company_id", "depends_on_id"],
            ["assets.company_id", "assets.id"],
            ondelete="CASCADE",
            name="fk_asset_dependencies_depends_on",
        ),
        CheckConstraint("asset_id <> depends_on_id", name="no_self_edge"),
    )


class AuditEntry(Base):
    """Append-only record of every accepted change: who, what, when, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_audit_log_at_id", "at", "id"),)


# The hot append tables (webhook_deliveries, alerts, incidents, incident_events) carry no foreign
# keys: each inserted row's check share-locked its company's row (about a sixth of the ingest and
# correlation writes, and multixacts on that row with several writers). Their company and incident
# ids come from the authenticated key and the worker's own writes; deleting a company deletes their
# rows through a trigger (migration 0005).


class WebhookDelivery(Base):
    """One accepted webhook delivery, keyed for idempotency; repeats get `response` back."""

    __tablename__ = "webhook_deliveries"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # no foreign key (hot append table)
    delivery_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    # sha256 of the HMAC signature header: a signed request can be accepted once.
    signature_hash: Mapped[str | None] = mapped_column(String(64))
    # sha256 of what the delivery carried: its key reused for other alerts is refused (NULL: older rows).
    content_hash: Mapped[str | None] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("uq_webhook_deliveries_signature", "company_id", "signature_hash", unique=True),
        Index("ix_webhook_deliveries_received_at", "received_at"),
    )


class WebhookDeliveryRecord(Base):
    """One webhook request attributed to a company (its API key authenticated): accepted or refused,
    with the answer's status and reason, so a client can see why its tool is failing. Never the
    key, secret, signature or body. The sweeper keeps the newest rows per company and integration."""

    __tablename__ = "webhook_delivery_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key (written beside the hot path)
    integration: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(500))
    alert_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'ignored', 'replayed', 'refused')", name="outcome_known"),
        Index("ix_webhook_delivery_log_company", "company_id", "integration", "at", "id"),
        Index("ix_webhook_delivery_log_company_at", "company_id", "at", "id"),
    )


class RateLimitBucket(Base):
    """Token bucket per company, shared by every server process."""

    __tablename__ = "rate_limit_buckets"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Float)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """One normalised alert as received; `correlated_at` is null until the worker has handled it."""

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key (hot append table)
    asset_id: Mapped[uuid.UUID | None] = mapped_column()
    asset_name: Mapped[str] = mapped_column(String(255))
    asset_ref: Mapped[str | None] = mapped_column(String(255))
    signature: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(10))
    severity_raw: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    tool: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10))  # firing | resolved
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = _now()
    tags: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    delivery_key: Mapped[str | None] = mapped_column(String(300))
    incident_id: Mapped[uuid.UUID | None] = mapped_column()
    correlated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duplicate: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    suppressed_by: Mapped[uuid.UUID | None] = mapped_column()
    # Set when a resolve message (or the incident's resolution) closed this firing alert.
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('firing', 'resolved')", name="status_known"),
        CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name="severity_known"),
        Index("ix_alerts_pending", "id", postgresql_where=text("correlated_at IS NULL")),
        Index("ix_alerts_company_received", "company_id", "received_at", "id"),
        Index(
            "ix_alerts_incident",
            "incident_id",
            "event_time",
            postgresql_where=text("incident_id IS NOT NULL"),
        ),
        # Resolve messages find the open incident carrying their fingerprint through its open alerts.
        Index(
            "ix_alerts_open_fingerprint",
            "company_id",
            "fingerprint",
            postgresql_where=text("status = 'firing' AND resolved_at IS NULL"),
        ),
        # Resolve messages close the still-firing alerts of one incident and fingerprint.
        Index(
            "ix_alerts_open_by_incident",
            "incident_id",
            "fingerprint",
            postgresql_where=text("status = 'firing' AND resolved_at IS NULL AND incident_id IS NOT NULL"),
        ),
    )


# `domain.priority.priority_base` in SQL: the score before age decay, from the incident's own columns,
# so `incidents(orderBy: PRIORITY)` sorts by the live score (`db/repositories/incidents.py` decays it
# at the query's time) through an index. tests/integration/test_priority_order.py holds it to the domain.
PRIORITY_BASE_SQL = (
    f"(CASE WHEN status = 'RESOLVED' THEN {priority.AGE_DECAY_CAP_HOURS:g} ELSE LEAST(CASE severity "
    + " ".join(f"WHEN '{s.value}' THEN {v:g}" for s, v in priority.SEVERITY_BASE.items())
    + f" END + CASE WHEN critical_asset THEN {priority.CRITICAL_ASSET_BONUS:g} ELSE 0 END"
    + f" + LEAST({priority.POINTS_PER_ALERT:g} * GREATEST(alert_count, 0), {priority.ALERT_POINTS_CAP:g})"
    + f" + CASE WHEN cardinality(tool_sources) >= 2 THEN {priority.MULTI_TOOL_BONUS:g} ELSE 0 END"
    + f" + LEAST({priority.POINTS_PER_DOWNSTREAM_ASSET:g} * GREATEST(blast_radius, 0),"
    + f" {priority.BLAST_RADIUS_POINTS_CAP:g})"
    + f", {priority.MAX_SCORE:g}) END)::double precision"
)


class Incident(Base):
    """Correlated alerts that are one real problem (same asset + signature inside the window)."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key (hot append table)
    correlation_key: Mapped[str] = mapped_column(String(300))
    asset_id: Mapped[uuid.UUID | None] = mapped_column()
    asset_name: Mapped[str] = mapped_column(String(255))
    signature: Mapped[str] = mapped_column(String(255))
    # Every original signature of its firing alerts, first seen first (empty before migration 0035:
    # then `signature` is the only one), and the canonical one its key was made of (null before 0035).
    signatures: Mapped[list[str]] = mapped_column(ARRAY(String(255)), server_default=text("'{}'"))
    canonical_signature: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(20))
    alert_count: Mapped[int] = mapped_column(Integer)
    duplicate_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tool_sources: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    active_fingerprints: Mapped[list[str]] = mapped_column(ARRAY(String(300)))
    flap_times: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)))
    flapping: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    critical_asset: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # On a cascade's root: the downstream assets hit (`incident_analyses.blast_radius`, kept here by
    # the `analysis` reaction for `priority_base`); 0 on any other incident.
    blast_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    first_alert_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_alert_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # No stored score: `priorityScore` and `orderBy: PRIORITY` both decay this at the time they are read.
    priority_base: Mapped[float] = mapped_column(Float, Computed(PRIORITY_BASE_SQL, persisted=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Resolved by a runbook that ran (and passed its health check), not by a person or the monitor.
    auto_remediated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The technician the incident is assigned to (`db.assignment`), and since when.
    assigned_to: Mapped[uuid.UUID | None] = mapped_column()
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped by every write of the incident; a change in `incident_changes` carries the version it
    # made, so a reaction can tell a stale change from the latest.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(
            "status IN ('NEW', 'ACKNOWLEDGED', 'IN_PROGRESS', 'RESOLVED', 'ESCALATED', 'WAITING_ON_CLIENT')",
            name="status_known",
        ),
        Index("ix_incidents_key_latest", "company_id", "correlation_key", "last_alert_at"),
        Index("ix_incidents_company_created", "company_id", "created_at", "id"),
        Index("ix_incidents_company_priority_base", "company_id", "priority_base", "id"),
        Index(
            "ix_incidents_open", "company_id", "last_alert_at", postgresql_where=text("status <> 'RESOLVED'")
        ),
        Index(
            "ix_incidents_assigned_open",
            "assigned_to",
            postgresql_where=text("assigned_to IS NOT NULL AND status <> 'RESOLVED'"),
        ),
        # The KPI rollup's read of an hour's resolved incidents (migration 0034).
        Index(
            "ix_incidents_company_resolved",
            "company_id",
            "resolved_at",
            postgresql_where=text("resolved_at IS NOT NULL"),
        ),
    )


class IncidentEvent(Base):
    """The incident's timeline: what happened to it, when, and who or what did it."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign keys (hot append table)
    incident_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    alert_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)


class MaintenanceWindow(Base):
    """A period when a company's alerts are stored as suppressed and open no incident."""

    __tablename__ = "maintenance_windows"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # null, or {"frequency": "DAILY"|"WEEKLY", "days_of_week": [0..6], "timezone": "Europe/Berlin", "until": iso}
    # none_as_null: a one-off window is SQL NULL, never the JSON value `null` (which `IS NOT NULL` passes).
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    asset_names: Mapped[list[str]] = mapped_column(ARRAY(String(255)), server_default=text("'{}'"))
    signatures: Mapped[list[str]] = mapped_column(ARRAY(String(255)), server_default=text("'{}'"))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = _now()


class SignatureAlias(Base):
    """A company's rule that some signatures are one problem (`domain.signatures.alias_group`)."""

    __tablename__ = "signature_aliases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    # The canonical signature correlation keys the group's alerts by (folded).
    canonical: Mapped[str] = mapped_column(Text)
    # The signatures as the admin gave them, and each one's folded problem words (what is matched).
    signatures: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    problems: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = _now()


class IncidentChangeRecord(Base):
    """The outbox: one row per incident change a reaction could care about, written in the same
    transaction as the change by every writer (correlation, manual transitions, sweeps).

    A repeat alert that only bumps counters writes none. `actor` is `user:<id>` or a named automated
    principal (`system:correlation`, `system:auto-resolve`). Inserting rows fans them out to every
    registered reaction's inbox (a statement trigger, migration 0013).
    """

    __tablename__ = "incident_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key (hot append table)
    incident_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    before_status: Mapped[str | None] = mapped_column(String(20))
    after_status: Mapped[str] = mapped_column(String(20))
    before_severity: Mapped[str | None] = mapped_column(String(10))
    after_severity: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_incident_changes_incident", "incident_id", "version"),)


class Reaction(Base):
    """A consumer of `incident_changes`, registered by the worker that runs it (not tenant data)."""

    __tablename__ = "reactions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = _now()
    # The changes it wants (NULL: any): the fan-out trigger (migration 0033) gives it only these.
    after_statuses: Mapped[list[str] | None] = mapped_column(ARRAY(String(20)))
    before_statuses: Mapped[list[str] | None] = mapped_column(ARRAY(String(20)))


class ReactionInbox(Base):
    """One change waiting for one reaction: claimed with SKIP LOCKED and deleted when handled, so a
    change committed late is never skipped (no cursor over identity ids, which are assigned before
    commit). A failed attempt waits `available_at` with a growing back-off; after the last attempt the
    row stays as `dead` with its error until someone retries it."""

    __tablename__ = "reaction_inbox"

    reaction: Mapped[str] = mapped_column(
        String(64), ForeignKey("reactions.name", ondelete="CASCADE"), primary_key=True
    )
    change_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incident_changes.id", ondelete="CASCADE"), primary_key=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column()
    state: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    available_at: Mapped[datetime] = _now()
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'dead')", name="state_known"),
        Index(
            "ix_reaction_inbox_pending",
            "reaction",
            "available_at",
            "change_id",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_reaction_inbox_change", "change_id"),
    )


class CorrelationQuarantine(Base):
    """A company whose alerts made a correlation batch fail: its alerts wait, the other companies' go on.

    The worker retries the company at `retry_at` (with a growing back-off) and deletes the row once a
    batch of its alerts commits. `/readyz` lists these companies.
    """

    __tablename__ = "correlation_quarantine"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    error: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    first_failed_at: Mapped[datetime] = _now()
    failed_at: Mapped[datetime] = _now()
    retry_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BackgroundLoop(Base):
    """One background loop of one worker process, as it last reported itself (not tenant data).

    `state` is `running`, `failing` (its last step raised: `error`, `failures` in a row) or
    `failed_to_start`. A loop beats at most every few seconds; `/readyz` reads this table, since the
    loops run in other processes than the API that answers it.
    """

    __tablename__ = "background_loops"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    started_at: Mapped[datetime] = _now()
    beat_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("state IN ('running', 'failing', 'failed_to_start', 'stopped')", name="state_known"),
    )


class CompanyAwsSettings(Base):
    """How the platform reaches a company's AWS account (`domain.aws.AwsAccess`): an IAM role assumed
    with an external id, or an access key pair. The secret key and the external id are encrypted with
    the data key (Fernet tokens); the key id is not a secret and is kept in clear for its last 4."""

    __tablename__ = "company_aws_settings"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    auth_type: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(32))
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    external_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_key_id: Mapped[str | None] = mapped_column(String(20))
    secret_access_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(
            "(auth_type = 'role' AND role_arn IS NOT NULL AND external_id_enc IS NOT NULL"
            " AND access_key_id IS NULL AND secret_access_key_enc IS NULL)"
            " OR (auth_type = 'access_key' AND access_key_id IS NOT NULL AND secret_access_key_enc IS NOT NULL"
            " AND role_arn IS NULL AND external_id_enc IS NULL)",
            name="one_auth_type",
        ),
    )


# ---- remediation ---------------------------------------------------------------------------------

RUNBOOK_CATEGORIES = ("INFRASTRUCTURE", "SERVICES", "SECURITY", "DATABASE")
RUNBOOK_RISKS = ("LOW", "MEDIUM", "HIGH")
PLATFORMS = ("LINUX", "WINDOWS")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Runbook(Base):
    """A runbook: its identity and which version is current. A company's own, or global (no company:
    the MSP's library, offered to every company). Its content lives in `runbook_versions`."""

    __tablename__ = "runbooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))  # the current version's, for ordering and uniqueness
    category: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_one_of("category", RUNBOOK_CATEGORIES), name="category_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        # One live runbook of a name per company, and one in the global library.
        Index(
            "uq_runbooks_company_lower_name",
            "company_id",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("company_id IS NOT NULL AND archived_at IS NULL"),
        ),
        Index(
            "uq_runbooks_global_lower_name",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("company_id IS NULL AND archived_at IS NULL"),
        ),
        Index("ix_runbooks_company_name", "company_id", "name", "id"),
    )


class RunbookVersion(Base):
    """One immutable version of a runbook's content. Every change adds one; an execution names the
    version it ran, so old versions are kept and stay readable."""

    __tablename__ = "runbook_versions"

    runbook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runbooks.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    category: Mapped[str] = mapped_column(String(20))
    signatures: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    signature_patterns: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    risk: Mapped[str] = mapped_column(String(10))
    platform: Mapped[str] = mapped_column(String(10))
    commands: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # [{"name", "type": STRING|INTEGER|BOOLEAN, "default", "description", "allowedPattern"}]
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    health_check: Mapped[str | None] = mapped_column(Text)
    auto_approve: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_one_of("category", RUNBOOK_CATEGORIES), name="category_known"),
        CheckConstraint(_one_of("risk", RUNBOOK_RISKS), name="risk_known"),
        CheckConstraint(_one_of("platform", PLATFORMS), name="platform_known"),
        CheckConstraint("timeout_seconds BETWEEN 30 AND 7200", name="timeout_bounded"),
        CheckConstraint("cardinality(commands) BETWEEN 1 AND 50", name="commands_bounded"),
    )


EXECUTION_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")
# Where the executor is: sending the action, polling it, sending the health check, polling that, done.
EXECUTION_PHASES = ("send", "poll", "health_send", "health_poll", "done")


class RemediationExecution(Base):
    """One run of one runbook version on one or more instances, committed before anything is sent.

    What runs is frozen here (document, rendered commands, health check, timeout), so a later edit of
    the runbook changes nothing in flight. `approval_id` is unique: one approval starts at most one
    execution. `phase` and `next_check_at` drive the executor loop, which claims due rows with
    SKIP LOCKED; `command_id` is stored once SendCommand answered (the `Comment` names the execution,
    so a crash in between is reconciled, never sent twice). `held` is set once it is known whether the
    fix held (False: the problem came back inside the company's window).
    """

    __tablename__ = "remediation_executions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    incident_id: Mapped[uuid.UUID | None] = mapped_column()
    runbook_id: Mapped[uuid.UUID] = mapped_column()
    runbook_version: Mapped[int] = mapped_column(Integer)
    approval_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    asset_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default=text("'{}'"))
    instance_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    document: Mapped[str] = mapped_column(String(64))
    commands: Mapped[list[str]] = mapped_column(ARRAY(Text))
    health_check: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), server_default=text("'PENDING'"))
    phase: Mapped[str] = mapped_column(String(16), server_default=text("'send'"))
    command_id: Mapped[str | None] = mapped_column(String(64))
    health_command_id: Mapped[str | None] = mapped_column(String(64))
    simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    started_by: Mapped[str] = mapped_column(String(100))  # `user:<id>` or `system:<name>`
    error: Mapped[str | None] = mapped_column(Text)
    held: Mapped[bool | None] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_check_at: Mapped[datetime] = _now()
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_one_of("status", EXECUTION_STATUSES), name="status_known"),
        CheckConstraint(_one_of("phase", EXECUTION_PHASES), name="phase_known"),
        CheckConstraint("cardinality(instance_ids) BETWEEN 1 AND 50", name="instances_bounded"),
        ForeignKeyConstraint(
            ["runbook_id", "runbook_version"],
            ["runbook_versions.runbook_id", "runbook_versions.version"],
            ondelete="CASCADE",
        ),
        Index("ix_remediation_executions_company_created", "company_id", "created_at", "id"),
        Index("ix_remediation_executions_incident", "incident_id", "created_at"),
        Index("ix_remediation_executions_due", "next_check_at", postgresql_where=text("phase <> 'done'")),
        # The held sweep (`db.remediation_held.settle_held`): succeeded runs not yet judged.
        Index(
            "ix_remediation_executions_unsettled",
            "finished_at",
            postgresql_where=text("status = 'SUCCEEDED' AND held IS NULL"),
        ),
    )


class RemediationInvocation(Base):
    """One instance's run of an execution's action or health check, as the executor last saw it;
    output bounded."""

    __tablename__ = "remediation_invocations"

    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("remediation_executions.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(12), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(12))
    status_detail: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    stdout: Mapped[str] = mapped_column(Text, server_default=text("''"))
    stderr: Mapped[str] = mapped_column(Text, server_default=text("''"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (CheckConstraint("step IN ('action', 'health_check')", name="step_known"),)


# ---- notifications -------------------------------------------------------------------------------

EMAIL_STATES = ("none", "pending", "sending", "sent", "failed")


class Notification(Base):
    """One in-app notification for one user, and the state of its email (`none`: in-app only).

    Written by whatever tells people (assignment, escalation, approval requests, SLA) through
    `db.notifications.enqueue` in the transaction of the change it announces; the mailer loop claims
    `pending` emails. `dedup_key` makes a retried producer (a reaction's second attempt) add nothing.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[uuid.UUID | None] = mapped_column()
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_state: Mapped[str] = mapped_column(String(10), server_default=text("'none'"))
    email_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    email_error: Mapped[str | None] = mapped_column(Text)
    email_message_id: Mapped[str | None] = mapped_column(String(200))
    email_next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_one_of("email_state", EMAIL_STATES), name="email_state_known"),
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        Index("ix_notifications_user_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),
        Index(
            "ix_notifications_company_email_failed",
            "company_id",
            "created_at",
            "id",
            postgresql_where=text("email_state = 'failed'"),
        ),
        Index(
            "ix_notifications_email_due",
            "email_next_at",
            postgresql_where=text("email_state IN ('pending', 'sending')"),
        ),
        Index(
            "uq_notifications_user_dedup",
            "user_id",
            "dedup_key",
            unique=True,
            postgresql_where=text("dedup_key IS NOT NULL"),
        ),
    )


# ---- analysis ------------------------------------------------------------------------------------

PATTERN_TYPES = ("ALERT_STORM", "FLAPPING", "CYCLIC", "PERSISTENT", "CASCADING_FAILURE", "ISOLATED")
ANALYSIS_SOURCES = ("RULES", "BEDROCK", "GEMINI")


class IncidentAnalysis(Base):
    """The latest analysis of an incident (`domain.analysis`), written by the `analysis` reaction."""

    __tablename__ = "incident_analyses"

    incident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    pattern_type: Mapped[str] = mapped_column(String(20))
    root_cause: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10), server_default=text("'RULES'"))
    model: Mapped[str | None] = mapped_column(String(100))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    suggested_runbook_id: Mapped[uuid.UUID | None] = mapped_column()
    root_incident_id: Mapped[uuid.UUID | None] = mapped_column()
    blast_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    incident_version: Mapped[int] = mapped_column(Integer)
    # The incident's alert count when analysed: repeats write no outbox row, so the sweeper compares.
    alert_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    analyzed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_one_of("pattern_type", PATTERN_TYPES), name="pattern_known"),
        CheckConstraint(_one_of("source", ANALYSIS_SOURCES), name="source_known"),
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_range"),
        Index(
            "ix_incident_analyses_root",
            "root_incident_id",
            postgresql_where=text("root_incident_id IS NOT NULL"),
        ),
    )


class IncidentLlmAnalysis(Base):
    """The latest LLM answer for an incident that passed validation, or why there is none (`error`)."""

    __tablename__ = "incident_llm_analyses"

    incident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(String(10))
    model: Mapped[str | None] = mapped_column(String(100))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    pattern_type: Mapped[str | None] = mapped_column(String(20))
    root_cause: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    suggested_runbook_id: Mapped[uuid.UUID | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    prompt: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    incident_version: Mapped[int] = mapped_column(Integer)
    analyzed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "pattern_type IS NULL OR " + _one_of("pattern_type", PATTERN_TYPES), name="pattern_known"
        ),
        CheckConstraint("source IS NULL OR source IN ('BEDROCK', 'GEMINI')", name="source_known"),
    )


class LlmUsage(Base):
    """Tokens a company's LLM analyses used in a month (against `companies.llm_monthly_token_budget`)."""

    __tablename__ = "llm_usage"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class LlmCache(Base):
    """LLM answers by the content of their prompt (`domain.llm.cache_key`)."""

    __tablename__ = "llm_cache"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))
    model: Mapped[str] = mapped_column(String(100))
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class LlmBreaker(Base):
    """A provider's circuit breaker, shared by every process (`domain.llm.after_failure`)."""

    __tablename__ = "llm_breakers"

    provider: Mapped[str] = mapped_column(String(10), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---- decisions and approvals (issue 15 §2, §3) ---------------------------------------------------

DECISION_ACTIONS = ("EXECUTE_RUNBOOK", "ESCALATE_TO_TECHNICIAN", "FOLLOW_ROOT_CAUSE")
APPROVAL_STATUSES = ("PENDING", "APPROVED", "REJECTED", "EXPIRED", "WITHDRAWN")


class IncidentDecision(Base):
    """The latest decision on an incident (`domain.decisions.decide`): run a runbook now, after an
    approval, or hand it to a technician, with the reason and a sentence that says it.
    `decided_for_version` is the incident version the decision answered, so a change handled twice
    decides once."""

    __tablename__ = "incident_decisions"

    incident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    runbook_id: Mapped[uuid.UUID | None] = mapped_column()
    runbook_version: Mapped[int | None] = mapped_column(Integer)
    approval_required: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    priority_score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_for_version: Mapped[int] = mapped_column(Integer)
    # FOLLOW_ROOT_CAUSE: the cascade's root incident it follows (`db.decisions.release_followers`).
    root_incident_id: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(_one_of("action", DECISION_ACTIONS), name="action_known"),
        Index("ix_incident_decisions_company", "company_id", "decided_at"),
        Index(
            "ix_incident_decisions_following",
            "root_incident_id",
            postgresql_where=text("action = 'FOLLOW_ROOT_CAUSE'"),
        ),
    )


class RemediationApproval(Base):
    """A request for a company admin's approval of one run of one runbook version. At most one is
    PENDING per incident; approving starts exactly one execution (`remediation_executions.approval_id`
    is unique); a PENDING request past `expires_at` is claimed by the expiry step and the incident
    escalates; one whose incident resolved first is WITHDRAWN (`db.approvals.ApprovalWithdrawal`)."""

    __tablename__ = "remediation_approvals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    incident_id: Mapped[uuid.UUID | None] = mapped_column()
    runbook_id: Mapped[uuid.UUID] = mapped_column()
    runbook_version: Mapped[int] = mapped_column(Integer)
    asset_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default=text("'{}'"))
    instance_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'PENDING'"))
    requested_by: Mapped[str] = mapped_column(String(100))  # `user:<id>` or `system:<name>`
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column()  # the approver; null when it expired
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_one_of("status", APPROVAL_STATUSES), name="status_known"),
        CheckConstraint("cardinality(instance_ids) BETWEEN 1 AND 50", name="instances_bounded"),
        ForeignKeyConstraint(
            ["runbook_id", "runbook_version"],
            ["runbook_versions.runbook_id", "runbook_versions.version"],
            ondelete="CASCADE",
        ),
        Index("ix_remediation_approvals_company_requested", "company_id", "requested_at", "id"),
        Index("ix_remediation_approvals_company_status", "company_id", "status", "requested_at", "id"),
        Index("ix_remediation_approvals_expiry", "expires_at", postgresql_where=text("status = 'PENDING'")),
        Index(
            "uq_remediation_approvals_pending_incident",
            "incident_id",
            unique=True,
            postgresql_where=text("status = 'PENDING' AND incident_id IS NOT NULL"),
        ),
    )


# ---- SLA clocks ----------------------------------------------------------------------------------

SLA_CLOCKS = ("response", "resolution")
SLA_EVENT_KINDS = ("warning", "breach")


class IncidentSla(Base):
    """One incident's two SLA clocks (`domain.sla`), kept by the `sla-clocks` reaction.

    The deadlines are instants already worked out in the company's business time, so the monitor
    needs no calendar: it claims rows whose `next_due_at` (the earliest warning or breach still to
    come of a clock that runs) has passed, through the partial index, never reading every open
    incident. A clock that is met, or paused (the incident waits on the client), has no due time;
    while paused, `*_left_seconds` holds the business time it had left.
    """

    __tablename__ = "incident_sla"

    incident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key, as its incident
    severity: Mapped[str] = mapped_column(String(10))
    response_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolution_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    response_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_left_seconds: Mapped[float | None] = mapped_column(Float)
    resolution_left_seconds: Mapped[float | None] = mapped_column(Float)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    response_warned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolution_warned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    response_breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolution_breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The incident version of the last change applied: an older change arriving late is skipped.
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_incident_sla_due", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
        Index("ix_incident_sla_company", "company_id"),
    )


class SlaEvent(Base):
    """A warning or breach the monitor acted on: unique per incident, clock, kind and deadline, and
    inserted in the transaction of its effects (notifications, escalation), so each happens once
    however many monitors race and however often they restart."""

    __tablename__ = "sla_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column()
    incident_id: Mapped[uuid.UUID] = mapped_column()
    clock: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[int | None] = mapped_column(Integer)  # the escalation level of a resolution breach
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_one_of("clock", SLA_CLOCKS), name="clock_known"),
        CheckConstraint(_one_of("kind", SLA_EVENT_KINDS), name="kind_known"),
        UniqueConstraint("incident_id", "clock", "kind", "deadline", name="uq_sla_events_once"),
        Index("ix_sla_events_company", "company_id"),
    )


# ---- on-call schedules ---------------------------------------------------------------------------


class OnCallSchedule(Base):
    """A company's on-call schedule, or an MSP-wide one (no company) for the companies it `covers`.

    Its shifts, rotation and overrides carry the schedule's `company_id` (NULL for MSP-wide ones) so
    every read of them is scoped like the schedule's own; the rules live in `domain.oncall`.
    """

    __tablename__ = "oncall_schedules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    covers: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'::uuid[]")
    )
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("company_id IS NULL OR cardinality(covers) = 0", name="covers_only_msp_wide"),
        Index("ix_oncall_schedules_covers", "covers", postgresql_using="gin"),
        Index("ix_oncall_schedules_company_name", "company_id", "name", "id"),
    )


class OnCallShift(Base):
    """A weekly shift: `weekday` (0 = Monday) from `start_minute` to `end_minute` of local wall time
    (an end at or before the start is on the next day)."""

    __tablename__ = "oncall_shifts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("oncall_schedules.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", name="start_range"),
        CheckConstraint("end_minute BETWEEN 1 AND 1440", name="end_range"),
    )


class OnCallRotation(Base):
    """A schedule's rotation: `members` in turn for `length_days` each, handing over at
    `handover_minute` local on `handover_weekday`, first on or after `start_date`."""

    __tablename__ = "oncall_rotations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("oncall_schedules.id", ondelete="CASCADE"), unique=True
    )
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    members: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    handover_weekday: Mapped[int] = mapped_column(Integer)
    handover_minute: Mapped[int] = mapped_column(Integer)
    length_days: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column()
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("handover_weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("handover_minute BETWEEN 0 AND 1439", name="handover_range"),
        CheckConstraint("length_days BETWEEN 1 AND 56", name="length_range"),
        CheckConstraint("cardinality(members) BETWEEN 1 AND 50", name="members_count"),
        Index("ix_oncall_rotations_members", "members", postgresql_using="gin"),
    )


class OnCallOverride(Base):
    """`user_id` is on call from `starts_at` to `ends_at`, covering `covers_user_id` when set."""

    __tablename__ = "oncall_overrides"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"))
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    covers_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_oncall_overrides_schedule_ends", "schedule_id", "ends_at"),
    )


DEMO_STATUSES = ("RUNNING", "STOPPED", "FINISHED")


class DemoRun(Base):
    """One demo scenario run on a company (`db.demo`): its progress and the lease of the process
    running it, so any worker resumes it after a restart. `api_key_enc`: the key it sends webhooks
    with, encrypted with the data key (the company row keeps only its hash)."""

    __tablename__ = "demo_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    scenario: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_steps: Mapped[int] = mapped_column(Integer)
    alerts_sent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cycle: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    loop: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    message: Mapped[str] = mapped_column(Text, server_default=text("''"))
    api_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    started_by: Mapped[str] = mapped_column(String(64))
    next_step_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_one_of("status", DEMO_STATUSES), name="status"),
        Index("ix_demo_runs_company", "company_id", "started_at"),
        Index("uq_demo_runs_running", "company_id", unique=True, postgresql_where=text("status = 'RUNNING'")),
        Index("ix_demo_runs_due", "next_step_at", postgresql_where=text("status = 'RUNNING'")),
    )


# ---- KPIs ----------------------------------------------------------------------------------------


def _count() -> Any:
    return mapped_column(Integer, server_default=text("0"))


def _seconds() -> Any:
    return mapped_column(Float, server_default=text("0"))


class KpiHour(Base):
    """One company's KPI figures for one UTC hour (`db.kpis`), recomputed from the source tables.

    Incidents count in the hour they opened (`incidents`, acknowledgement, SLA outcomes) or in the hour
    they resolved (`resolved`, resolve times, self-healing); alerts in the hour they were received.
    `resolve_buckets`/`resolve_bucket_counts` are a sparse histogram of resolve seconds in the fixed
    log buckets of `domain.kpis.resolve_bucket` (for MTTR p90 over any range)."""

    __tablename__ = "kpi_hourly"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    alerts: Mapped[int] = _count()
    incidents: Mapped[int] = _count()
    acknowledged: Mapped[int] = _count()
    ack_seconds: Mapped[float] = _seconds()
    resolved: Mapped[int] = _count()
    resolve_seconds: Mapped[float] = _seconds()
    resolve_buckets: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), server_default=text("'{}'"))
    resolve_bucket_counts: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    self_healed: Mapped[int] = _count()
    auto_remediated: Mapped[int] = _count()
    response_met: Mapped[int] = _count()
    response_breached: Mapped[int] = _count()
    resolution_met: Mapped[int] = _count()
    resolution_breached: Mapped[int] = _count()
    updated_at: Mapped[datetime] = _now()


class KpiDailyBuckets(Base):
    """A company's resolve-time histogram of one UTC day: the sum of its hours' (`KpiHour`), rewritten
    whenever one of them is recomputed, so a long range's p90 reads one row a day."""

    __tablename__ = "kpi_daily_buckets"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    resolve_buckets: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), server_default=text("'{}'"))
    resolve_bucket_counts: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))


class KpiDirtyHour(Base):
    """A (company, hour) whose rollup must be recomputed: marked by the `kpi-rollups` reaction and by
    the triggers of migration 0034, claimed and deleted by the rollup pass (internal)."""

    __tablename__ = "kpi_dirty_hours"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    marked_at: Mapped[datetime] = _now()


class PatchState(Base):
    """What SSM's DescribeInstancePatchStates last said about one managed instance of a company."""

    __tablename__ = "patch_states"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    baseline_id: Mapped[str | None] = mapped_column(String(128))
    patch_group: Mapped[str | None] = mapped_column(String(256))
    installed: Mapped[int] = _count()
    installed_other: Mapped[int] = _count()
    installed_pending_reboot: Mapped[int] = _count()
    installed_rejected: Mapped[int] = _count()
    missing: Mapped[int] = _count()
    failed: Mapped[int] = _count()
    not_applicable: Mapped[int] = _count()
    operation: Mapped[str | None] = mapped_column(String(16))
    operation_end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[datetime] = _now()


class PatchRefresh(Base):
    """When the patch job last read a company's patch states, how many instances, and its error."""

    __tablename__ = "patch_refreshes"

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    instances: Mapped[int] = _count()
    error: Mapped[str | None] = mapped_column(Text)
