"""incidents.status may be WAITING_ON_CLIENT (an incident on hold until the client answers or acts)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('NEW', 'ACKNOWLEDGED', 'IN_PROGRESS', 'RESOLVED', 'ESCALATED')"
AFTER = "status IN ('NEW', 'ACKNOWLEDGED', 'IN_PROGRESS', 'RESOLVED', 'ESCALATED', 'WAITING_ON_CLIENT')"


def upgrade() -> None:
    op.drop_constraint(op.f('ck_incidents_status_known'), 'incidents', type_='check')
    op.create_check_constraint(op.f('ck_incidents_status_known'), 'incidents', AFTER)


def downgrade() -> None:
    # An incident waiting on its client is, before this revision, one someone has acknowledged.
    op.execute("UPDATE incidents SET status = 'ACKNOWLEDGED' WHERE status = 'WAITING_ON_CLIENT'")
    op.drop_constraint(op.f('ck_incidents_status_known'), 'incidents', type_='check')
    op.create_check_constraint(op.f('ck_incidents_status_known'), 'incidents', BEFORE)
