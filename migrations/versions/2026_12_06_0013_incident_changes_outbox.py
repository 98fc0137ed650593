"""incident change outbox: incidents.version, incident_changes, reactions and their inboxes

Incident changes existed only as NOTIFY, lost when nobody listened. Every writer now adds a row to
`incident_changes` in the transaction of the change; a statement trigger copies each new row into the
inbox of every registered reaction and wakes the workers (one NOTIFY per statement, only when there
is a reaction), so a consumer claims its own rows with SKIP LOCKED and cannot miss one committed late.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAN_OUT = """
CREATE FUNCTION fan_out_incident_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reaction_inbox (reaction, change_id, company_id)
    SELECT r.name, n.id, n.company_id FROM new_rows n CROSS JOIN reactions r;
    IF FOUND THEN
        PERFORM pg_notify('aw_events', '{"topic": "system:reactions"}');
    END IF;
    RETURN NULL;
END $$
"""
TRIGGER = """
CREATE TRIGGER incident_changes_fan_out AFTER INSERT ON incident_changes
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fan_out_incident_changes();
"""


def upgrade() -> None:
    op.add_column('incidents', sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.execute("ALTER TABLE incidents ALTER COLUMN version SET STATISTICS 10")  # as 0008
    op.create_table(
        'incident_changes',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('before_status', sa.String(length=20), nullable=True),
        sa.Column('after_status', sa.String(length=20), nullable=False),
        sa.Column('before_severity', sa.String(length=10), nullable=True),
        sa.Column('after_severity', sa.String(length=10), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_changes')),
    )
    op.create_index('ix_incident_changes_incident', 'incident_changes', ['incident_id', 'version'])
    op.create_table(
        'reactions',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_reactions')),
    )
    op.create_table(
        'reaction_inbox',
        sa.Column('reaction', sa.String(length=64), nullable=False),
        sa.Column('change_id', sa.BigInteger(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('state', sa.String(length=10), server_default=sa.text("'pending'"), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('available_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'dead')", name=op.f('ck_reaction_inbox_state_known')),
        sa.ForeignKeyConstraint(
            ['change_id'], ['incident_changes.id'], name=op.f('fk_reaction_inbox_change_id_incident_changes'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['reaction'], ['reactions.name'], name=op.f('fk_reaction_inbox_reaction_reactions'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('reaction', 'change_id', name=op.f('pk_reaction_inbox')),
    )
    op.create_index(
        'ix_reaction_inbox_pending', 'reaction_inbox', ['reaction', 'available_at', 'change_id'],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index('ix_reaction_inbox_change', 'reaction_inbox', ['change_id'])
    op.execute(FAN_OUT)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER incident_changes_fan_out ON incident_changes")
    op.execute("DROP FUNCTION fan_out_incident_changes()")
    op.drop_table('reaction_inbox')
    op.drop_table('reactions')
    op.drop_index('ix_incident_changes_incident', table_name='incident_changes')
    op.drop_table('incident_changes')
    op.drop_column('incidents', 'version')
