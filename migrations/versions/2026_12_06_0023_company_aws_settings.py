"""Per-company AWS settings: an assumed role with an external id, or an access key pair

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'company_aws_settings',
        sa.Column('company_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('auth_type', sa.String(length=16), nullable=False),
        sa.Column('region', sa.String(length=32), nullable=False),
        sa.Column('role_arn', sa.String(length=2048), nullable=True),
        sa.Column('external_id_enc', sa.LargeBinary(), nullable=True),
        sa.Column('access_key_id', sa.String(length=20), nullable=True),
        sa.Column('secret_access_key_enc', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint(
            "(auth_type = 'role' AND role_arn IS NOT NULL AND external_id_enc IS NOT NULL"
            " AND access_key_id IS NULL AND secret_access_key_enc IS NULL)"
            " OR (auth_type = 'access_key' AND access_key_id IS NOT NULL AND secret_access_key_enc IS NOT NULL"
            " AND role_arn IS NULL AND external_id_enc IS NULL)",
            name=op.f('ck_company_aws_settings_one_auth_type'),
        ),
        sa.PrimaryKeyConstraint('company_id', name=op.f('pk_company_aws_settings')),
    )


def downgrade() -> None:
    op.drop_table('company_aws_settings')
