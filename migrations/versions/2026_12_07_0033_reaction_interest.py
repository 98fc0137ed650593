"""Reactions say which changes they want, so the outbox fans a change out only to them

`reactions.after_statuses` / `before_statuses` (NULL: any) filter the fan-out trigger: the escalation
notices and the assignment take only changes into ESCALATED, the did-not-hold check only changes out
of RESOLVED. Every new incident used to put a row in every reaction's inbox, and each was claimed,
read and deleted for nothing (bench/README.md, 2026-12-07).

Revision ID: 0033
Revises: 0030
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0033'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAN_OUT = """
CREATE OR REPLACE FUNCTION fan_out_incident_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reaction_inbox (reaction, change_id, company_id)
    SELECT r.name, n.id, n.company_id FROM new_rows n JOIN reactions r
      ON (r.after_statuses IS NULL OR n.after_status = ANY(r.after_statuses))
     AND (r.before_statuses IS NULL OR n.before_status = ANY(r.before_statuses));
    IF FOUND THEN
        PERFORM pg_notify('aw_events', '{"topic": "system:reactions"}');
    END IF;
    RETURN NULL;
END $$
"""
FAN_OUT_ALL = """
CREATE OR REPLACE FUNCTION fan_out_incident_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reaction_inbox (reaction, change_id, company_id)
    SELECT r.name, n.id, n.company_id FROM new_rows n CROSS JOIN reactions r;
    IF FOUND THEN
        PERFORM pg_notify('aw_events', '{"topic": "system:reactions"}');
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column('reactions', sa.Column('after_statuses', postgresql.ARRAY(sa.String(length=20)), nullable=True))
    op.add_column('reactions', sa.Column('before_statuses', postgresql.ARRAY(sa.String(length=20)), nullable=True))
    op.execute(FAN_OUT)


def downgrade() -> None:
    op.execute(FAN_OUT_ALL)
    op.drop_column('reactions', 'before_statuses')
    op.drop_column('reactions', 'after_statuses')
