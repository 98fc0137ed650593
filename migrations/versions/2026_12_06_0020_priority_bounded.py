"""Priority on a 0..100 scale, 0 once resolved; the stored score goes

`priority_base` (what `orderBy: PRIORITY` decays at the query's time) is capped at 100, and is the
decay cap (10) for a resolved incident, whose score is 0. The stored `priority_score` column, which
nothing read and which drifted from the live score, is dropped along with the sweep that refreshed it.

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUM = (
    "CASE severity WHEN 'low' THEN 10 WHEN 'medium' THEN 30 WHEN 'high' THEN 60 WHEN 'critical' THEN 90"
    " END + CASE WHEN critical_asset THEN 20 ELSE 0 END + LEAST(2 * GREATEST(alert_count, 0), 20)"
    " + CASE WHEN cardinality(tool_sources) >= 2 THEN 10 ELSE 0 END"
)
BOUNDED = f"(CASE WHEN status = 'RESOLVED' THEN 10 ELSE LEAST({_SUM}, 100) END)::double precision"
UNBOUNDED = f"({_SUM})::double precision"


def _priority_base(expression: str) -> None:
    # PostgreSQL 15 cannot change a generated column's expression: the column and its index are remade.
    op.drop_index("ix_incidents_company_priority_base", table_name="incidents")
    op.drop_column("incidents", "priority_base")
    op.add_column(
        "incidents",
        sa.Column("priority_base", sa.Float(), sa.Computed(expression, persisted=True), nullable=False),
    )
    op.execute("ALTER TABLE incidents ALTER COLUMN priority_base SET STATISTICS 10")  # as 0008
    op.create_index("ix_incidents_company_priority_base", "incidents", ["company_id", "priority_base", "id"])


def upgrade() -> None:
    _priority_base(BOUNDED)
    op.drop_column("incidents", "priority_score")


def downgrade() -> None:
    op.add_column("incidents", sa.Column("priority_score", sa.Float(), nullable=True))
    op.execute(f"UPDATE incidents SET priority_score = {UNBOUNDED}")
    op.alter_column("incidents", "priority_score", nullable=False)
    _priority_base(UNBOUNDED)
