"""Technician profiles and assignment

A technician has several skills (`users.skills`, the alert categories), a time zone, a maximum of
concurrent incidents and an `assignable` flag; `last_assigned_at` breaks ties fairly. The single
`users.category` is carried into `skills` (the column stays, read by older clients through the
deprecated `User.category`). `incidents.assigned_at` says when the current assignee got it; the
partial index counts each technician's open incidents without reading resolved ones.

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0029'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'users',
        sa.Column(
            'skills', postgresql.ARRAY(sa.String(length=32)), server_default=sa.text("'{}'"), nullable=False
        ),
    )
    op.add_column('users', sa.Column('timezone', sa.String(length=64), server_default=sa.text("'UTC'"), nullable=False))
    op.add_column(
        'users', sa.Column('max_concurrent_incidents', sa.Integer(), server_default=sa.text('5'), nullable=False)
    )
    op.add_column('users', sa.Column('assignable', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('users', sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f('ck_users_max_concurrent_bounded'), 'users', 'max_concurrent_incidents BETWEEN 1 AND 100'
    )
    op.execute("UPDATE users SET skills = ARRAY[category] WHERE category IS NOT NULL")
    op.add_column('incidents', sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
    # As every column of this hot table (0008): ANALYZE samples 3,000 rows, not 30,000.
    op.execute('ALTER TABLE incidents ALTER COLUMN assigned_at SET STATISTICS 10')
    op.create_index(
        'ix_incidents_assigned_open',
        'incidents',
        ['assigned_to'],
        unique=False,
        postgresql_where=sa.text("assigned_to IS NOT NULL AND status <> 'RESOLVED'"),
    )


def downgrade() -> None:
    op.drop_index(
        'ix_incidents_assigned_open',
        table_name='incidents',
        postgresql_where=sa.text("assigned_to IS NOT NULL AND status <> 'RESOLVED'"),
    )
    op.drop_column('incidents', 'assigned_at')
    op.drop_constraint(op.f('ck_users_max_concurrent_bounded'), 'users', type_='check')
    op.drop_column('users', 'last_assigned_at')
    op.drop_column('users', 'assignable')
    op.drop_column('users', 'max_concurrent_incidents')
    op.drop_column('users', 'timezone')
    op.drop_column('users', 'skills')
