"""Alert retention per company: alerts older than `alert_retention_days` are deleted in batches

The retention loop (db/retention.py) finds a company's old alerts through `ix_alerts_company_received`
(company_id, received_at, id), so no index is added; the default keeps 90 days.

Revision ID: 0036
Revises: 0033
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0036'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'companies',
        sa.Column('alert_retention_days', sa.Integer(), server_default=sa.text('90'), nullable=False),
    )
    op.create_check_constraint(
        op.f('ck_companies_alert_retention_range'), 'companies', 'alert_retention_days BETWEEN 1 AND 3650'
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_companies_alert_retention_range'), 'companies', type_='check')
    op.drop_column('companies', 'alert_retention_days')
