"""The shared base of remediation and notifications: executions and their invocations, in-app
notifications with their email state, company remediation settings, incidents' autoRemediated

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False)


def upgrade() -> None:
    op.add_column('incidents', sa.Column('auto_remediated', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    # a hot table: every column keeps a small statistics target (0008)
    op.execute('ALTER TABLE incidents ALTER COLUMN auto_remediated SET STATISTICS 10')
    op.add_column('companies', sa.Column('auto_remediation_enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('companies', sa.Column('approval_on_critical_assets', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('companies', sa.Column('approval_expiry_minutes', sa.Integer(), server_default=sa.text('60'), nullable=False))
    op.create_check_constraint(op.f('ck_companies_approval_expiry_range'), 'companies', 'approval_expiry_minutes BETWEEN 5 AND 10080')

    op.create_table(
        'remediation_executions',
        sa.Column('id', UUID, nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('incident_id', UUID, nullable=True),
        sa.Column('runbook_id', UUID, nullable=False),
        sa.Column('runbook_version', sa.Integer(), nullable=False),
        sa.Column('approval_id', UUID, nullable=True),
        sa.Column('asset_ids', postgresql.ARRAY(UUID), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('instance_ids', postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column('parameters', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('document', sa.String(length=64), nullable=False),
        sa.Column('commands', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('health_check', sa.Text(), nullable=True),
        sa.Column('timeout_seconds', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column('phase', sa.String(length=16), server_default=sa.text("'send'"), nullable=False),
        sa.Column('command_id', sa.String(length=64), nullable=True),
        sa.Column('health_command_id', sa.String(length=64), nullable=True),
        sa.Column('simulated', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('started_by', sa.String(length=100), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('held', sa.Boolean(), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_check_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        _now('created_at'),
        _now('updated_at'),
        sa.CheckConstraint(
            "status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED')",
            name=op.f('ck_remediation_executions_status_known'),
        ),
        sa.CheckConstraint(
            "phase IN ('send', 'poll', 'health_send', 'health_poll', 'done')",
            name=op.f('ck_remediation_executions_phase_known'),
        ),
        sa.CheckConstraint('cardinality(instance_ids) BETWEEN 1 AND 50', name=op.f('ck_remediation_executions_instances_bounded')),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_remediation_executions_company_id_companies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['runbook_id', 'runbook_version'],
            ['runbook_versions.runbook_id', 'runbook_versions.version'],
            name=op.f('fk_remediation_executions_runbook_id_runbook_versions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_remediation_executions')),
        sa.UniqueConstraint('approval_id', name=op.f('uq_remediation_executions_approval_id')),
    )
    op.create_index('ix_remediation_executions_company_created', 'remediation_executions', ['company_id', 'created_at', 'id'])
    op.create_index('ix_remediation_executions_incident', 'remediation_executions', ['incident_id', 'created_at'])
    op.create_index(
        'ix_remediation_executions_due', 'remediation_executions', ['next_check_at'],
        postgresql_where=sa.text("phase <> 'done'"),
    )

    op.create_table(
        'remediation_invocations',
        sa.Column('execution_id', UUID, nullable=False),
        sa.Column('step', sa.String(length=12), nullable=False),
        sa.Column('instance_id', sa.String(length=64), nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('status_detail', sa.String(length=64), server_default=sa.text("''"), nullable=False),
        sa.Column('stdout', sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column('stderr', sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        _now('updated_at'),
        sa.CheckConstraint("step IN ('action', 'health_check')", name=op.f('ck_remediation_invocations_step_known')),
        sa.ForeignKeyConstraint(['execution_id'], ['remediation_executions.id'], name=op.f('fk_remediation_invocations_execution_id_remediation_executions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('execution_id', 'step', 'instance_id', name=op.f('pk_remediation_invocations')),
    )

    op.create_table(
        'notifications',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('user_id', UUID, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('incident_id', UUID, nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('dedup_key', sa.String(length=200), nullable=True),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('email_state', sa.String(length=10), server_default=sa.text("'none'"), nullable=False),
        sa.Column('email_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('email_error', sa.Text(), nullable=True),
        sa.Column('email_message_id', sa.String(length=200), nullable=True),
        sa.Column('email_next_at', sa.DateTime(timezone=True), nullable=True),
        _now('created_at'),
        sa.CheckConstraint(
            "email_state IN ('none', 'pending', 'sending', 'sent', 'failed')",
            name=op.f('ck_notifications_email_state_known'),
        ),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_notifications_company_id_companies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at', 'id'])
    op.create_index('ix_notifications_user_unread', 'notifications', ['user_id', 'id'], postgresql_where=sa.text('read_at IS NULL'))
    op.create_index(
        'ix_notifications_email_due', 'notifications', ['email_next_at'],
        postgresql_where=sa.text("email_state IN ('pending', 'sending')"),
    )
    op.create_index(
        'uq_notifications_user_dedup', 'notifications', ['user_id', 'dedup_key'], unique=True,
        postgresql_where=sa.text('dedup_key IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_table('notifications')
    op.drop_table('remediation_invocations')
    op.drop_table('remediation_executions')
    op.drop_constraint(op.f('ck_companies_approval_expiry_range'), 'companies')
    op.drop_column('companies', 'approval_expiry_minutes')
    op.drop_column('companies', 'approval_on_critical_assets')
    op.drop_column('companies', 'auto_remediation_enabled')
    op.drop_column('incidents', 'auto_remediated')
