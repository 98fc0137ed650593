"""vacuum the hot tables at PostgreSQL's pace again; keep analysing them after 2%

Migration 0003 made autovacuum both analyse and vacuum `alerts` and `incidents` after 2% of their
rows changed. Fresh statistics are what keeps the cached generic plans probing instead of scanning,
so the 2% analyse stays; the 2% vacuum does not earn its cost: with the embedded cluster's 5 s
naptime, a vacuum of each table (a scan of every one of its indexes) started every few seconds under
a steady flow of alerts, while the dead index entries it was meant to clear are also skipped by index
scans (kill bits) and removed on page splits (bottom-up deletion). Two full benchmark runs with
vacuums at 20% (PostgreSQL's default): Alertmanager batches 8,471-8,708 alerts/s (7,585-8,185 in
four runs at 2%), the correlation worker 7,500/s (6,881-7,959), single alerts and the 1,000,000-row
comparison unchanged within the noise.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (options at this revision, options at 0005)
OPTIONS = {
    "alerts": (
        {"autovacuum_vacuum_scale_factor": "0.2", "autovacuum_vacuum_insert_scale_factor": "0.2"},
        {"autovacuum_vacuum_scale_factor": "0.02", "autovacuum_vacuum_insert_scale_factor": "0.05"},
    ),
    "incidents": (
        {"autovacuum_vacuum_scale_factor": "0.2"},
        {"autovacuum_vacuum_scale_factor": "0.02"},
    ),
}


def _set(table: str, options: dict[str, str]) -> None:
    op.execute(f"ALTER TABLE {table} SET ({', '.join(f'{k} = {v}' for k, v in options.items())})")


def upgrade() -> None:
    for table, (new, _) in OPTIONS.items():
        _set(table, new)


def downgrade() -> None:
    for table, (_, old) in OPTIONS.items():
        _set(table, old)
