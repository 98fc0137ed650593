"""correlation health: one-off maintenance windows stored as SQL NULL, quarantined companies, loop beats

A window created without a recurrence was stored as the JSON value `null`, which passes `IS NOT NULL`:
the worker then read it as a recurring window and failed on every batch, for every company. Those
rows become SQL NULL (the model now writes NULL).

`correlation_quarantine` holds the companies whose alerts made a batch fail, so the others' alerts
are correlated meanwhile; `background_loops` is where each worker process's loops say how they are,
for `/readyz` in the API processes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE maintenance_windows SET recurrence = NULL WHERE jsonb_typeof(recurrence) = 'null'")
    op.create_table(
        'correlation_quarantine',
        sa.Column('company_id', sa.UUID(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('failures', sa.Integer(), server_default=sa.text('1'), nullable=False),
        sa.Column('first_failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('retry_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('company_id', name=op.f('pk_correlation_quarantine')),
    )
    op.create_table(
        'background_loops',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('instance', sa.String(length=128), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('failures', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('beat_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'failing', 'failed_to_start', 'stopped')",
            name=op.f('ck_background_loops_state_known'),
        ),
        sa.PrimaryKeyConstraint('name', 'instance', name=op.f('pk_background_loops')),
    )


def downgrade() -> None:
    op.drop_table('background_loops')
    op.drop_table('correlation_quarantine')
