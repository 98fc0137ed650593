"""Sign-in throttling per account and source; token revocation by generation

`login_failures.source` is the client's address: five failures from one source throttle that source
alone. `users.token_generation` is carried by every token (claim `gen`); revoking tokens or
deactivating a user moves it on, so every token issued before stops verifying.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'users', sa.Column('token_generation', sa.Integer(), server_default=sa.text('0'), nullable=False)
    )
    op.add_column(
        'login_failures', sa.Column('source', sa.String(length=64), server_default=sa.text("''"), nullable=False)
    )
    op.drop_index('ix_login_failures_email_at', table_name='login_failures')
    op.create_index(
        'ix_login_failures_email_source_at', 'login_failures', ['email', 'source', 'at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_login_failures_email_source_at', table_name='login_failures')
    op.create_index('ix_login_failures_email_at', 'login_failures', ['email', 'at'], unique=False)
    op.drop_column('login_failures', 'source')
    op.drop_column('users', 'token_generation')
