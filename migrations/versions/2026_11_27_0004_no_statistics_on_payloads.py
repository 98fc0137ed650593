"""no planner statistics on payload columns

ANALYZE samples 30,000 rows and computes statistics for every column; for the raw payloads, tags
and messages of alerts (and the JSON of timeline events and stored webhook answers) that is most of
its work, and with the hot tables analysed every few seconds (0003) each run took the event loop
of everything else on the machine for a second or two. No query filters or joins on these columns
in a way the planner could use statistics for, so they get none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 22:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "alerts": ("raw", "tags", "message", "severity_raw"),
    "incident_events": ("data",),
    "webhook_deliveries": ("response",),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0" for c in columns))


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS -1" for c in columns))
