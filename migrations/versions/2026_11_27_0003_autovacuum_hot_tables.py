"""autovacuum and analyze sooner on the hot tables

`alerts`, `incidents`, `incident_events` and `webhook_deliveries` grow (and, for alerts and
incidents, are updated) thousands of rows a second. With PostgreSQL's defaults (analyze after 10%
of a table changed, vacuum after 20%) their statistics lag far behind on a young database and dead
entries pile up in the partial index the correlation worker claims from. Prepared statements keep
generic plans made from those statistics, so stale statistics mean plans that scan instead of
probing. Analysing after 2% and vacuuming after 2–5% keeps plans and indexes healthy.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 21:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTINGS = {
    "alerts": {
        "autovacuum_analyze_threshold": "1000",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_threshold": "1000",
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_insert_scale_factor": "0.05",
    },
    "incidents": {
        "autovacuum_analyze_threshold": "500",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_threshold": "1000",
        "autovacuum_vacuum_scale_factor": "0.02",
    },
    "incident_events": {
        "autovacuum_analyze_threshold": "1000",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_insert_scale_factor": "0.05",
    },
    "webhook_deliveries": {
        "autovacuum_analyze_threshold": "1000",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_scale_factor": "0.05",
    },
}


def upgrade() -> None:
    for table, options in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} SET ({', '.join(f'{k} = {v}' for k, v in options.items())})")


def downgrade() -> None:
    for table, options in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(options)})")
