"""webhook_deliveries.content_hash: a delivery id reused for other alerts is refused, not replayed

A repeated `X-Delivery-ID` (or `alertIngest` `deliveryId`) was answered with the first delivery's
answer whatever it carried, so a sender reusing a key for new alerts lost them silently. Each keyed
delivery now stores a hash of what it carried (the tool and each alert's raw payload); a repeat with
another hash is refused with 409 `delivery_id_reused`. Rows stored before this revision have none
and are replayed as before.

The ingest statement receives deliveries as `delivery_ingest_row` values (0007), so the type gains
the field too. Nothing is ever looked up by the hash: the column keeps no planner statistics (0008).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.execute("ALTER TABLE webhook_deliveries ALTER COLUMN content_hash SET STATISTICS 0")
    op.execute("ALTER TYPE delivery_ingest_row ADD ATTRIBUTE content_hash varchar")


def downgrade() -> None:
    op.execute("ALTER TYPE delivery_ingest_row DROP ATTRIBUTE content_hash")
    op.drop_column("webhook_deliveries", "content_hash")
