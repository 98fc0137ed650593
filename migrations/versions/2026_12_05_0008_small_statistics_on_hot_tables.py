"""a small ANALYZE sample on the hot tables: statistics target 10 on their remaining columns

Autovacuum re-analyses `alerts`, `incidents`, `incident_events` and `webhook_deliveries` after 2% of
their rows changed (0003), which under a steady flow of alerts is every naptime (5 s on the embedded
cluster). ANALYZE reads 300 rows per unit of the largest statistics target of a table's columns:
30,000 rows at PostgreSQL's default of 100. Each of those runs took a core for 150-470 ms (200,000
alerts; fast and slow machine), and the webhook -> incidentChanged latency showed it: in `bench/ingest.py`'s
(f) every fourth or fifth second had a p99 of 55-157 ms against 12-48 ms for the others.

At target 10 the sample is 3,000 rows and the same ANALYZE takes 18-33 ms. Nothing needs finer
statistics here: the worker and the ingest statement look rows up by key with sequential scans off,
and the API's list queries filter on a company (an index) and on columns with a handful of values
(status, severity, tool, category), which ten most-common values cover. The payload columns keep
no statistics at all (0004). A test keeps every column of these tables at 10 or less, so a column
added later without a target cannot bring the 30,000-row sample back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET = 10

COLUMNS = {
    "alerts": (
        "id", "company_id", "asset_id", "asset_name", "asset_ref", "signature", "severity", "tool",
        "category", "fingerprint", "dedup_key", "status", "event_time", "received_at", "delivery_key",
        "incident_id", "correlated_at", "duplicate", "suppressed_by", "resolved_at",
    ),
    "incidents": (
        "id", "company_id", "correlation_key", "asset_id", "asset_name", "signature", "status",
        "severity", "category", "alert_count", "duplicate_count", "tool_sources", "active_fingerprints",
        "flap_times", "flapping", "critical_asset", "first_alert_at", "last_alert_at", "priority_score",
        "acknowledged_at", "acknowledged_by", "resolved_at", "assigned_to", "created_at", "updated_at",
    ),
    "incident_events": ("id", "company_id", "incident_id", "kind", "at", "alert_id", "actor_id"),
    "webhook_deliveries": ("company_id", "delivery_key", "signature_hash", "received_at"),
}


def _set(target: int) -> None:
    for table, columns in COLUMNS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in columns))


def upgrade() -> None:
    _set(TARGET)


def downgrade() -> None:
    _set(-1)
