"""incidents.blast_radius: a cascade's root scores the downstream assets it takes down with it

The `analysis` reaction finds a cascade's root and its blast radius (the downstream assets hit, in
`incident_analyses`), but the priority a technician sorts by ignored it. The incident now carries it,
kept by the reaction, and `priority_base` adds 5 points per downstream asset, at most 20. The roots
analysed before this revision take theirs from their stored analysis.

Revision ID: 0039_blast
Revises: 0038_withdrawn
Create Date: 2026-12-07 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_blast"
down_revision: str | None = "0038_withdrawn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUM = (
    "CASE severity WHEN 'low' THEN 10 WHEN 'medium' THEN 30 WHEN 'high' THEN 60 WHEN 'critical' THEN 90"
    " END + CASE WHEN critical_asset THEN 20 ELSE 0 END + LEAST(2 * GREATEST(alert_count, 0), 20)"
    " + CASE WHEN cardinality(tool_sources) >= 2 THEN 10 ELSE 0 END"
)
BEFORE = f"(CASE WHEN status = 'RESOLVED' THEN 10 ELSE LEAST({_SUM}, 100) END)::double precision"
AFTER = (
    f"(CASE WHEN status = 'RESOLVED' THEN 10 ELSE LEAST({_SUM}"
    " + LEAST(5 * GREATEST(blast_radius, 0), 20), 100) END)::double precision"
)
BACKFILL = """
UPDATE incidents i SET blast_radius = a.blast_radius
FROM incident_analyses a
WHERE a.incident_id = i.id AND a.blast_radius > 0
"""


def _priority_base(expression: str) -> None:
    # PostgreSQL 15 cannot change a generated column's expression: the column and its index are
    # remade (as 0020 did).
    op.drop_index("ix_incidents_company_priority_base", table_name="incidents")
    op.drop_column("incidents", "priority_base")
    op.add_column(
        "incidents",
        sa.Column("priority_base", sa.Float(), sa.Computed(expression, persisted=True), nullable=False),
    )
    op.execute("ALTER TABLE incidents ALTER COLUMN priority_base SET STATISTICS 10")  # as 0008
    op.create_index("ix_incidents_company_priority_base", "incidents", ["company_id", "priority_base", "id"])


def upgrade() -> None:
    op.add_column("incidents", sa.Column("blast_radius", sa.Integer(), server_default="0", nullable=False))
    op.execute("ALTER TABLE incidents ALTER COLUMN blast_radius SET STATISTICS 10")  # as 0008
    op.execute(BACKFILL)
    _priority_base(AFTER)


def downgrade() -> None:
    _priority_base(BEFORE)
    op.drop_column("incidents", "blast_radius")
