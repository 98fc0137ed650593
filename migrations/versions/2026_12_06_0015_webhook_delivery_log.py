"""webhook_delivery_log: each company's recent webhook deliveries, accepted and refused

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'webhook_delivery_log',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('company_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('integration', sa.String(length=20), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.Column('alert_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'ignored', 'replayed', 'refused')",
            name=op.f('ck_webhook_delivery_log_outcome_known'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery_log')),
    )
    op.create_index(
        'ix_webhook_delivery_log_company',
        'webhook_delivery_log',
        ['company_id', 'integration', 'at', 'id'],
    )
    op.create_index(
        'ix_webhook_delivery_log_company_at', 'webhook_delivery_log', ['company_id', 'at', 'id']
    )


def downgrade() -> None:
    op.drop_index('ix_webhook_delivery_log_company_at', table_name='webhook_delivery_log')
    op.drop_index('ix_webhook_delivery_log_company', table_name='webhook_delivery_log')
    op.drop_table('webhook_delivery_log')
