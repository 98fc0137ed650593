"""assets.external_id: the monitoring tools' own id for an asset, unique per company

An alert's `asset_id` was honoured only when it parsed as one of our internal UUIDs, which no tool
sends. It now matches `assets.external_id` within the alert's company.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('assets', sa.Column('external_id', sa.String(length=255), nullable=True))
    op.create_index(
        'uq_assets_company_external_id',
        'assets',
        ['company_id', 'external_id'],
        unique=True,
        postgresql_where=sa.text('external_id IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('uq_assets_company_external_id', table_name='assets')
    op.drop_column('assets', 'external_id')
