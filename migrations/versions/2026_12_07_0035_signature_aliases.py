"""Signature folding: incidents keep every original signature, companies say which signatures are one problem

`incidents.signatures` lists the original signatures an incident's alerts carried (empty for older
rows: their `signature` is the only one) and `canonical_signature` the folded one its correlation
key is made of (`domain.signatures`). `signature_aliases` holds each company's alias groups.

Correlation now keys alerts by the canonical signature, so the incidents a new alert can still join
(open, or resolved within the longest flap window, 24 hours, so a refire still reopens them) are
re-keyed here the way their next alert will be keyed: otherwise "Disk usage high" arriving after the
upgrade would open a second incident beside the open one. Resolve messages need nothing: they follow
their fingerprint to the open incident whatever its key. The folding rules are imported from the
domain (this step runs once, at the upgrade, with the rules of that release); no company has aliases
yet, so the built-in set is all that applies.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0035'
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REKEY_BATCH = 1000


def upgrade() -> None:
    op.add_column(
        'incidents',
        sa.Column('signatures', postgresql.ARRAY(sa.String(length=255)), server_default=sa.text("'{}'"), nullable=False),
    )
    op.add_column('incidents', sa.Column('canonical_signature', sa.Text(), nullable=True))
    # A hot table: small statistics samples, as migration 0008 set for its other columns.
    op.execute(
        "ALTER TABLE incidents ALTER COLUMN signatures SET STATISTICS 10, "
        "ALTER COLUMN canonical_signature SET STATISTICS 10"
    )
    op.create_table(
        'signature_aliases',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('canonical', sa.Text(), nullable=False),
        sa.Column('signatures', postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column('problems', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_signature_aliases_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_aliases')),
    )
    op.create_index(op.f('ix_signature_aliases_company_id'), 'signature_aliases', ['company_id'], unique=False)
    _rekey_live_incidents()


def _rekey_live_incidents() -> None:
    from domain.correlation import signature_key

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, asset_id, asset_name, signature FROM incidents "
            "WHERE status <> 'RESOLVED' OR resolved_at > now() - interval '24 hours'"
        )
    ).all()
    updates = []
    for row in rows:
        key, canonical = signature_key(row.asset_id, row.asset_name, row.signature)
        updates.append({"id": row.id, "key": key, "canonical": canonical, "signature": row.signature})
    statement = sa.text(
        "UPDATE incidents SET correlation_key = :key, canonical_signature = :canonical, "
        "signatures = ARRAY[CAST(:signature AS varchar)] WHERE id = :id"
    )
    for start in range(0, len(updates), REKEY_BATCH):
        bind.execute(statement, updates[start : start + REKEY_BATCH])


def downgrade() -> None:
    # The old keys were `asset|signature` lowercased: put the live incidents back under them.
    from domain.correlation import correlation_key

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, asset_id, asset_name, signature FROM incidents "
            "WHERE canonical_signature IS NOT NULL AND "
            "(status <> 'RESOLVED' OR resolved_at > now() - interval '24 hours')"
        )
    ).all()
    updates = [
        {"id": r.id, "key": correlation_key(str(r.asset_id) if r.asset_id else r.asset_name, r.signature)}
        for r in rows
    ]
    for start in range(0, len(updates), REKEY_BATCH):
        bind.execute(sa.text("UPDATE incidents SET correlation_key = :key WHERE id = :id"), updates[start : start + REKEY_BATCH])
    op.drop_index(op.f('ix_signature_aliases_company_id'), table_name='signature_aliases')
    op.drop_table('signature_aliases')
    op.drop_column('incidents', 'canonical_signature')
    op.drop_column('incidents', 'signatures')
