"""row types for the ingest statement: a batch's alerts and deliveries arrive as arrays of rows

The group-commit statement received its alerts as seventeen parallel arrays, one per column (and
its deliveries as four).
asyncpg checks every element of an array parameter against four abstract base classes before
encoding it (`_get_array_shape`), so a single-alert request cost the API process ~19 us of encoding;
as one array of `alert_ingest_row` values (a tuple per alert) it costs ~10 us, and PostgreSQL
decodes either in the same time (both measured on one connection, 3,000 batches of 28 alerts).

The types are snapshots of `db.ingest.ALERT_ROW` and `DELIVERY_ROW` at this revision; a test keeps
them equal.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = (
    ("req_key", "varchar"),
    ("id", "uuid"),
    ("company_id", "uuid"),
    ("asset_name", "varchar"),
    ("asset_ref", "varchar"),
    ("signature", "varchar"),
    ("severity", "varchar"),
    ("severity_raw", "varchar"),
    ("message", "text"),
    ("tool", "varchar"),
    ("category", "varchar"),
    ("fingerprint", "varchar"),
    ("dedup_key", "varchar"),
    ("status", "varchar"),
    ("event_time", "timestamptz"),
    ("tags", "jsonb"),
    ("raw", "jsonb"),
    ("delivery_key", "varchar"),
)
DELIVERY_FIELDS = (
    ("company_id", "uuid"),
    ("delivery_key", "varchar"),
    ("signature_hash", "varchar"),
    ("response", "jsonb"),
)


def _fields(fields: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {type_}" for name, type_ in fields)


def upgrade() -> None:
    op.execute(f"CREATE TYPE alert_ingest_row AS ({_fields(FIELDS)})")
    op.execute(f"CREATE TYPE delivery_ingest_row AS ({_fields(DELIVERY_FIELDS)})")


def downgrade() -> None:
    op.execute("DROP TYPE delivery_ingest_row")
    op.execute("DROP TYPE alert_ingest_row")
