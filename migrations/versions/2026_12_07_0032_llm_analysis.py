"""LLM analysis: per-company switch and monthly token budget, usage, a cache, provider breakers

`incident_llm_analyses` holds the latest validated LLM answer per incident (or why there is none:
`error`), beside the rules' `incident_analyses`; `prompt` is what was sent, for admins to see.
`llm_usage` counts tokens per company and month against `companies.llm_monthly_token_budget`;
`llm_cache` keys answers by the prompt's content; `llm_breakers` (one row per provider, no tenant)
holds each provider's consecutive failures and how long its breaker stays open.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERNS = "('ALERT_STORM', 'FLAPPING', 'CYCLIC', 'PERSISTENT', 'CASCADING_FAILURE', 'ISOLATED')"


def upgrade() -> None:
    op.add_column('companies', sa.Column('llm_analysis_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column(
        'companies', sa.Column('llm_monthly_token_budget', sa.Integer(), server_default=sa.text('200000'), nullable=False)
    )
    op.create_check_constraint(op.f('ck_companies_llm_budget_range'), 'companies', 'llm_monthly_token_budget BETWEEN 0 AND 100000000')
    op.create_table(
        'incident_llm_analyses',
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=True),
        sa.Column('model', sa.String(length=100), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=True),
        sa.Column('pattern_type', sa.String(length=20), nullable=True),
        sa.Column('root_cause', sa.Text(), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('explanation', sa.Text(), nullable=True),
        sa.Column('suggested_runbook_id', sa.Uuid(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('tokens', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('prompt', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('incident_version', sa.Integer(), nullable=False),
        sa.Column('analyzed_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f'pattern_type IS NULL OR pattern_type IN {PATTERNS}', name=op.f('ck_incident_llm_analyses_pattern_known')),
        sa.CheckConstraint("source IS NULL OR source IN ('BEDROCK', 'GEMINI')", name=op.f('ck_incident_llm_analyses_source_known')),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_incident_llm_analyses_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_llm_analyses')),
    )
    op.create_table(
        'llm_usage',
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('tokens', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('calls', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_llm_usage_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('company_id', 'month', name=op.f('pk_llm_usage')),
    )
    op.create_table(
        'llm_cache',
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_llm_cache_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('company_id', 'key', name=op.f('pk_llm_cache')),
    )
    op.create_table(
        'llm_breakers',
        sa.Column('provider', sa.String(length=10), nullable=False),
        sa.Column('failures', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('open_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('provider', name=op.f('pk_llm_breakers')),
    )


def downgrade() -> None:
    op.drop_table('llm_breakers')
    op.drop_table('llm_cache')
    op.drop_table('llm_usage')
    op.drop_table('incident_llm_analyses')
    op.drop_constraint(op.f('ck_companies_llm_budget_range'), 'companies', type_='check')
    op.drop_column('companies', 'llm_monthly_token_budget')
    op.drop_column('companies', 'llm_analysis_enabled')
