"""correlation speed: resolves find open incidents through their open alerts, not a GIN index

The GIN index over `incidents.active_fingerprints` was rewritten by almost every incident update (the
correlation worker updates an incident per alert) and its lookups slowed as its pending list and dead
entries grew. Resolve messages now find the open incident carrying their fingerprint through the open
alerts with that fingerprint (`ix_alerts_open_fingerprint`, already there).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_incidents_open_fingerprints", table_name="incidents")


def downgrade() -> None:
    op.create_index(
        "ix_incidents_open_fingerprints", "incidents", ["active_fingerprints"], unique=False,
        postgresql_using="gin", postgresql_where=sa.text("status <> 'RESOLVED'"),
    )
