"""companies.deleted_at: companyDelete hides a company at once; the sweeper purges its rows in batches

The name's unique index leaves deleted companies out, so a deleted company's name is free at once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('companies', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_companies_deleted',
        'companies',
        ['deleted_at'],
        postgresql_where=sa.text('deleted_at IS NOT NULL'),
    )
    op.drop_index('uq_companies_lower_name', table_name='companies')
    op.create_index(
        'uq_companies_lower_name',
        'companies',
        [sa.text('lower(name)')],
        unique=True,
        postgresql_where=sa.text('deleted_at IS NULL'),
    )


def downgrade() -> None:
    # Companies waiting for their purge go now, with their rows (foreign keys and the 0005 trigger).
    op.execute("DELETE FROM companies WHERE deleted_at IS NOT NULL")
    op.drop_index('uq_companies_lower_name', table_name='companies')
    op.create_index('uq_companies_lower_name', 'companies', [sa.text('lower(name)')], unique=True)
    op.drop_index('ix_companies_deleted', table_name='companies')
    op.drop_column('companies', 'deleted_at')
