"""Signing per integration, and a grace period for rotated credentials

`companies.hmac_enabled` (one switch for every tool) becomes `signed_integrations`, the tools whose
requests must be signed: a company that had the switch on requires it on every tool, as before.
The API key and HMAC secret before a rotation are kept, with their expiry, so tools can roll over.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ingest endpoints when this revision was written (domain.alerts.Tool).
TOOLS = (
    'generic', 'alertmanager', 'grafana', 'datadog', 'cloudwatch', 'zabbix',
    'pagerduty', 'nagios', 'icinga', 'newrelic', 'splunk',
)


def upgrade() -> None:
    op.add_column(
        'companies',
        sa.Column(
            'signed_integrations',
            postgresql.ARRAY(sa.String(length=32)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    every_tool = ', '.join(f"'{t}'" for t in TOOLS)
    op.execute(f"UPDATE companies SET signed_integrations = ARRAY[{every_tool}]::varchar[] WHERE hmac_enabled")
    op.drop_column('companies', 'hmac_enabled')
    op.add_column('companies', sa.Column('previous_api_key_hash', sa.String(length=64), nullable=True))
    op.add_column('companies', sa.Column('previous_api_key_hint', sa.String(length=16), nullable=True))
    op.add_column(
        'companies', sa.Column('previous_api_key_expires_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column('companies', sa.Column('previous_hmac_secret_enc', sa.LargeBinary(), nullable=True))
    op.add_column(
        'companies', sa.Column('previous_hmac_secret_expires_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        'ix_companies_previous_api_key',
        'companies',
        ['previous_api_key_hash'],
        postgresql_where=sa.text('previous_api_key_hash IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_companies_previous_api_key', table_name='companies')
    for column in (
        'previous_hmac_secret_expires_at',
        'previous_hmac_secret_enc',
        'previous_api_key_expires_at',
        'previous_api_key_hint',
        'previous_api_key_hash',
    ):
        op.drop_column('companies', column)
    op.add_column(
        'companies',
        sa.Column('hmac_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    # One switch again: on when any integration required signing (the stricter reading).
    op.execute("UPDATE companies SET hmac_enabled = cardinality(signed_integrations) > 0")
    op.drop_column('companies', 'signed_integrations')
