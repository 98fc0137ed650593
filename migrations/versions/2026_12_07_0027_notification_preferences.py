"""Per-user email preferences for notifications

`users.notification_email_kinds` holds the notification kinds a user gets by email (NULL: every
kind, the default; an empty array: none). In-app notifications are always written. The index serves
the admins' view of emails that failed, per company.

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0027'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'users',
        sa.Column('notification_email_kinds', postgresql.ARRAY(sa.String(length=32)), nullable=True),
    )
    op.create_index(
        'ix_notifications_company_email_failed',
        'notifications',
        ['company_id', 'created_at', 'id'],
        unique=False,
        postgresql_where=sa.text("email_state = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index(
        'ix_notifications_company_email_failed',
        table_name='notifications',
        postgresql_where=sa.text("email_state = 'failed'"),
    )
    op.drop_column('users', 'notification_email_kinds')
