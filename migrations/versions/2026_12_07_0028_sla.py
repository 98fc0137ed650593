"""SLA clocks: one row of deadlines per incident (`incident_sla`, with a partial index on the next due
warning or breach) and the monitor's exactly-once records (`sla_events`). The company's policy lives
in the existing `companies.sla_policy` (JSONB, read by `domain.sla.SlaPolicy`), so no column here.

Revision ID: 0028
Revises: 0025
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0028'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.text('false'), nullable=False)


def upgrade() -> None:
    op.create_table(
        'incident_sla',
        sa.Column('incident_id', UUID, nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        _at('response_started_at', nullable=False),
        _at('resolution_started_at', nullable=False),
        _at('response_deadline'),
        _at('resolution_deadline'),
        _at('response_warn_at'),
        _at('resolution_warn_at'),
        _at('response_met_at'),
        _at('resolution_met_at'),
        sa.Column('response_left_seconds', sa.Float(), nullable=True),
        sa.Column('resolution_left_seconds', sa.Float(), nullable=True),
        _at('paused_since'),
        sa.Column('paused_seconds', sa.Float(), server_default=sa.text('0'), nullable=False),
        _flag('response_warned'),
        _flag('resolution_warned'),
        _flag('response_breached'),
        _flag('resolution_breached'),
        _at('next_due_at'),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_sla')),
    )
    op.create_index(
        'ix_incident_sla_due', 'incident_sla', ['next_due_at'], postgresql_where=sa.text('next_due_at IS NOT NULL')
    )
    op.create_index('ix_incident_sla_company', 'incident_sla', ['company_id'])

    op.create_table(
        'sla_events',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('incident_id', UUID, nullable=False),
        sa.Column('clock', sa.String(length=10), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        _at('deadline', nullable=False),
        sa.Column('level', sa.Integer(), nullable=True),
        _at('at', nullable=False),
        sa.CheckConstraint("clock IN ('response', 'resolution')", name=op.f('ck_sla_events_clock_known')),
        sa.CheckConstraint("kind IN ('warning', 'breach')", name=op.f('ck_sla_events_kind_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
        sa.UniqueConstraint('incident_id', 'clock', 'kind', 'deadline', name='uq_sla_events_once'),
    )
    op.create_index('ix_sla_events_company', 'sla_events', ['company_id'])


def downgrade() -> None:
    op.drop_index('ix_sla_events_company', table_name='sla_events')
    op.drop_table('sla_events')
    op.drop_index('ix_incident_sla_company', table_name='incident_sla')
    op.drop_index('ix_incident_sla_due', table_name='incident_sla')
    op.drop_table('incident_sla')
