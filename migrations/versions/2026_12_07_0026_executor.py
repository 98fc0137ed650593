"""The executor's sweep of remediations whose correlation window passed: a partial index on the
succeeded executions not yet judged held, so the 30 s sweep reads only those

Revision ID: 0026
Revises: 0032
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
# 0025 comes from a parallel branch of work: the merge sets this to '0025'.
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_remediation_executions_unsettled', 'remediation_executions', ['finished_at'],
        postgresql_where=sa.text("status = 'SUCCEEDED' AND held IS NULL"),
    )


def downgrade() -> None:
    op.drop_index('ix_remediation_executions_unsettled', table_name='remediation_executions')
