"""Decisions and approvals: the latest decision per incident, and the requests for a company admin's
approval of a runbook run

Revision ID: 0025
Revises: 0026
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0025'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        'incident_decisions',
        sa.Column('incident_id', UUID, nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('action', sa.String(length=24), nullable=False),
        sa.Column('runbook_id', UUID, nullable=True),
        sa.Column('runbook_version', sa.Integer(), nullable=True),
        sa.Column('approval_required', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('priority_score', sa.Float(), nullable=False),
        sa.Column('explanation', sa.Text(), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_for_version', sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "action IN ('EXECUTE_RUNBOOK', 'ESCALATE_TO_TECHNICIAN')", name=op.f('ck_incident_decisions_action_known')
        ),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_incident_decisions_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_decisions')),
    )
    op.create_index('ix_incident_decisions_company', 'incident_decisions', ['company_id', 'decided_at'])

    op.create_table(
        'remediation_approvals',
        sa.Column('id', UUID, nullable=False),
        sa.Column('company_id', UUID, nullable=False),
        sa.Column('incident_id', UUID, nullable=True),
        sa.Column('runbook_id', UUID, nullable=False),
        sa.Column('runbook_version', sa.Integer(), nullable=False),
        sa.Column('asset_ids', postgresql.ARRAY(UUID), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('instance_ids', postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column('parameters', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('status', sa.String(length=10), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by', UUID, nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED')", name=op.f('ck_remediation_approvals_status_known')
        ),
        sa.CheckConstraint('cardinality(instance_ids) BETWEEN 1 AND 50', name=op.f('ck_remediation_approvals_instances_bounded')),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_remediation_approvals_company_id_companies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['runbook_id', 'runbook_version'],
            ['runbook_versions.runbook_id', 'runbook_versions.version'],
            name=op.f('fk_remediation_approvals_runbook_id_runbook_versions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_remediation_approvals')),
    )
    op.create_index('ix_remediation_approvals_company_requested', 'remediation_approvals', ['company_id', 'requested_at', 'id'])
    op.create_index(
        'ix_remediation_approvals_company_status', 'remediation_approvals', ['company_id', 'status', 'requested_at', 'id']
    )
    op.create_index(
        'ix_remediation_approvals_expiry', 'remediation_approvals', ['expires_at'],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        'uq_remediation_approvals_pending_incident', 'remediation_approvals', ['incident_id'], unique=True,
        postgresql_where=sa.text("status = 'PENDING' AND incident_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table('remediation_approvals')
    op.drop_table('incident_decisions')
