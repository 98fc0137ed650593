"""incidents.priority_base: sort by the live priority score, through an index

`incidents(orderBy: PRIORITY)` sorted by the stored `priority_score`, which the sweeper refreshes only
once it has drifted half a point from the age-decayed score, so a page could show scores out of order.
The live score is `priority_base - LEAST(GREATEST(age in hours, 0), 10)`: a generated column holds the
base (the score before decay, from the incident's own columns, as `domain.priority.priority_base`),
and the list computes the decay at the query's time. Incidents past the decay cap sort by the base
alone, through (company_id, priority_base, id), which replaces the index on the stored score; younger
ones come from the creation-time index (db/repositories/incidents.py).

The expression is frozen here as it was written; tests hold db/tables.py's to the domain rule.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRIORITY_BASE = (
    "(CASE severity WHEN 'low' THEN 10 WHEN 'medium' THEN 30 WHEN 'high' THEN 60 WHEN 'critical' THEN 90"
    " END + CASE WHEN critical_asset THEN 20 ELSE 0 END + LEAST(2 * GREATEST(alert_count, 0), 20)"
    " + CASE WHEN cardinality(tool_sources) >= 2 THEN 10 ELSE 0 END)::double precision"
)


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("priority_base", sa.Float(), sa.Computed(PRIORITY_BASE, persisted=True), nullable=False),
    )
    op.execute("ALTER TABLE incidents ALTER COLUMN priority_base SET STATISTICS 10")  # as 0008
    op.create_index("ix_incidents_company_priority_base", "incidents", ["company_id", "priority_base", "id"])
    op.drop_index("ix_incidents_company_priority", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_company_priority", "incidents", ["company_id", "priority_score", "id"])
    op.drop_index("ix_incidents_company_priority_base", table_name="incidents")
    op.drop_column("incidents", "priority_base")
