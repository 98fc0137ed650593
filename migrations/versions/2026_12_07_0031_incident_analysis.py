"""Incident analysis: the latest pattern, root cause and explanation of each incident

One row per incident, replaced by each analysis (`alert_count`: the incident's count it saw, so the
sweeper re-analyses incidents whose repeats, which write no outbox row, changed the picture) (`source` says which analyser wrote it: the rules, or
an LLM whose answer passed validation). `root_incident_id` points a cascade's downstream incidents at
its root; the index answers a root's `relatedIncidents`.

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-07 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0031'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERNS = "('ALERT_STORM', 'FLAPPING', 'CYCLIC', 'PERSISTENT', 'CASCADING_FAILURE', 'ISOLATED')"


def upgrade() -> None:
    op.create_table(
        'incident_analyses',
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('pattern_type', sa.String(length=20), nullable=False),
        sa.Column('root_cause', sa.Text(), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('explanation', sa.Text(), nullable=False),
        sa.Column('source', sa.String(length=10), server_default=sa.text("'RULES'"), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=True),
        sa.Column('suggested_runbook_id', sa.Uuid(), nullable=True),
        sa.Column('root_incident_id', sa.Uuid(), nullable=True),
        sa.Column('blast_radius', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('incident_version', sa.Integer(), nullable=False),
        sa.Column('alert_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('analyzed_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f'pattern_type IN {PATTERNS}', name=op.f('ck_incident_analyses_pattern_known')),
        sa.CheckConstraint("source IN ('RULES', 'BEDROCK', 'GEMINI')", name=op.f('ck_incident_analyses_source_known')),
        sa.CheckConstraint('confidence BETWEEN 0 AND 1', name=op.f('ck_incident_analyses_confidence_range')),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_incident_analyses_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_analyses')),
    )
    op.create_index(
        'ix_incident_analyses_root', 'incident_analyses', ['root_incident_id'], unique=False,
        postgresql_where=sa.text('root_incident_id IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_incident_analyses_root', table_name='incident_analyses', postgresql_where=sa.text('root_incident_id IS NOT NULL'))
    op.drop_table('incident_analyses')
